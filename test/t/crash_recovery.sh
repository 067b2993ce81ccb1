#!/usr/bin/env bash
# Crash safety: a backend SIGKILLed in the middle of a large ingest_leads call makes
# PostgreSQL restart every session and recover from WAL. Afterwards no part of that batch
# is visible, the counters invariant holds, and the same batch, or the same fetch, ends
# with exactly the rows of an uninterrupted run.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-150}
: "${LEADSYNC_SERVER_LOG:?LEADSYNC_SERVER_LOG must name the server log, to see crash recovery end}"
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 7
BATCH=150000

# ready_count: how often the server has said it is ready (each crash recovery ends so).
ready_count() { grep -c 'database system is ready to accept connections' "$LEADSYNC_SERVER_LOG"; }

# kill_backend_when APPNAME SQL-CONDITION: SIGKILL the backend of APPNAME once the
# condition holds for it (polled), then wait until the server has restarted every
# session and finished crash recovery (a new "ready" line in its log).
kill_backend_when() {
  local app=$1 condition=$2 pid="" i ready
  ready=$(ready_count)
  for ((i = 0; i < 400; i++)); do
    pid=$(psql -X -A -t -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$app' AND $condition" 2>/dev/null)
    [ -n "$pid" ] && break
    sleep 0.05
  done
  [ -n "$pid" ] || return 1
  kill -KILL "$pid"
  for ((i = 0; i < 300; i++)); do
    if [ "$(ready_count)" -gt "$ready" ] && psql -X -A -t -d postgres -c "SELECT 1" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# The batch: BATCH new Meta leads, built in SQL so no huge argument crosses psql.
batch_sql="SELECT ingest_leads('meta_form', (SELECT jsonb_agg(jsonb_build_object('id', 'c' || i,
  'created_time', '2026-11-25T08:00:00+0000', 'field_data', jsonb_build_array(
  jsonb_build_object('name', 'phone_number', 'values', jsonb_build_array((8100000000 + i)::text)))))
  FROM generate_series(1, $BATCH) AS i))"

tap_create_db crash_reference || tap_abort "cannot create a database"
REFERENCE_DB=$TAP_DB
tap_sql "$batch_sql" >/dev/null

tap_create_db crash_batch || tap_abort "cannot create a database"
tap_sql "SELECT ingest_lead('knowlarity_call', '{\"uuid\": \"before\", \"customer_number\": \"8100000001\"}')" >/dev/null
PGAPPNAME=crash_victim psql -X -q -A -t -d "$TAP_DB" -c "$batch_sql" >"$TAP_TMP/victim.out" 2>&1 &
victim=$!
# Kill it once it has written for a while: well inside the call, after many inserts.
kill_backend_when crash_victim "state = 'active' AND now() - query_start > interval '1.5 seconds'"
killed=$?
wait "$victim"
tap_is "$killed $(grep -c 'server closed the connection\|terminating connection' "$TAP_TMP/victim.out")" "0 1" \
  "a backend SIGKILLed inside a $BATCH-lead ingest_leads call; the server recovered"
tap_is "$(tap_sql "SELECT count(*) FROM leads_master") $(tap_sql "SELECT count(*) FROM lead_sources_history")" "1 1" \
  "after recovery no part of the killed batch is visible, only the lead committed before it"
tap_is_empty_recount() { tap_is "$(tap_sql "SELECT count(*) FROM recount_sources()")" 0 "$1"; }
tap_is_empty_recount "after recovery the counters match the history rows (recount_sources corrects nothing)"
tap_sql "$batch_sql" >/dev/null
tap_is "$(tap_sql "SELECT count(*) FROM leads_master") $(tap_sql "SELECT total_leads_count FROM sources WHERE source_type = 'meta_form'")" \
  "$BATCH $((BATCH))" "the same batch sent again stores every lead once and counts it once"

# --------------------------------------------------------------------------------------
# The fetcher's backend killed while it ingests: the run reconnects and retries the page,
# and ends with the rows of an uninterrupted run.
# --------------------------------------------------------------------------------------
fetch_start_fake --leads-per-form 400 --calls 1 --google-leads 1 --page-size 100 --seed 9 ||
  tap_abort "cannot start the fake platforms server"
window=(--since "$(fetch_iso $((FAKE_NOW - 49 * 3600)))" --until "$(fetch_iso "$FAKE_NOW")")
tap_create_db crash_fetch_clean || tap_abort "cannot create a database"
CLEAN_DB=$TAP_DB
fetch_run clean meta "${window[@]}"
tap_create_db crash_fetch || tap_abort "cannot create a database"
# Pages 3 to 5 trickle in byte by byte, so the kill lands mid-run.
fake_fault '{"path": "/leads", "fault": "slow_bytes", "delay_ms": 1, "max_seconds": 10, "after": 2, "times": 3}'
DATABASE_URL="dbname=$TAP_DB application_name=crash_fetcher" timeout 90 "$LEADSYNC_FETCH" meta "${window[@]}" \
  >"$TAP_TMP/killed.out" 2>"$TAP_TMP/killed.err" &
fetcher=$!
# Once it has asked for the 3rd page (so 2 pages are ingested), kill its backend.
fake_wait_requests /leads 3
kill_backend_when crash_fetcher "true"
killed=$?
wait "$fetcher"
rc=$?
retried=$(grep -q 'ingest_leads: .*retrying' "$TAP_TMP/killed.err" && echo retried)
tap_is "$killed $rc $retried" "0 0 retried" \
  "the fetcher's backend SIGKILLed mid-run: the fetcher saw the lost connection, reconnected and finished"
tap_is "$(TAP_DB=$CLEAN_DB fetch_db_content | md5sum)" "$(fetch_db_content | md5sum)" \
  "it ends with exactly the rows of an uninterrupted run"
tap_is "$(tap_sql "SELECT count(*) FROM recount_sources()")" 0 "and counters that match its history rows"
