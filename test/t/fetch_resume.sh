#!/usr/bin/env bash
# leadsync-fetch's saved window: the first run looks back 24 hours (LEADSYNC_FIRST_LOOKBACK_HOURS),
# later runs start at the saved end minus LEADSYNC_OVERLAP_MINUTES (10); a run that fails
# mid-way, or is killed with SIGKILL, keeps the pages it ingested but leaves the saved end
# where it was, and running again ends with exactly the rows and counts of one
# uninterrupted run (the overlap makes the replay free).
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-85}
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
source "$(dirname "$0")/lib/tap.sh"
# shellcheck source-path=SCRIPTDIR source=lib/fetch.sh
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 23

# 3 active Meta forms x 12 leads at 4 a page: 3 pages a form.
fetch_start_fake --leads-per-form 12 --calls 4 --google-leads 4 --page-size 4 --seed 5 ||
  tap_abort "cannot start the fake platforms server"
mapfile -t FORMS < <(jq -r '.meta.forms[] | select(.status == "ACTIVE") | .id' "$FAKE_DATA")
SAVED=$((FAKE_NOW - 49 * 3600)) # a saved window end before every event of the fake
ALL_META=$(fetch_expect meta "$SAVED" $((FAKE_NOW + 3600)))

# same_rows DB-A DB-B DESCRIPTION: the lead tables of both databases have the same content
# (phones, names, sources, external ids, is_primary, payloads, rejects, counters).
same_rows() {
  local a b
  a=$(TAP_DB=$1 fetch_db_content)
  b=$(TAP_DB=$2 fetch_db_content)
  if [ -n "$a" ] && [ "$(md5sum <<<"$a")" == "$(md5sum <<<"$b")" ]; then
    tap_pass "$3"
  else
    tap_fail "$3"
    tap_diag "$(diff <(echo "$b") <(echo "$a") | head -n 20)"
  fi
}
# seed_window: the current database as after a successful meta run ending at SAVED.
seed_window() {
  tap_sql "SELECT record_sync_success('meta_form', to_timestamp($((SAVED - 3600))), to_timestamp($SAVED), '{}')" \
    >/dev/null
}
summary_epoch() { fetch_epoch "$(fetch_summary "$1" | jq -r ".$2")"; }
# near A B: "yes" when the two Unix times are at most a minute apart, else the difference.
near() { local d=$(($1 - $2)); if [ "${d#-}" -le 60 ]; then echo yes; else echo "$d s off"; fi; }

# --------------------------------------------------------------------------------------
# No saved state: 24 hours back. Then: the saved end minus the overlap.
# --------------------------------------------------------------------------------------
tap_create_db resume_first || tap_abort "cannot create a database"
STARTED=$(date +%s)
fetch_run first meta
SINCE=$(summary_epoch first since)
UNTIL=$(summary_epoch first until)
tap_is "$FETCH_RC $(near "$SINCE" $((STARTED - 86400))) $(near "$UNTIL" "$STARTED")" "0 yes yes" \
  "first run without saved state: exit 0, the window is the last 24 hours (since = now - 24h within a minute)"
EXPECT=$(fetch_expect meta "$SINCE" "$UNTIL")
tap_is "$(fetch_counts first) $(jq '.fetched < '"$(jq .fetched <<<"$ALL_META")" <<<"$EXPECT")" \
  "$(jq -r '"pages=\(.pages) fetched=\(.fetched) filtered=0 new=\(.keys | length) dup=\(.valid - (.keys | length)) cross=0 rejected=\(.bad)"' \
    <<<"$EXPECT") true" "first run: exactly the leads of the last 24 hours were fetched, not the older ones"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT")" \
  "first run: the database holds exactly the leads created in the window"
tap_is "$(fetch_synced_until meta_form)" "$UNTIL" "first run: sync_state.synced_until is the window's end"

fetch_run second meta
tap_is "$FETCH_RC $(summary_epoch second since)" "0 $((UNTIL - 600))" \
  "the next run starts at the saved end minus 10 minutes"
SAVED2=$(fetch_synced_until meta_form)
tap_is "$SAVED2" "$(summary_epoch second until)" "the next run moved synced_until to its own end"
LEADSYNC_OVERLAP_MINUTES=45 fetch_run third meta
tap_is "$FETCH_RC $(summary_epoch third since)" "0 $((SAVED2 - 2700))" \
  "LEADSYNC_OVERLAP_MINUTES=45: the run starts at the saved end minus 45 minutes"

tap_create_db resume_lookback || tap_abort "cannot create a database"
STARTED=$(date +%s)
LEADSYNC_FIRST_LOOKBACK_HOURS=3 fetch_run lookback meta
tap_is "$FETCH_RC $(near "$(summary_epoch lookback since)" $((STARTED - 3 * 3600)))" "0 yes" \
  "LEADSYNC_FIRST_LOOKBACK_HOURS=3: a first run looks back 3 hours"

