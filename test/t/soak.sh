#!/usr/bin/env bash
# A soak: fetchers of all three platforms in loops, and direct ingest_lead callers of
# every source, all at once for LEADSYNC_SOAK_SECONDS (60 in the test command; set it
# higher for a longer run), with phones overlapping across sources. Afterwards every
# invariant of DESIGN.md holds and recount_sources() has nothing to correct.
set -u
SOAK_SECONDS=${LEADSYNC_SOAK_SECONDS:-60}
export TAP_TIMEOUT=$((SOAK_SECONDS + 90))
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 7
FETCH_FAKE_LIFETIME=$((SOAK_SECONDS + 80))
fetch_start_fake --leads-per-form 150 --calls 300 --google-leads 300 --page-size 50 --seed 17 ||
  tap_abort "cannot start the fake platforms server"
window=(--since "$(fetch_iso $((FAKE_NOW - 49 * 3600)))" --until "$(fetch_iso "$FAKE_NOW")")
tap_create_db soak || tap_abort "cannot create a database"
tap_sql "SELECT ensure_source('Website', 'website_form', '{\"phone\": [\"$.phone\"], \"external_id\": [\"$.id\"]}')" >/dev/null

# Every phone the fake serves, for the direct callers, so they collide with the fetchers.
jq -r '[.meta.leads[], .knowlarity.calls[], .google.leads[]] | map(.phone_key | select(. != null)) | unique | .[]' \
  "$FAKE_DATA" >"$TAP_TMP/phones"
PHONES=$(wc -l <"$TAP_TMP/phones")
tap_psql -c "CREATE TABLE soak_phones (n serial PRIMARY KEY, phone text)" \
  -c "\\copy soak_phones (phone) FROM '$TAP_TMP/phones'" >/dev/null

END=$((SECONDS + SOAK_SECONDS))
fetch_loop() { # COMMAND: run the fetcher again and again until the end; count failures
  local runs=0 failures=0
  while [ "$SECONDS" -lt "$END" ]; do
    DATABASE_URL="dbname=$TAP_DB" "$LEADSYNC_FETCH" "$1" "${window[@]}" >>"$TAP_TMP/loop.$1.out" 2>>"$TAP_TMP/loop.$1.err" ||
      failures=$((failures + 1))
    runs=$((runs + 1))
  done
  echo "$runs $failures" >"$TAP_TMP/loop.$1.result"
}
LOOPS=()
for command in meta knowlarity google; do
  fetch_loop "$command" &
  LOOPS+=($!)
done

# Direct callers: single ingest_lead calls of every source, on the same phones.
cat >"$TAP_TMP/direct.pgbench" <<SQL
\\set n random(1, $PHONES)
\\set source random(1, 4)
SELECT ingest_lead(
  (ARRAY['meta_form', 'knowlarity_call', 'google_ads', 'website_form'])[:source],
  (ARRAY[
    jsonb_build_object('id', 'direct-' || :n, 'field_data', jsonb_build_array(jsonb_build_object(
      'name', 'phone', 'values', jsonb_build_array((SELECT phone FROM soak_phones WHERE n = :n))))),
    jsonb_build_object('uuid', 'direct-' || :n, 'customer_number', (SELECT phone FROM soak_phones WHERE n = :n)),
    jsonb_build_object('lead_id', 'direct-' || :n, 'user_column_data', jsonb_build_array(jsonb_build_object(
      'column_id', 'PHONE_NUMBER', 'string_value', (SELECT phone FROM soak_phones WHERE n = :n)))),
    jsonb_build_object('id', 'direct-' || :n, 'phone', '+91 ' || (SELECT phone FROM soak_phones WHERE n = :n))
  ])[:source]);
SQL
pgbench -n -c 2 -j 2 -T "$SOAK_SECONDS" -f "$TAP_TMP/direct.pgbench" "$TAP_DB" >"$TAP_TMP/pgbench.out" 2>&1
pgbench_rc=$?
wait "${LOOPS[@]}"

read -r meta_runs meta_failures <"$TAP_TMP/loop.meta.result"
read -r kn_runs kn_failures <"$TAP_TMP/loop.knowlarity.result"
read -r g_runs g_failures <"$TAP_TMP/loop.google.result"
tap_is "$meta_failures $kn_failures $g_failures" "0 0 0" \
  "${SOAK_SECONDS}s of fetcher loops: $meta_runs meta, $kn_runs knowlarity, $g_runs google runs, none failed"
direct=$(awk '/number of transactions actually processed/ {print $NF}' "$TAP_TMP/pgbench.out" | cut -d/ -f1)
tap_is "$pgbench_rc $(grep -ci 'error\|deadlock' "$TAP_TMP/pgbench.out")" "0 0" \
  "at the same time, $direct direct ingest_lead calls from 2 clients: no error, no deadlock"
tap_is "$(tap_sql "SELECT count(*) FROM recount_sources()")" 0 \
  "afterwards recount_sources() finds nothing to correct"
tap_is "$(tap_sql "SELECT count(*) - count(DISTINCT phone_number_normalized) FROM leads_master")" 0 \
  "one lead per phone"
tap_is "$(tap_sql "SELECT count(*) FROM leads_master m WHERE 1 <> (SELECT count(*) FROM lead_sources_history h
                    WHERE h.lead_id = m.id AND h.is_primary AND h.source_id = m.source_id)")" 0 \
  "every lead has exactly one primary history row, of its own source"
tap_is "$(tap_sql "SELECT count(*) FROM (SELECT lead_id, source_id FROM lead_sources_history
                    GROUP BY 1, 2 HAVING count(*) > 1) d")" 0 "at most one history row per lead and source"
tap_is "$(tap_sql "SELECT count(DISTINCT phone_number_normalized) = (SELECT count(*) FROM soak_phones)
                    FROM leads_master")" t "every phone that was sent is a lead"
