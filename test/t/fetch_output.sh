#!/usr/bin/env bash
# leadsync-fetch's progress output and memory: a progress line per page on a terminal,
# none in a CI log; and peak memory that does not grow with the number of leads, since
# one page is held at a time.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-240}  # slow under AddressSanitizer (test/sanitize.sh)
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 4
fetch_start_fake --leads-per-form 20 --calls 4 --google-leads 4 --page-size 5 --seed 3 ||
  tap_abort "cannot start the fake platforms server"
window=(--since "$(fetch_iso $((FAKE_NOW - 49 * 3600)))" --until "$(fetch_iso "$FAKE_NOW")")
pages=$(fetch_expect meta $((FAKE_NOW - 49 * 3600)) "$FAKE_NOW" | jq .pages)

tap_create_db fetch_output || tap_abort "cannot create a database"
# script(1) gives the fetcher a terminal for stderr; stdout goes to a file.
DATABASE_URL="dbname=$TAP_DB" script -qec "'$LEADSYNC_FETCH' meta ${window[*]} 2>/dev/tty >'$TAP_TMP/tty.out'" \
  /dev/null >"$TAP_TMP/tty.err"
tap_is "$(grep -c ', page [0-9]*: [0-9]* lead(s)' "$TAP_TMP/tty.err")" "$pages" \
  "on a terminal, stderr shows one progress line per page ($pages pages)"
fetch_run quiet meta "${window[@]}"
tap_is "$(grep -c ' lead(s)' "$TAP_TMP/quiet.err") $(wc -l <"$TAP_TMP/quiet.out")" "0 1" \
  "without a terminal, no page lines (a CI log gets the window and the summary only)"

# Peak memory for 1,500 and 15,000 leads, pages of 100: within 10 % of each other.
# (Not in $(...): the fake server would hold the substitution's pipe open.)
peak_kb() {
  local leads=$1
  fetch_start_fake --leads-per-form "$leads" --calls 1 --google-leads 1 --page-size 100 --seed 4 ||
    tap_abort "cannot start the fake platforms server"
  tap_create_db "fetch_memory_$leads" >/dev/null || tap_abort "cannot create a database"
  DATABASE_URL="dbname=$TAP_DB" /usr/bin/time -f '%M' -o "$TAP_TMP/peak.$leads" "$LEADSYNC_FETCH" meta \
    --since "$(fetch_iso $((FAKE_NOW - 49 * 3600)))" --until "$(fetch_iso "$FAKE_NOW")" >/dev/null 2>&1
  kill "$FAKE_PID" 2>/dev/null
  PEAK_KB=$(cat "$TAP_TMP/peak.$leads")
}
peak_kb 500
small=$PEAK_KB
peak_kb 5000
large=$PEAK_KB
tap_ok "peak memory is flat: ${small} kB for 1,500 leads, ${large} kB for 15,000 (within 10 %)" \
  test $((large * 100)) -le $((small * 110))
tap_is "$(tap_sql "SELECT count(*) >= 14000 FROM leads_master")" t "and the large run did store its leads"