# --------------------------------------------------------------------------------------
# The reference: one uninterrupted run from a saved window older than every lead.
# --------------------------------------------------------------------------------------
tap_create_db resume_clean || tap_abort "cannot create a database"
CLEAN_DB=$TAP_DB
seed_window
WANT=$(fetch_expect_counts "$ALL_META" meta_form)
fetch_run clean meta
tap_is "$FETCH_RC $(fetch_counts clean)" "0 $WANT" "uninterrupted run from an old saved window: exit 0, every lead fetched"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$ALL_META")" \
  "uninterrupted run: the database holds exactly the leads of the active forms"

# --------------------------------------------------------------------------------------
# A run failing on page 3 of the second form, every time.
# --------------------------------------------------------------------------------------
tap_create_db resume_failed || tap_abort "cannot create a database"
FAILED_DB=$TAP_DB
seed_window
fake_reset
fake_fault "{\"path\": \"/${FORMS[1]}/leads\", \"fault\": \"status500\", \"after\": 2, \"times\": -1}"
fetch_run failed meta
tap_is "$FETCH_RC $(grep -c "failed: meta_form: form ${FORMS[1]}, page 3: HTTP 500 (gave up after 4 attempts)" \
  "$TAP_TMP/failed.err")" "1 1" "a run with page 3 of a form failing every time exits 1 naming that page"
tap_is "$(fetch_synced_until meta_form)" "$SAVED" "the failed run left synced_until where it was"
PARTIAL=$(fetch_expect meta "$SAVED" $((FAKE_NOW + 3600)) "[\"${FORMS[0]}\"]")
PARTIAL=$(jq -c --argjson more "$(fetch_expect meta "$SAVED" $((FAKE_NOW + 3600)) "[\"${FORMS[1]}\"]")" \
  '.keys as $k | .keys += (($more.records[0:8] | map(.phone_key | select(. != null))) - $k)' <<<"$PARTIAL")
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$PARTIAL")" \
  "the failed run kept what it ingested: the first form, and pages 1 and 2 of the failing one"
tap_is "$(fetch_summary failed | jq -r '"\(.insertedNew) \(.pages)"')" \
  "$(tap_sql "SELECT count(*) FROM leads_master") $((3 + 2))" \
  "the failed run's summary counts the pages it ingested before failing, not zeros"
fake_reset
fetch_run failed_again meta
tap_is "$FETCH_RC $(summary_epoch failed_again since)" "0 $((SAVED - 600))" \
  "run again without the fault: exit 0, from the same saved window"
tap_is "$(fetch_synced_until meta_form)" "$(summary_epoch failed_again until)" \
  "run again: synced_until now moved to the end of its window"
same_rows "$FAILED_DB" "$CLEAN_DB" \
  "failed, then run again: the same leads, history, rejects and counts as the uninterrupted run"

# --------------------------------------------------------------------------------------
# A run killed with SIGKILL while it waits for page 2 of the third form.
# --------------------------------------------------------------------------------------
tap_create_db resume_killed || tap_abort "cannot create a database"
KILLED_DB=$TAP_DB
seed_window
fake_reset
fake_fault "{\"path\": \"/${FORMS[2]}/leads\", \"fault\": \"stall\", \"seconds\": 40, \"after\": 1}"
DATABASE_URL="dbname=$TAP_DB" LEADSYNC_HTTP_TIMEOUT_SECONDS=60 \
  "$LEADSYNC_FETCH" meta >"$TAP_TMP/killed.out" 2>"$TAP_TMP/killed.err" &
KILLED_PID=$!
fake_wait_requests "" 1 '.fault == "stall"'
sleep 0.2 # it is waiting for the stalled page now
kill -0 "$KILLED_PID" 2>/dev/null
ALIVE=$?
kill -9 "$KILLED_PID" 2>/dev/null
wait "$KILLED_PID" 2>/dev/null
tap_is "$ALIVE $?" "0 137" "the fetcher was still running, waiting for the stalled page, when it was killed with SIGKILL"
cat "$TAP_TMP/killed.out" "$TAP_TMP/killed.err" >>"$FETCH_ALL_OUTPUT"
tap_is "$(fetch_synced_until meta_form)" "$SAVED" "the killed run left synced_until where it was"
PARTIAL=$(fetch_expect meta "$SAVED" $((FAKE_NOW + 3600)) "[\"${FORMS[0]}\", \"${FORMS[1]}\"]")
PARTIAL=$(jq -c --argjson more "$(fetch_expect meta "$SAVED" $((FAKE_NOW + 3600)) "[\"${FORMS[2]}\"]")" \
  '.keys as $k | .keys += (($more.records[0:4] | map(.phone_key | select(. != null))) - $k)' <<<"$PARTIAL")
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$PARTIAL")" \
  "the killed run kept the pages it ingested: two forms, and page 1 of the third"
fake_reset
fetch_run killed_again meta
tap_is "$FETCH_RC $(summary_epoch killed_again since)" "0 $((SAVED - 600))" \
  "run again after the kill: exit 0, from the same saved window"
same_rows "$KILLED_DB" "$CLEAN_DB" \
  "killed, then run again: the same leads, history, rejects and counts as the uninterrupted run"
tap_is "$(fetch_synced_until meta_form)" "$(summary_epoch killed_again until)" \
  "run again after the kill: synced_until moved to the end of its window"
