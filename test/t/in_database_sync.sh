#!/usr/bin/env bash
# sync_source, configure_source and the pg_cron wrappers: the fetcher's adapters run
# inside PostgreSQL against the fake platforms server. Needs a server started with
# pg_cron preloaded and cron.database_name = $LEADSYNC_CRON_DB (scripts/test.sh does it).
TAP_TIMEOUT=${TAP_TIMEOUT:-200}
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"
: "${LEADSYNC_CRON_DB:?LEADSYNC_CRON_DB must name the database pg_cron runs in}"

tap_plan 30
fetch_start_fake --page-size 10
since=$(fetch_iso $((FAKE_NOW - 49 * 3600)))
until=$(fetch_iso "$FAKE_NOW")

# configure_sql SOURCE-TYPE: the configure_source call pointing SOURCE at the fake, with
# the test credentials (settings named as leadsync-fetch's environment variables).
configure_sql() {
  local settings
  case $1 in
    meta_form) settings=$(jq -cn --arg u "$META_GRAPH_URL" --arg t "$META_ACCESS_TOKEN" --arg p "$META_PAGE_ID" \
      '{META_GRAPH_URL: $u, META_ACCESS_TOKEN: $t, META_PAGE_ID: $p}') ;;
    knowlarity_call) settings=$(jq -cn --arg u "$KNOWLARITY_BASE_URL" --arg k "$KNOWLARITY_API_KEY" \
      --arg t "$KNOWLARITY_AUTH_TOKEN" '{KNOWLARITY_BASE_URL: $u, KNOWLARITY_API_KEY: $k, KNOWLARITY_AUTH_TOKEN: $t}') ;;
    google_ads) settings=$(jq -cn --arg u "$GOOGLE_ADS_API_URL" --arg o "$GOOGLE_OAUTH_TOKEN_URL" \
      --arg c "$GOOGLE_ADS_CUSTOMER_ID" --arg i "$GOOGLE_OAUTH_CLIENT_ID" --arg s "$GOOGLE_OAUTH_CLIENT_SECRET" \
      --arg r "$GOOGLE_OAUTH_REFRESH_TOKEN" '{GOOGLE_ADS_API_URL: $u, GOOGLE_OAUTH_TOKEN_URL: $o,
        GOOGLE_ADS_CUSTOMER_ID: $c, GOOGLE_OAUTH_CLIENT_ID: $i, GOOGLE_OAUTH_CLIENT_SECRET: $s,
        GOOGLE_OAUTH_REFRESH_TOKEN: $r}') ;;
  esac
  settings=$(jq -c '. + {LEADSYNC_RETRY_BASE_SECONDS: "0.05", LEADSYNC_RETRY_MAX_DELAY_SECONDS: "0.2",
                         LEADSYNC_RETRY_ATTEMPTS: "3"}' <<<"$settings")
  echo "SELECT configure_source('$1', '$settings')"
}

# A revoked key this test stores; it is a secret too.
FETCH_SECRETS+=("$FETCH_KN_KEY-revoked")

# no_secret_in TEXT: true when none of the test credentials occurs in TEXT.
no_secret_in() {
  local secret
  for secret in "${FETCH_SECRETS[@]}"; do
    if grep -qF -- "$secret" <<<"$1"; then
      tap_diag "found a secret in: $1"
      return 1
    fi
  done
}

# names_without_secret TEXT PATTERN: TEXT matches PATTERN and holds no credential.
names_without_secret() { grep -q -- "$2" <<<"$1" && no_secret_in "$1"; }

counters() { tap_sql "SELECT string_agg(source_type || '=' || total_leads_count, ' ' ORDER BY source_type) FROM sources"; }

# ---------------------------------------------------------------------------------------
# 1-6. sync_source ingests what leadsync-fetch ingests, for the same data and window.
# ---------------------------------------------------------------------------------------
tap_create_db insync_fetcher
for command in meta knowlarity google; do fetch_run "fetcher_$command" "$command" --since "$since" --until "$until"; done
fetcher_rows=$(fetch_db_triples)
fetcher_counters=$(counters)

