#!/usr/bin/env bash
# "A 2xx is a stored lead, whatever crashes next": a burst of webhooks from 8 concurrent
# clients while leadsync-fetch serve is SIGKILLed and restarted, then while the database
# is stopped and started again. Every webhook answered 2xx must be in the tables (or the
# inbox, resolved after the restart), none counted twice. Stops and starts the test
# server ($LEADSYNC_PGDATA); prove runs test files one at a time.
set -u
TAP_TIMEOUT=300
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"
source "$(dirname "$0")/lib/serve.sh"
tap_plan 14
BURST=$(dirname "$0")/lib/webhook_burst.py

fetch_start_fake --leads-per-form 80 --calls 2 --google-leads 2 || tap_abort "no fake platforms"
tap_create_db webhooks_crash || tap_abort "cannot create a database"
jq -r '.meta.leads | map(select(.bad == null and .form_status == "ACTIVE")) | group_by(.phone_key)
  | map(select(length == 1) | .[0].id)[0:200][]' "$FAKE_DATA" >"$TAP_TMP/meta_ids"
# A row claimed by the killed server is claimable again after its lease: with these
# settings 3 x 2 s of Graph timeouts + 2 s of waits + 10 s.
export LEADSYNC_RETRY_BUDGET_SECONDS=2
serve_start crash1 LEADSYNC_WEBHOOK_DB_CONNECTIONS=8 || tap_abort "no server"
PORT=${SERVE##*:}

acked() { wc -l <"$TAP_TMP/$1" | tr -d ' '; }
wait_acked() {  # FILE N: until N lines are acknowledged (at most 60 s)
  local i
  for ((i = 0; i < 1200; i++)); do
    [ "$(acked "$1")" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}
# The acknowledged ids of one kind as an SQL array literal.
acked_ids() { awk -v kind="$2" -v prefix="$3" '$1 == kind { printf "%s%s%s", sep, prefix, $2; sep = "," }' "$TAP_TMP/$1"; }
# Every acknowledged Google lead of FILE with its history row, once (the counts hold).
check_google() {  # FILE PHONE-PREFIX DESCRIPTION
  local ids
  ids=$(acked_ids "$1" google "burst-$2-")
  tap_is "$(tap_sql "SELECT count(DISTINCT h.external_id) || ' ' || count(*) FROM lead_sources_history h
                      JOIN sources s ON s.id = h.source_id
                      WHERE s.source_type = 'google_ads' AND h.external_id = ANY ('{$ids}'::text[])")" \
    "$(awk '$1 == "google"' "$TAP_TMP/$1" | wc -l) $(awk '$1 == "google"' "$TAP_TMP/$1" | wc -l)" \
    "$3: every Google webhook answered 2xx is stored, once"
}

# --- SIGKILL of the server mid-burst ---------------------------------------------------------
: >"$TAP_TMP/acked1"
python3 "$BURST" --url "$SERVE" --google 2000 --phone-prefix 97 --meta-ids "$TAP_TMP/meta_ids" --clients 8 \
  --google-key "$SERVE_GOOGLE_KEY" --app-secret "$SERVE_APP_SECRET" --page-id "$FETCH_META_PAGE_ID" \
  --acked "$TAP_TMP/acked1" --deadline 120 >"$TAP_TMP/burst1.out" 2>"$TAP_TMP/burst1.err" &
BURST_PID=$!
wait_acked acked1 600 || tap_diag "the burst never reached 600 answers: $(cat "$TAP_TMP/burst1.err" "$TAP_TMP/crash1.err")"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
at_kill=$(acked acked1)
sleep 0.5
serve_start crash2 LEADSYNC_LISTEN="127.0.0.1:$PORT" LEADSYNC_WEBHOOK_DB_CONNECTIONS=8 || tap_abort "no restart"
wait "$BURST_PID"
tap_is "$?" 0 "the clients finished"
total=$(($(wc -l <"$TAP_TMP/meta_ids") + 2000))
tap_ok "the server was killed mid-burst ($at_kill of $total answered) and every webhook was answered 2xx in the end" \
  test "$at_kill" -ge 600 -a "$at_kill" -lt "$total" -a "$(acked acked1)" -eq "$total"
check_google acked1 97 "after SIGKILL"
meta_ids=$(acked_ids acked1 meta "")
tap_is "$(tap_sql "SELECT count(*) FROM webhook_inbox WHERE external_id = ANY ('{$meta_ids}'::text[])")" \
  "$(awk '$1 == "meta"' "$TAP_TMP/acked1" | wc -l)" "every Meta notification answered 2xx is in the inbox"
tap_ok "and every one is resolved after the restart" \
  tap_wait_for "the inbox resolved" 60 "SELECT count(*) FROM webhook_inbox WHERE resolved_at IS NULL" 0
tap_is "$(tap_sql "SELECT count(*) FROM leads_master WHERE external_lead_id = ANY ('{$meta_ids}'::text[])")" \
  "$(awk '$1 == "meta"' "$TAP_TMP/acked1" | wc -l)" "each Meta lead notified is a lead, once"
tap_is "$(tap_sql "SELECT count(*) FROM recount_sources()")" 0 "every count equals its history rows (none counted twice)"

# --- the database stopped mid-burst ----------------------------------------------------------------
pg_as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# The server's own options (port, socket directory, preloads), to start it as it was.
eval "server_args=($(cat "$LEADSYNC_PGDATA/postmaster.opts"))"
: >"$TAP_TMP/acked2"
python3 "$BURST" --url "$SERVE" --google 1000 --phone-prefix 96 --clients 8 --google-key "$SERVE_GOOGLE_KEY" \
  --acked "$TAP_TMP/acked2" --deadline 120 >"$TAP_TMP/burst2.out" 2>"$TAP_TMP/burst2.err" &
BURST_PID=$!
wait_acked acked2 300 || tap_diag "the second burst never reached 300 answers"
pg_as_owner "$(pg_config --bindir)/pg_ctl" -D "$LEADSYNC_PGDATA" -m fast -w stop >/dev/null 2>&1
at_stop=$(acked acked2)
sleep 1
health_down=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$SERVE/healthz")
sleep 1
during=$(($(acked acked2) - at_stop))
pg_as_owner "$(pg_config --bindir)/pg_ctl" -D "$LEADSYNC_PGDATA" -w -l "${LEADSYNC_SERVER_LOG:-/dev/null}" \
  -o "${server_args[*]:3}" start >/dev/null 2>&1 || tap_abort "the database did not start again"
tap_is "$health_down" 503 "GET /healthz answers 503 while the database is down"
tap_ok "no webhook was answered 2xx while it was down (the few in flight at the stop aside: $during)" test "$during" -le 8
wait "$BURST_PID"
tap_is "$?" 0 "the clients finished after the database came back"
tap_is "$(acked acked2)" 1000 "every webhook was answered 2xx in the end"
check_google acked2 96 "after the database restart"
curl -sS "$SERVE/metrics" >"$TAP_TMP/metrics.txt"
tap_ok "the server answered 503 while the database was down" \
  grep -q '^leadsync_webhook_requests_total{route="/webhooks/google",status="503"} [1-9]' "$TAP_TMP/metrics.txt"
tap_is "$(tap_sql "SELECT total_leads_count FROM sources WHERE source_type = 'google_ads'")" 3000 \
  "google_ads counts exactly the 3000 distinct leads acknowledged, none twice"
serve_stop
