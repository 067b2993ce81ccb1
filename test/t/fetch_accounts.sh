#!/usr/bin/env bash
# Several accounts of one platform with leadsync-fetch: two Meta "pages" (here two form
# sets of the fake's page, each with a token of its own), each with its own window. Page
# B fails for a while as page A keeps succeeding, gets new leads meanwhile, then recovers:
# none of B's leads is lost, and neither window moves the other. Every run writes one
# sync_runs row, failed runs included, with no secret in it; status and history show the
# accounts.
set -u
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"
tap_plan 21

fetch_start_fake --leads-per-form 5 --calls 2 --google-leads 2 || tap_abort "no fake platforms"
tap_create_db fetch_accounts || tap_abort "cannot create a database"
mapfile -t FORMS < <(jq -r '.meta.forms[] | select(.status == "ACTIVE") | .id' "$FAKE_DATA")
[ "${#FORMS[@]}" -ge 2 ] || tap_abort "the fake has fewer than two ACTIVE forms"
# Page A and page B. The fake checks one token; B's own (the same value) shows the
# per-account variable is read; a wrong shared token shows nothing falls back to it.
export META_ACCOUNTS=page_a,page_b LEADSYNC_OVERLAP_MINUTES=0
export META_FORM_IDS_PAGE_A=${FORMS[0]} META_FORM_IDS_PAGE_B=${FORMS[1]}
export META_ACCESS_TOKEN_PAGE_A=$FETCH_META_TOKEN META_ACCESS_TOKEN_PAGE_B=$FETCH_META_TOKEN META_ACCESS_TOKEN=wrong-shared
unset META_PAGE_ID
SINCE=$(fetch_iso $((FAKE_NOW - 49 * 3600)))
window_of() { tap_sql "SELECT synced_until FROM sync_state WHERE source_type = 'meta_form' AND account = '$1'"; }
lines() { wc -l <"$TAP_TMP/$1.out" | tr -d ' '; }

fetch_run both meta --since "$SINCE"
tap_is "$FETCH_RC/$(lines both)" "0/2" "a run without --account syncs both accounts: exit 0, one summary line each"
tap_is "$(jq -sc '[.[] | [.account, .source, (.insertedNew > 0)]]' "$TAP_TMP/both.out")" \
  '[["page_a","meta_form",true],["page_b","meta_form",true]]' "each line names its account; both stored leads"
A1=$(window_of page_a)
B1=$(window_of page_b)
tap_ok "each account saved its own window" test -n "$A1" -a -n "$B1"

# Page B fails (its form answers 500), page A keeps succeeding; both get new leads (a
# second after the last window's end: with no overlap, times are compared to the second).
sleep 1.1
fake_fault "{\"path\": \"/${FORMS[1]}/leads\", \"fault\": \"status500\", \"times\": -1}"
curl -sS --fail -d "{\"form_id\": \"${FORMS[1]}\", \"count\": 3}" "$FAKE/_control/meta/leads" >"$TAP_TMP/new_b.json"
curl -sS --fail -d "{\"form_id\": \"${FORMS[0]}\", \"count\": 2}" "$FAKE/_control/meta/leads" >/dev/null
mapfile -t NEW_B < <(jq -r '.leads[].id' "$TAP_TMP/new_b.json")
sleep 1.1  # the new leads' created_time is before the next run's window end
fetch_run b_down meta
tap_is "$FETCH_RC/$(lines b_down)" "1/2" "page B failing: exit 1, and page A still ran (two summary lines)"
tap_is "$(jq -sc '[.[] | [.account, has("error")]]' "$TAP_TMP/b_down.out")" '[["page_a",false],["page_b",true]]' \
  "page A succeeded, page B's line carries its error"
tap_like "$(cat "$TAP_TMP/b_down.err")" "leadsync-fetch meta \\[page_b\\]: failed: " "stderr names the failing account"
A2=$(window_of page_a)
tap_ok "page A's window moved forward ($A1 -> $A2)" \
  test "$(tap_sql "SELECT '$A2'::timestamptz > '$A1'::timestamptz")" = t
tap_is "$(window_of page_b)" "$B1" "page B's window stayed where its last success left it"
tap_is "$(tap_sql "SELECT count(*) FROM leads_master WHERE external_lead_id IN ($(printf "'%s'," "${NEW_B[@]}" | sed 's/,$//'))")" \
  0 "page B's new leads are not in yet"

fetch_run a_only meta --account page_a
tap_is "$FETCH_RC/$(lines a_only)/$(window_of page_b)" "0/1/$B1" "--account page_a syncs A alone; B's window is untouched"
fake_reset
fetch_run b_back meta --account page_b
tap_is "$FETCH_RC/$(jq -r .insertedNew "$TAP_TMP/b_back.out")" "0/3" \
  "page B recovers: its run starts at its own window and stores its three new leads"
tap_is "$(tap_sql "SELECT count(*) FROM leads_master WHERE external_lead_id IN ($(printf "'%s'," "${NEW_B[@]}" | sed 's/,$//'))")" \
  3 "none of page B's leads was lost"
tap_is "$(jq -r .since "$TAP_TMP/b_back.out")" "$(tap_sql "SELECT to_char('$B1'::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")" \
  "(its window began at B's saved point, not A's)"

META_FORM_IDS_PAGE_B=${FORMS[0]} fetch_run same meta
tap_is "$FETCH_RC/$(grep -c 'accounts page_a and page_b would read the same leads' "$TAP_TMP/same.err")" "2/1" \
  "two accounts set to read the same forms: refused, exit 2, before any request"
fetch_run forms meta --form-id "${FORMS[0]}"
tap_is "$FETCH_RC/$(grep -c 'add --account' "$TAP_TMP/forms.err")" "2/1" "--form-id with several accounts needs --account"
fetch_run nobody meta --account page_c
tap_is "$FETCH_RC/$(grep -c 'not a configured account (configured: page_a, page_b)' "$TAP_TMP/nobody.err")" "2/1" \
  "--account of an account not configured: exit 2, naming the configured ones"

# --- the history of runs ----------------------------------------------------------------------
tap_is "$(tap_sql "SELECT string_agg(account || ':' || (error IS NOT NULL), ' ' ORDER BY id) FROM sync_runs
                    WHERE path = 'fetcher'")" "page_a:false page_b:false page_a:false page_b:true page_a:false page_b:false" \
  "every run wrote exactly one sync_runs row, the failed one with its error (the refused --account none)"
tap_is "$(tap_sql "SELECT count(*) FROM sync_runs WHERE error LIKE '%wrong-shared%' OR error LIKE '%$FETCH_META_TOKEN%'")" 0 \
  "no token in any run's error"
fetch_run history history --source meta_form --account page_b --limit 2 --json
tap_is "$(jq -c '[.[] | [.account, .path, .inserted_new, (.error != null)]]' "$TAP_TMP/history.out")" \
  '[["page_b","fetcher",3,false],["page_b","fetcher",0,true]]' \
  "leadsync-fetch history --source --account --limit --json: the newest runs of that account"
fetch_run status status --json
tap_is "$(jq -c '[.[] | select(.source_type == "meta_form") | [.account, (.last_error != null)]]' "$TAP_TMP/status.out")" \
  '[["page_a",false],["page_b",true]]' "status --json: a row per account, B's last error kept beside its recovery"
fetch_run status_text status
tap_ok "status (text) has the Account column and both accounts" \
  bash -c "grep -q 'Account' '$TAP_TMP/status_text.out' && grep -q 'page_b' '$TAP_TMP/status_text.out'"
