#!/usr/bin/env bash
# leadsync-fetch against the fake Meta / Knowlarity / Google APIs on loopback: each sync
# exits 0, prints one JSON summary, and leaves exactly the rows the fake's dataset
# predicts (one lead per valid phone, cross-source history for shared phones, rejects
# for the bad records, counters = history rows); the requests have the shapes the
# platforms document (Meta time_created filtering in Unix seconds and paging.next,
# Knowlarity offsets with %2B-encoded times, Google OAuth refresh + GAQL + pageToken);
# form and number filters; status; a second run changes nothing; --dry-run writes nothing.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-85}
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
source "$(dirname "$0")/lib/tap.sh"
# shellcheck source-path=SCRIPTDIR source=lib/fetch.sh
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 46

# 4 Meta forms x 25 leads (one ARCHIVED), 40 calls, 30 Google leads; 10 records a page.
fetch_start_fake --leads-per-form 25 --calls 40 --google-leads 30 --page-size 10 --seed 7 ||
  tap_abort "cannot start the fake platforms server"
tap_create_db fetch_sync || tap_abort "cannot create the test database"
SINCE=$((FAKE_NOW - 49 * 3600)) # the fake's events span the 48 hours before FAKE_NOW
SINCE_ISO=$(fetch_iso "$SINCE")
UNTIL=$((FAKE_NOW + 3600)) # any end after FAKE_NOW predicts the same records
ARCHIVED_FORM=$(jq -r '.meta.forms[] | select(.status == "ARCHIVED") | .id' "$FAKE_DATA")
mapfile -t ACTIVE_FORMS < <(jq -r '.meta.forms[] | select(.status == "ACTIVE") | .id' "$FAKE_DATA")
if [ -z "$ARCHIVED_FORM" ] || [ "${#ACTIVE_FORMS[@]}" -ne 3 ]; then tap_abort "unexpected fake dataset"; fi

# --------------------------------------------------------------------------------------
# Meta: every ACTIVE form of the page, all pages.
# --------------------------------------------------------------------------------------
EXPECT_META=$(fetch_expect meta "$SINCE" "$UNTIL")
WANT=$(fetch_expect_counts "$EXPECT_META" meta_form)
fetch_run meta meta --since "$SINCE_ISO"
tap_is "$FETCH_RC" 0 "meta: the sync exits 0"
tap_ok "meta: stdout is exactly one JSON summary line with source, since, until, pages, fetched and the four counts" \
  fetch_has_summary meta
tap_is "$(fetch_counts meta)" "$WANT" "meta: the summary's pages and counts are those the fake's dataset predicts"
tap_is "$(fetch_summary meta | jq -r '.source + " " + .since')" "meta_form $SINCE_ISO" \
  "meta: the summary names the source and the --since given"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT_META")" \
  "meta: leads_master and lead_sources_history hold exactly one lead per distinct valid phone of the active forms"
tap_is "$(tap_sql "SELECT string_agg(r.raw_payload ->> 'id', ',') FROM lead_rejects r")" \
  "$(jq -r '[.records[] | select(.phone_key == null) | .id] | join(",")' <<<"$EXPECT_META")" \
  "meta: the lead without a phone field is the one reject"
tap_is "$(tap_sql "SELECT count(*) FROM lead_sources_history h JOIN leads_master m ON m.id = h.lead_id
                    WHERE h.external_id IN (SELECT jsonb_array_elements_text('$(jq -c --arg f "$ARCHIVED_FORM" \
  '[.meta.leads[] | select(.form_id == $f) | .id]' "$FAKE_DATA")'))
                       OR m.raw_payload ->> 'form_id' = '$ARCHIVED_FORM'
                       OR h.raw_payload ->> 'form_id' = '$ARCHIVED_FORM'")" 0 \
  "meta: no lead of the ARCHIVED form is in the database"