tap_create_db insync_backend
for source in meta_form knowlarity_call google_ads; do tap_sql "$(configure_sql "$source")" >/dev/null; done
for pair in meta:meta_form knowlarity:knowlarity_call google:google_ads; do
  command=${pair%%:*} source=${pair#*:}
  backend_summary=$(tap_sql "SELECT sync_source('$source', '$since', '$until')" 2>&1)
  tap_is "$(jq -cS . <<<"$backend_summary" 2>&1)" "$(jq -cS . "$TAP_TMP/fetcher_$command.out")" \
    "sync_source('$source') returns the same summary as leadsync-fetch $command for the same window"
done
tap_is "$(fetch_db_triples)" "$fetcher_rows" \
  "sync_source leaves exactly the leads and history rows leadsync-fetch leaves, for all three sources"
tap_is "$(counters)" "$fetcher_counters" "and the same source counters"
tap_is "$(tap_sql "SELECT synced_until = '$until'::timestamptz FROM sync_state WHERE source_type = 'meta_form'")" "t" \
  "sync_source saves the end of its window in the same sync_state as leadsync-fetch"
tap_is "$(tap_sql "SELECT string_agg(source_type || ':' || account || ':' || (error IS NULL) || ':' || fetched, ' '
                     ORDER BY source_type) FROM sync_runs WHERE path = 'in_database'")" \
  "$(for c in google knowlarity meta; do jq -r '"\(.source):default:true:\(.fetched)"' "$TAP_TMP/fetcher_$c.out"; done | paste -sd' ')" \
  "each sync_source run wrote exactly one sync_runs row (path in_database) with what it fetched"

# ---------------------------------------------------------------------------------------
# 7-8. The two paths share the saved window: either continues where the other stopped.
# ---------------------------------------------------------------------------------------
fetch_run mixed_fetch meta
tap_is "$(fetch_summary mixed_fetch | jq -r .since)" "$(fetch_iso $((FAKE_NOW - 600)))" \
  "leadsync-fetch starts where sync_source stopped, minus the 10-minute overlap"
tap_is "$(tap_sql "SELECT sync_source('meta_form')->>'since'")" \
  "$(fetch_iso $(($(fetch_epoch "$(fetch_summary mixed_fetch | jq -r .until)") - 600)))" \
  "and sync_source starts where leadsync-fetch stopped"

# ---------------------------------------------------------------------------------------
# 9-11. Cancel and statement_timeout stop a sync mid-transfer within a second.
# ---------------------------------------------------------------------------------------
fake_fault '{"path": "calllog", "fault": "stall", "seconds": 30, "times": -1}'
# No ON_ERROR_STOP here: the second statement shows the session survived the cancel.
PGAPPNAME=stalled_sync tap_bg stalled_pid psql -X -q -A -t -d "$TAP_DB" \
  -c "SELECT sync_source('knowlarity_call', now() - interval '1 day')" \
  -c "SELECT 'session still usable'" >"$TAP_TMP/cancel.out" 2>"$TAP_TMP/cancel.err"
tap_wait_for "the stalled sync" 10 "SELECT count(*) FROM pg_stat_activity
  WHERE application_name = 'stalled_sync' AND query LIKE '%sync_source%' AND state = 'active'" 1
sleep 1
cancel_start=$(date +%s%N)
tap_sql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'stalled_sync'" >/dev/null
while [ "$(tap_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stalled_sync'
              AND query LIKE '%sync_source%' AND state = 'active'")" != 0 ]; do
  [ $(($(date +%s%N) - cancel_start)) -gt 10000000000 ] && break
  sleep 0.02
done
cancel_ms=$((($(date +%s%N) - cancel_start) / 1000000))
wait "$stalled_pid"
tap_ok "pg_cancel_backend stops a sync stalled mid-transfer within a second (${cancel_ms} ms)" \
  test "$cancel_ms" -lt 1000
tap_is "$(grep -c 'canceling statement due to user request' "$TAP_TMP/cancel.err") $(grep -c 'session still usable' "$TAP_TMP/cancel.out")" \
  "1 1" "the canceled call reports the cancel and its session stays usable"
timeout_start=$(date +%s%N)
timeout_error=$(PGOPTIONS="${PGOPTIONS:-} -c statement_timeout=1000" tap_sql \
  "SELECT sync_source('knowlarity_call', now() - interval '1 day')" 2>&1)
timeout_ms=$((($(date +%s%N) - timeout_start) / 1000000))
tap_is "$(grep -c 'statement timeout' <<<"$timeout_error") $((timeout_ms < 2000))" "1 1" \
  "statement_timeout = 1s stops a stalled sync within a second of it (${timeout_ms} ms)"
fake_reset

# ---------------------------------------------------------------------------------------
# 12-16. Stored credentials: owner and superusers only; never in errors, logs,
# pg_stat_activity or job histories.
# ---------------------------------------------------------------------------------------
tap_sql "CREATE ROLE leadsync_analyst_$$ NOLOGIN;
         GRANT USAGE ON SCHEMA public TO leadsync_analyst_$$;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO leadsync_analyst_$$" >/dev/null
trap_role_cleanup() { tap_sql "DROP OWNED BY leadsync_analyst_$$; DROP ROLE leadsync_analyst_$$" >/dev/null 2>&1; }
as_analyst() { tap_psql -c "SET ROLE leadsync_analyst_$$" -c "$1"; }
tap_is "$(tap_sql "SELECT count(*) FROM source_settings") $(as_analyst "SELECT count(*) FROM source_settings")
$(as_analyst "SELECT count(*) > 0 FROM leads_master")" "3 0
t" "after GRANT SELECT ON ALL TABLES a non-owner reads leads but no stored credentials"

wrong_key=$(jq -cn --arg k "$FETCH_KN_KEY-revoked" '{KNOWLARITY_API_KEY: $k}')
tap_sql "SELECT configure_source('knowlarity_call', '$wrong_key')" >/dev/null
failed=$(tap_sql "SELECT sync_source('knowlarity_call')" 2>&1)
tap_ok "a failing sync names the credential to check and shows no secret" \
  names_without_secret "$failed" KNOWLARITY_API_KEY
tap_is "$(tap_sql "SELECT count(*) FROM sync_state WHERE source_type = 'knowlarity_call'
                     AND synced_until = '$until'::timestamptz")" 1 \
  "a failed sync leaves the saved window where it was"
tap_is "$(tap_sql "SELECT count(*) || ' ' || bool_and(error LIKE '%KNOWLARITY_API_KEY%') || ' ' ||
                          (SELECT last_error IS NOT NULL FROM sync_state WHERE source_type = 'knowlarity_call')
                     FROM sync_runs WHERE source_type = 'knowlarity_call' AND path = 'in_database' AND error IS NOT NULL")" \
  "1 true true" "and is recorded, not rolled back: one in_database run with its error, and the source's last error"

# Accounts: a second Meta account reads one form, with the default account's URL and token.
second_form=$(jq -r '[.meta.forms[] | select(.status == "ACTIVE")][1].id' "$FAKE_DATA")
tap_sql "SELECT configure_source('meta_form', '{\"META_FORM_IDS\": \"$second_form\"}', 'page_b')" >/dev/null
page_b=$(tap_sql "SELECT sync_source('meta_form', '$since', '$until', 'page_b')" 2>&1)
expected_b=$(fetch_expect meta "$(fetch_epoch "$since")" "$(fetch_epoch "$until")" "[\"$second_form\"]" | jq -c .fetched)
tap_is "$(jq -c '[.account, .fetched, .error]' <<<"$page_b" 2>&1)" "[\"page_b\",$expected_b,null]" \
  "sync_source for account page_b: its own form, with the default account's URL and token beneath its settings"
tap_is "$(tap_sql "SELECT string_agg(account || '=' || (synced_until = '$until'::timestamptz), ' ' ORDER BY account)
                     FROM sync_state WHERE source_type = 'meta_form'")" "default=false page_b=true" \
  "its window is its own: the default account's did not move"
tap_ok "an account with no settings of its own is refused, naming configure_source" \
  grep -q "account \"page_c\" is not configured" <<<"$(tap_sql "SELECT sync_source('meta_form', NULL, NULL, 'page_c')" 2>&1)"

# A session that configured a source, now idle: pg_stat_activity must not show the call.
mkfifo "$TAP_TMP/configurer"
PGAPPNAME=configurer tap_bg configurer_pid tap_psql -f "$TAP_TMP/configurer" >/dev/null 2>&1
exec 3>"$TAP_TMP/configurer"
echo "$(configure_sql knowlarity_call);" >&3
tap_wait_for "the configuring session to go idle" 10 "SELECT count(*) FROM pg_stat_activity
  WHERE application_name = 'configurer' AND state = 'idle' AND query LIKE '%configure_source%'" 1
shown=$(tap_sql "SELECT query FROM pg_stat_activity WHERE application_name = 'configurer'")
exec 3>&-
wait "$configurer_pid"
tap_ok "after configure_source, pg_stat_activity shows the call without its settings ($shown)" no_secret_in "$shown"

# ---------------------------------------------------------------------------------------
# 17-20. pg_cron: a scheduled sync runs, its success (and a failure) in job_run_details.
# ---------------------------------------------------------------------------------------
tap_is "$(tap_sql "SELECT schedule_sync('meta_form')" 2>&1 | grep -c 'shared_preload_libraries')" 1 \
  "without pg_cron, schedule_sync says how to enable it"
cron_sql() { PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$LEADSYNC_CRON_DB" "$@"; }
cron_sql -c "DROP EXTENSION IF EXISTS leadsync CASCADE" -c "CREATE EXTENSION IF NOT EXISTS pg_cron" \
  -c "CREATE EXTENSION leadsync" -c "SET leadsync.timezone = 'Asia/Kolkata'" -c "$(configure_sql meta_form)" \
  -c "SELECT configure_source('knowlarity_call', '$(jq -cn --arg u "$KNOWLARITY_BASE_URL" \
        --arg t "$KNOWLARITY_AUTH_TOKEN" --arg k "$FETCH_KN_KEY-revoked" \
        '{KNOWLARITY_BASE_URL: $u, KNOWLARITY_API_KEY: $k, KNOWLARITY_AUTH_TOKEN: $t}')')" >/dev/null
meta_job=$(cron_sql -c "SELECT schedule_sync('meta_form', '* * * * *')")
knowlarity_job=$(cron_sql -c "SELECT schedule_sync('knowlarity_call', '* * * * *')")
for ((i = 0; i < 150; i++)); do
  done_jobs=$(cron_sql -c "SELECT count(DISTINCT jobid) FROM cron.job_run_details
                             WHERE jobid IN ($meta_job, $knowlarity_job) AND status IN ('succeeded', 'failed')")
  [ "$done_jobs" = 2 ] && break
  sleep 0.5
done
tap_is "$(cron_sql -c "SELECT status FROM cron.job_run_details WHERE jobid = $meta_job ORDER BY runid LIMIT 1")" \
  "succeeded" "a sync scheduled with schedule_sync runs under pg_cron and succeeds in cron.job_run_details"
tap_ok "and its leads are in the database" test "$(cron_sql -c "SELECT count(*) FROM leads_master")" -gt 0
knowlarity_run=$(cron_sql -c "SELECT status || ': ' || return_message FROM cron.job_run_details
                               WHERE jobid = $knowlarity_job ORDER BY runid LIMIT 1")
job_history=$(cron_sql -c "SELECT command, return_message FROM cron.job_run_details" -c "SELECT command FROM cron.job")
tap_ok "a failing scheduled sync shows as failed naming the credential; no job or run shows a secret" \
  names_without_secret "$knowlarity_run
$job_history" "^failed: .*KNOWLARITY_API_KEY"
tap_is "$(cron_sql -c "SELECT count(*) > 0 FROM sync_runs WHERE source_type = 'knowlarity_call' AND path = 'in_database'
                         AND error LIKE '%KNOWLARITY_API_KEY%'")" t \
  "and its failed run is in sync_runs all the same (run_sync commits it before raising)"
account_job=$(cron_sql -c "SELECT schedule_sync('meta_form', '0 * * * *', 'page_b')")
tap_is "$(cron_sql -c "SELECT jobname || ' ' || command FROM cron.job WHERE jobid = $account_job")
$(cron_sql -c "SELECT unschedule_sync('meta_form', 'page_b')")" \
  "leadsync-sync-meta_form-page_b CALL public.run_sync('meta_form', 'page_b')
t" "schedule_sync of another account: a job of its own, named for the account; unschedule_sync removes it"
reset_job=$(cron_sql -c "SET leadsync.timezone = 'Asia/Kolkata'" -c "SELECT schedule_daily_reset()")
tap_is "$(cron_sql -c "SELECT unschedule_sync('meta_form') AND unschedule_sync('knowlarity_call')")
$(cron_sql -c "SELECT count(*) FROM cron.job WHERE jobname LIKE 'leadsync-sync-%'")
$(cron_sql -c "SELECT schedule FROM cron.job WHERE jobid = $reset_job")" "t
0
30 18 * * *" "unschedule_sync removes the jobs; schedule_daily_reset runs at Kolkata midnight, 18:30 GMT"
cron_sql -c "SELECT cron.unschedule('leadsync-daily-reset')" -c "DROP EXTENSION leadsync CASCADE" >/dev/null

# ---------------------------------------------------------------------------------------
# 21. 1,000 failing syncs in one backend: no growth of its own memory (no leaked handle).
# RssAnon, the backend's private memory: the shared buffers each recorded run touches
# (sync_runs, sync_state) are not its memory.
# ---------------------------------------------------------------------------------------
tap_sql "SELECT configure_source('knowlarity_call', '$wrong_key')" >/dev/null
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=error"  # not 1,100 warnings
# The same backend: a second statement in one psql session reads its own RSS via /proc.
read -r before after < <(tap_sql "CREATE FUNCTION pg_temp.fail_syncs(n int) RETURNS void LANGUAGE plpgsql AS \$\$
  BEGIN
    FOR i IN 1..n LOOP
      PERFORM sync_source('knowlarity_call', now() - interval '1 hour');
    END LOOP;
  END \$\$;
  CREATE FUNCTION pg_temp.rss_kb() RETURNS int LANGUAGE sql AS
    \$\$ SELECT (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'RssAnon:\\s+(\\d+)'))[1]::int \$\$;
  SELECT pg_temp.fail_syncs(100);
  CREATE TEMP TABLE rss AS SELECT pg_temp.rss_kb() AS before;
  SELECT pg_temp.fail_syncs(1000);
  SELECT before || ' ' || pg_temp.rss_kb() FROM rss;" | tail -n 1)
tap_ok "1,000 failing syncs in one backend grow its private memory by less than 1 MB ($before kB -> $after kB)" \
  test "$((after - before))" -lt 1024

# ---------------------------------------------------------------------------------------
# 22. The server log never saw a credential.
# ---------------------------------------------------------------------------------------
tap_ok "no run in sync_runs holds a credential (1,100 failed runs among them)" \
  no_secret_in "$(tap_sql "SELECT string_agg(concat_ws(' ', account, error), E'\n') FROM sync_runs")"
if [ -n "${LEADSYNC_SERVER_LOG:-}" ] && [ -r "$LEADSYNC_SERVER_LOG" ]; then
  tap_ok "the server log holds none of the stored credentials" no_secret_in "$(cat "$LEADSYNC_SERVER_LOG")"
else
  tap_skip "the server log holds none of the stored credentials" "LEADSYNC_SERVER_LOG is not readable"
fi
trap_role_cleanup
