#!/usr/bin/env bash
# leadsync-fetch when the database fails: unreachable from the start, and restarted in
# the middle of a run. Each page is one idempotent ingest_leads call, so the page whose
# commit was cut off is sent again after reconnecting and nothing is lost or doubled.
# Restarts the test server ($LEADSYNC_PGDATA); prove runs test files one at a time.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-100}
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 9
# 3 active Meta forms x 12 leads at 4 a page: 9 pages in all.
fetch_start_fake --leads-per-form 12 --calls 4 --google-leads 4 --page-size 4 --seed 7 ||
  tap_abort "cannot start the fake platforms server"
SINCE=$((FAKE_NOW - 49 * 3600))
EXPECT=$(fetch_expect meta "$SINCE" "$FAKE_NOW")
window=(--since "$(fetch_iso "$SINCE")" --until "$(fetch_iso "$FAKE_NOW")")

# --------------------------------------------------------------------------------------
# Unreachable: retried within the budget, then a clear failure; nothing half-done.
# --------------------------------------------------------------------------------------
tap_create_db fetch_db_down || tap_abort "cannot create a database"
DATABASE_URL_SAVED=$TAP_DB
fetch_unreachable() {
  DATABASE_URL="host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2" timeout 60 "$LEADSYNC_FETCH" meta "${window[@]}" \
    >"$TAP_TMP/down.out" 2>"$TAP_TMP/down.err"
}
fetch_unreachable
tap_is "$? $(grep -c 'retrying' "$TAP_TMP/down.err") $(jq -r '.error | test("connection|connect")' "$TAP_TMP/down.out")" \
  "1 $((LEADSYNC_RETRY_ATTEMPTS - 1)) true" \
  "an unreachable database: each attempt retried, then exit 1 with the connection error in the summary"

# --------------------------------------------------------------------------------------
# Restarted mid-run: the fake stalls the 4th leads page for 3 s (the client times out
# after 2 s and retries); meanwhile the server restarts under the open connection.
# --------------------------------------------------------------------------------------
tap_create_db fetch_db_restart || tap_abort "cannot create a database"
fake_fault '{"path": "/leads", "fault": "stall", "seconds": 3, "after": 3, "times": 1}'
DATABASE_URL="dbname=$TAP_DB" timeout 60 "$LEADSYNC_FETCH" meta "${window[@]}" \
  >"$TAP_TMP/restart.out" 2>"$TAP_TMP/restart.err" &
fetcher=$!
fake_wait_requests /leads 4
ingested_before=$(tap_sql "SELECT count(*) FROM lead_sources_history")
# -l keeps the server writing the same log, which later tests read.
restart=("$(pg_config --bindir)/pg_ctl" -D "$LEADSYNC_PGDATA" -m fast -w restart -l "${LEADSYNC_SERVER_LOG:-/dev/null}")
if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "${restart[@]}" >/dev/null 2>&1; else "${restart[@]}" >/dev/null 2>&1; fi
restarted=$?
wait "$fetcher"
rc=$?
tap_is "$restarted $((ingested_before > 0))" "0 1" "the server restarted after the run had ingested pages"
tap_is "$rc" 0 "a run whose database restarted under it still succeeds"
tap_ok "it said it retried the page after the lost connection" grep -q 'ingest_leads.*retrying' "$TAP_TMP/restart.err"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT")" \
  "every lead of every page is stored exactly once"
tap_is "$(fetch_counts restart)" "$(TAP_DB=$DATABASE_URL_SAVED fetch_expect_counts "$EXPECT" meta_form)" \
  "the summary counts every page once, as in an uninterrupted run"
tap_is "$(tap_sql "SELECT synced_until = to_timestamp($FAKE_NOW) FROM sync_state WHERE source_type = 'meta_form'")" t \
  "and the window advanced to the end of the run"

# --------------------------------------------------------------------------------------
# Prepared statements vanish from the session (as behind a pooler in transaction mode, or
# after DEALLOCATE): the fetcher falls back to unprepared statements and loses nothing.
# --------------------------------------------------------------------------------------
tap_create_db fetch_db_deallocate || tap_abort "cannot create a database"
tap_sql "CREATE TABLE deallocated (done boolean)" "CREATE FUNCTION deallocate_once() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN
    IF NOT EXISTS (SELECT FROM public.deallocated) THEN INSERT INTO public.deallocated VALUES (true); EXECUTE 'DEALLOCATE ALL'; END IF;
    RETURN NEW;
  END \$\$" "CREATE TRIGGER deallocate_once AFTER INSERT ON leads_master FOR EACH ROW EXECUTE FUNCTION deallocate_once()" \
  >/dev/null
fetch_run deallocated meta "${window[@]}"
tap_is "$FETCH_RC/$(grep -c 'sending statements unprepared from now on' "$TAP_TMP/deallocated.err")" "0/1" \
  "the prepared statements dropped after the first page: it says so, goes on unprepared, exit 0"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT")" \
  "and every lead of every page is stored exactly once"