tap_is "$(fake_requests "/$ARCHIVED_FORM" | jq length)" 0 "meta: the ARCHIVED form was never requested"

# The filtering sent on every leads request: time_created, Unix seconds as JSON numbers,
# GREATER_THAN the window start and LESS_THAN its end + 1.
M_SINCE=$(fetch_epoch "$(fetch_summary meta | jq -r .since)")
M_UNTIL=$(fetch_epoch "$(fetch_summary meta | jq -r .until)")
tap_is "$(fake_requests /leads | jq -c '[.[] | .params.filtering[0] | fromjson
           | map("\(.field) \(.operator) \(.value | type) \(.value)") | join(", ")] | unique')" \
  "[\"time_created GREATER_THAN number $M_SINCE, time_created LESS_THAN number $((M_UNTIL + 1))\"]" \
  "meta: every leads request filters on time_created with the window in Unix seconds (numbers)"
# paging.next followed to the end: 25 leads at 10 a page is 3 requests per form, the
# 2nd and 3rd with the cursor of the page before.
PAGING=""
for form in "${ACTIVE_FORMS[@]}"; do
  PAGING+="$(fake_requests "/$form/leads" | jq -r '[.[] | if .params.after then "cursor" else "-" end] | join(" ")');"
done
tap_is "$PAGING" "- cursor cursor;- cursor cursor;- cursor cursor;" \
  "meta: paging.next is followed across three pages of each active form"
tap_is "$(fake_requests /leadgen_forms | jq length)" 2 \
  "meta: both pages of the form list are read (forms come two a page)"

# --------------------------------------------------------------------------------------
# Knowlarity, into the same database: shared phones become cross-source history rows.
# --------------------------------------------------------------------------------------
fake_delete /_control/requests
EXPECT_KN=$(fetch_expect knowlarity "$SINCE" "$UNTIL")
WANT=$(fetch_expect_counts "$EXPECT_KN" knowlarity_call)
fetch_run kn knowlarity --since "$SINCE_ISO"
tap_is "$FETCH_RC" 0 "knowlarity: the sync exits 0"
tap_ok "knowlarity: stdout is exactly one JSON summary line" fetch_has_summary kn
tap_is "$(fetch_counts kn)" "$WANT" \
  "knowlarity: the summary's counts are those predicted (phones shared with Meta are crossSourceHistory)"
fetch_is_lines "$(fetch_db_triples)" \
  "$(fetch_expect_triples meta_form "$EXPECT_META" knowlarity_call "$EXPECT_KN")" \
  "knowlarity: the database holds exactly the predicted leads, with a non-primary history row per phone shared with Meta"
tap_is "$(tap_sql "SELECT string_agg(r.raw_payload ->> 'uuid', ',') FROM lead_rejects r JOIN sources s
                    ON s.id = r.source_id WHERE s.source_type = 'knowlarity_call'")" \
  "$(jq -r '[.records[] | select(.phone_key == null) | .uuid] | join(",")' <<<"$EXPECT_KN")" \
  "knowlarity: the call with a 5-digit number is the one reject"
K_SINCE=$(fetch_epoch "$(fetch_summary kn | jq -r .since)")
K_UNTIL=$(fetch_epoch "$(fetch_summary kn | jq -r .until)")
ist() { TZ=Asia/Kolkata date -d "@$1" '+%Y-%m-%d %H:%M:%S+05:30'; }
tap_is "$(fake_requests /calllog | jq -r '[.[] | "\(.query | test("start_time=[0-9-]+%20[0-9%A]+%2B05%3A30&"))"
           + " \(.query | test("end_time=[0-9-]+%20[0-9%A]+%2B05%3A30&")) \(.params.start_time[0])/\(.params.end_time[0])"]
           | unique | join(";")')" \
  "true true $(ist "$K_SINCE")/$(ist "$K_UNTIL")" \
  "knowlarity: start_time and end_time are the window with an explicit +05:30 offset, its '+' sent as %2B"
tap_is "$(fake_requests /calllog | jq -r '[.[] | .params.offset[0]] | join(",")')" "0,10,20,30" \
  "knowlarity: pages are read by offset until total_count, and no further"

# --------------------------------------------------------------------------------------
# Google Ads, into the same database, through a manager account.
# --------------------------------------------------------------------------------------
fake_delete /_control/requests
EXPECT_G=$(fetch_expect google "$SINCE" "$UNTIL")
WANT=$(fetch_expect_counts "$EXPECT_G" google_ads)
GOOGLE_ADS_LOGIN_CUSTOMER_ID=111-222-3333 fetch_run google google --since "$SINCE_ISO"
tap_is "$FETCH_RC" 0 "google: the sync exits 0"
tap_ok "google: stdout is exactly one JSON summary line" fetch_has_summary google
tap_is "$(fetch_counts google)" "$WANT" "google: the summary's counts are those predicted"
fetch_is_lines "$(fetch_db_triples)" \
  "$(fetch_expect_triples meta_form "$EXPECT_META" knowlarity_call "$EXPECT_KN" google_ads "$EXPECT_G")" \
  "google: the database holds exactly the predicted leads and cross-source history of all three platforms"
tap_is "$(tap_sql "SELECT string_agg(s.source_type || ':' || r.reason, ',' ORDER BY s.source_type) FROM lead_rejects r
                    JOIN sources s ON s.id = r.source_id" | sed -E 's/:[^,]+//g')" \
  "google_ads,knowlarity_call,meta_form" "google: exactly one reject per platform (Google's is the PHONE_NUMBER n/a)"
tap_is "$(tap_sql "SELECT string_agg(s.source_type || '=' || s.total_leads_count || '/' ||
                      (SELECT count(*) FROM lead_sources_history h WHERE h.source_id = s.id), ' ' ORDER BY s.source_type)
                    FROM sources s")" \
  "google_ads=$(jq '.keys | length' <<<"$EXPECT_G")/$(jq '.keys | length' <<<"$EXPECT_G") knowlarity_call=$(jq '.keys | length' <<<"$EXPECT_KN")/$(jq '.keys | length' <<<"$EXPECT_KN") meta_form=$(jq '.keys | length' <<<"$EXPECT_META")/$(jq '.keys | length' <<<"$EXPECT_META")" \
  "every source's total_leads_count equals its history rows and its distinct phones"
tap_is "$(fake_requests /google/token | jq -r '[.[] | "\(.method) \(.body | split("&") | map(split("=")
           | {(.[0]): (.[1] | gsub("%2[Ee]"; "."))}) | add | [.grant_type, .client_id, .client_secret == "'"$FETCH_G_CLIENT_SECRET"'",
           .refresh_token == "'"$FETCH_G_REFRESH"'"] | join(" "))"] | join(";")')" \
  "POST refresh_token $FETCH_G_CLIENT_ID true true" \
  "google: one OAuth token request, a form POST with grant_type=refresh_token and the client and refresh token"
tap_is "$(fake_requests googleAds:search | jq -r '[.[] | .body | fromjson
           | "\(.query | test("FROM lead_form_submission_data WHERE")) \(.pageToken != null)"] | join(",")')" \
  "true false,true true,true true" \
  "google: each search POST has a GAQL query FROM lead_form_submission_data, pageToken on the 2nd and 3rd page"
tap_is "$(fake_requests googleAds:search | jq -r '[.[] | .headers["login-customer-id"]] | unique | join(",")')" \
  "1112223333" "google: every search sends login-customer-id (digits of GOOGLE_ADS_LOGIN_CUSTOMER_ID)"

# --------------------------------------------------------------------------------------
# status: a line per source with its counts and last successful sync.
# --------------------------------------------------------------------------------------
fetch_run status status
tap_is "$FETCH_RC" 0 "status exits 0"
STATUS_WANT=$(tap_sql "SELECT string_agg(concat_ws(' ', c.display_name, c.source_type, st.account, c.total_leads_count,
                         c.todays_leads_count, to_char(st.last_success_at, 'YYYY-MM-DD HH24:MI:SS TZ'), '-'),
                         E'\n' ORDER BY c.source_type)
                       FROM source_counts c JOIN sync_state st USING (source_type)")
tap_is "$(tail -n +2 "$TAP_TMP/status.out" | tr -s ' ')" "$STATUS_WANT" \
  "status prints one line per source and account: name, type, account, total, today, last successful sync, no error"

# --------------------------------------------------------------------------------------
# A second run over the same window changes no row: everything is a duplicate.
# --------------------------------------------------------------------------------------
fake_delete /_control/requests
BEFORE=$(fetch_lead_digest)
fetch_run meta2 meta --since "$SINCE_ISO"
tap_is "$FETCH_RC $(fetch_counts meta2)" \
  "0 $(jq -r '"pages=\(.pages) fetched=\(.fetched) filtered=0 new=0 dup=\(.valid) cross=0 rejected=\(.bad)"' <<<"$EXPECT_META")" \
  "meta again: exit 0, every lead a duplicate"
fetch_run kn2 knowlarity --since "$SINCE_ISO"
tap_is "$FETCH_RC $(fetch_counts kn2)" \
  "0 $(jq -r '"pages=\(.pages) fetched=\(.fetched) filtered=0 new=0 dup=\(.valid) cross=0 rejected=\(.bad)"' <<<"$EXPECT_KN")" \
  "knowlarity again: exit 0, every call a duplicate"
fetch_run google2 google --since "$SINCE_ISO"
tap_is "$FETCH_RC $(fetch_counts google2)" \
  "0 $(jq -r '"pages=\(.pages) fetched=\(.fetched) filtered=0 new=0 dup=\(.valid) cross=0 rejected=\(.bad)"' <<<"$EXPECT_G")" \
  "google again: exit 0, every lead a duplicate"
tap_is "$(fetch_lead_digest)" "$BEFORE" \
  "the second runs changed no row of leads_master, lead_sources_history, lead_rejects or sources"
tap_is "$(fake_requests googleAds:search | jq -r '[.[] | .headers | has("login-customer-id")] | unique | join(",")')" \
  "false" "google: no login-customer-id header when GOOGLE_ADS_LOGIN_CUSTOMER_ID is unset"

# --dry-run here: the window is not moved, nothing is written.
BEFORE=$(fetch_db_digest)
fetch_run dry1 knowlarity --dry-run --since "$SINCE_ISO" --until "$(fetch_iso $((FAKE_NOW + 7200)))"
tap_is "$FETCH_RC $(fetch_summary dry1 | jq -c '[.dryRun, .fetched > 0]')" "0 [true,true]" \
  "--dry-run on a synced source: exit 0, the summary says dryRun and counts the calls fetched"
tap_is "$(fetch_db_digest)" "$BEFORE" "--dry-run changed no lead table row and did not move sync_state"

# --------------------------------------------------------------------------------------
# --dry-run on a fresh database: fetches everything, writes nothing.
# --------------------------------------------------------------------------------------
tap_create_db fetch_dry || tap_abort "cannot create a database"
fetch_run dry2 meta --since "$SINCE_ISO" --dry-run
tap_is "$FETCH_RC $(fetch_summary dry2 | jq -c '[.dryRun, .fetched, .insertedNew]')" \
  "0 [true,$(jq .fetched <<<"$EXPECT_META"),0]" "--dry-run on a fresh database: exit 0, every lead fetched, none ingested"
tap_is "$(tap_sql "SELECT (SELECT count(*) FROM leads_master) || ' ' || (SELECT count(*) FROM lead_sources_history)
                    || ' ' || (SELECT count(*) FROM lead_rejects) || ' ' || (SELECT count(*) FROM sources)
                    || ' ' || (SELECT count(*) FROM sync_state)")" "0 0 0 0 0" \
  "--dry-run wrote no lead, history row, reject, source or sync_state row"

# --------------------------------------------------------------------------------------
# Meta forms chosen by --form-id, then by META_FORM_IDS (no META_PAGE_ID needed).
# --------------------------------------------------------------------------------------
tap_create_db fetch_form || tap_abort "cannot create a database"
fake_delete /_control/requests
ONE=${ACTIVE_FORMS[1]}
EXPECT_ONE=$(fetch_expect meta "$SINCE" "$UNTIL" "[\"$ONE\"]")
META_PAGE_ID='' fetch_run form1 meta --since "$SINCE_ISO" --form-id "$ONE"
tap_is "$FETCH_RC $(fake_requests /meta/ | jq -r '[.[] | .path] | unique | join(",")')" "0 /meta/v25.0/$ONE/leads" \
  "--form-id: exit 0, only that form's leads are requested (no form list)"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT_ONE")" \
  "--form-id: the database holds exactly that form's leads"

tap_create_db fetch_forms || tap_abort "cannot create a database"
fake_delete /_control/requests
TWO="${ACTIVE_FORMS[2]},${ACTIVE_FORMS[0]}"
EXPECT_TWO=$(fetch_expect meta "$SINCE" "$UNTIL" "[\"${ACTIVE_FORMS[2]}\", \"${ACTIVE_FORMS[0]}\"]")
META_PAGE_ID='' META_FORM_IDS=" ${TWO/,/ , } " fetch_run forms2 meta --since "$SINCE_ISO"
tap_is "$FETCH_RC $(fake_requests /meta/ | jq -r '[.[] | .path | split("/")[3]] | unique | join(",")')" \
  "0 $(tr ',' '\n' <<<"$TWO" | sort | paste -sd,)" "META_FORM_IDS: exit 0, only the listed forms are requested"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT_TWO")" \
  "META_FORM_IDS: the database holds exactly the listed forms' leads"

# --------------------------------------------------------------------------------------
# Knowlarity restricted to one of the two business numbers.
# --------------------------------------------------------------------------------------
tap_create_db fetch_numbers || tap_abort "cannot create a database"
ALLOWED='["+91 98737 62618"]'
EXPECT_NUM=$(fetch_expect knowlarity "$SINCE" "$UNTIL" null "$ALLOWED")
KNOWLARITY_ALLOWED_NUMBERS="+91 98737 62618" fetch_run num knowlarity --since "$SINCE_ISO"
tap_is "$FETCH_RC $(fetch_summary num | jq -c '[.fetched, .filtered]')" \
  "0 $(jq -c '[.fetched, .filtered]' <<<"$EXPECT_NUM")" \
  "KNOWLARITY_ALLOWED_NUMBERS: exit 0, calls to the other number are reported as filtered"
tap_is "$(jq -c '[.filtered > 0, (.keys | length) > 0]' <<<"$EXPECT_NUM")" "[true,true]" \
  "KNOWLARITY_ALLOWED_NUMBERS: the dataset has calls to both numbers, so the filter is exercised"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples knowlarity_call "$EXPECT_NUM")" \
  "KNOWLARITY_ALLOWED_NUMBERS: the database holds exactly the leads of calls to the allowed number"
tap_is "$(tap_sql "SELECT (SELECT count(*) FROM lead_sources_history
                            WHERE raw_payload ->> 'knowlarity_number' <> '+919873762618') || ' ' ||
                           (SELECT count(*) FROM lead_rejects
                            WHERE raw_payload ->> 'knowlarity_number' <> '+919873762618')")" \
  "0 0" "KNOWLARITY_ALLOWED_NUMBERS: no history row or reject of a call to another number"
