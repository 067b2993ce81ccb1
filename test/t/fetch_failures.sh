#!/usr/bin/env bash
# leadsync-fetch when things go wrong, against the fake platforms' fault injection:
# configuration errors stop it before any request (exit 2); transient faults (5xx, 429,
# Meta throttling, a stalled response, truncated JSON, Google quota) are retried and the
# run ends with every row; a page that stays broken ends the run (exit 1) naming the
# source and page, without ingesting that page or moving the saved window; credential
# errors fail at once without retries and say which secret to fix; and no token or key
# ever appears in any output or in sync_state.last_error.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-85}
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
source "$(dirname "$0")/lib/tap.sh"
# shellcheck source-path=SCRIPTDIR source=lib/fetch.sh
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 49

# 3 active Meta forms x 10 leads, 20 calls, 12 Google leads; 5 records a page.
fetch_start_fake --leads-per-form 10 --calls 20 --google-leads 12 --page-size 5 --seed 11 ||
  tap_abort "cannot start the fake platforms server"
SINCE=$((FAKE_NOW - 49 * 3600))
SINCE_ISO=$(fetch_iso "$SINCE")
UNTIL=$((FAKE_NOW + 3600))
SAVED=$((FAKE_NOW - 49 * 3600)) # a saved window end before every event of the fake
mapfile -t FORMS < <(jq -r '.meta.forms[] | select(.status == "ACTIVE") | .id' "$FAKE_DATA")
EXPECT_META=$(fetch_expect meta "$SINCE" "$UNTIL")
EXPECT_KN=$(fetch_expect knowlarity "$SINCE" "$UNTIL")
EXPECT_G=$(fetch_expect google "$SINCE" "$UNTIL")
LAST_ERRORS=$TAP_TMP/last_errors.txt
: >"$LAST_ERRORS"

# scenario NAME: a fresh database, no fault rules, an empty request log.
scenario() {
  [ -n "${TAP_DB:-}" ] && tap_sql "SELECT coalesce(last_error, '') FROM sync_state" >>"$LAST_ERRORS"
  tap_create_db "fail_$1" || tap_abort "cannot create a database"
  fake_reset || tap_abort "the fake server does not answer"
}

# retry_of FAULT [MIN-MS MAX-MS]: for the first request that got FAULT, the status of the
# next request with the same method, path, query and body, how many requests later it
# came, and whether the time in between was within [MIN-MS, MAX-MS): "200 1 true".
retry_of() {
  fake_requests | jq -r --arg f "$1" --argjson min "${2:-0}" --argjson max "${3:-1e9}" '
    . as $all | (map(.fault == $f) | index(true)) as $i
    | if $i == null then "no request got \($f)" else
        $all[$i] as $bad
        | ([$all[$i + 1:][] | select(.method == $bad.method and .path == $bad.path
                                     and .query == $bad.query and .body == $bad.body)][0]) as $next
        | if $next == null then "not sent again" else
            (($next.time - $bad.time) * 1000) as $ms
            | "\($next.status) \($next.seq - $bad.seq) \($ms >= $min and $ms < $max)" end
      end'
}

# saved_window SOURCE-TYPE: records a successful sync ending at SAVED, as an earlier run would.
saved_window() {
  tap_sql "SELECT record_sync_success('$1', to_timestamp($((SAVED - 3600))), to_timestamp($SAVED), '{}')" >/dev/null
}

# --------------------------------------------------------------------------------------
# A missing variable: exit 2 naming it, before any request or database write.
# --------------------------------------------------------------------------------------
scenario missing
FETCH_UNSET=META_ACCESS_TOKEN fetch_run miss_meta meta --since "$SINCE_ISO"
tap_is "$FETCH_RC $(grep -c 'environment variable META_ACCESS_TOKEN is not set' "$TAP_TMP/miss_meta.err")" "2 1" \
  "meta without META_ACCESS_TOKEN: exit 2, and stderr names the variable"
FETCH_UNSET="KNOWLARITY_API_KEY" fetch_run miss_kn knowlarity
tap_is "$FETCH_RC $(grep -c 'environment variable KNOWLARITY_API_KEY is not set' "$TAP_TMP/miss_kn.err")" "2 1" \
  "knowlarity without KNOWLARITY_API_KEY: exit 2, and stderr names the variable"
FETCH_UNSET="GOOGLE_OAUTH_REFRESH_TOKEN GOOGLE_ADS_CUSTOMER_ID" fetch_run miss_g google
tap_is "$FETCH_RC $(grep -cE 'environment variable (GOOGLE_OAUTH_REFRESH_TOKEN|GOOGLE_ADS_CUSTOMER_ID) is not set' \
  "$TAP_TMP/miss_g.err")" "2 2" "google without two variables: exit 2, and stderr names both"
tap_is "$(fake_requests | jq length) $(tap_sql 'SELECT count(*) FROM sync_state')" "0 0" \
  "a missing variable: no request reached the fake and nothing was written"

# --------------------------------------------------------------------------------------
# Transient faults, once: retried, and the run ends with every row.
# --------------------------------------------------------------------------------------
scenario s500
fake_fault "{\"path\": \"/${FORMS[1]}/leads\", \"fault\": \"status500\", \"after\": 1}"
fetch_run s500 meta --since "$SINCE_ISO"
tap_is "$FETCH_RC $(grep -c 'HTTP 500; retrying' "$TAP_TMP/s500.err")" "0 1" \
  "meta 500 once: exit 0, and the retry is reported on stderr"
tap_is "$(retry_of status500)" "200 1 true" "meta 500 once: the same page was requested again at once and served"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT_META")" \
  "meta 500 once: every lead is in the database"

scenario s429
fake_fault '{"path": "/calllog", "query": "offset=5", "fault": "status429", "retry_after": 1}'
WANT=$(fetch_expect_counts "$EXPECT_KN" knowlarity_call)
fetch_run s429 knowlarity --since "$SINCE_ISO"
tap_is "$FETCH_RC $(fetch_counts s429)" "0 $WANT" \
  "knowlarity 429 once: exit 0 with every call counted"
tap_is "$(retry_of status429 950)" "200 1 true" \
  "knowlarity 429 once: the page was requested again, after the Retry-After second, and served"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples knowlarity_call "$EXPECT_KN")" \
  "knowlarity 429 once: every lead is in the database"

for code in 4 80004; do
  scenario "throttle$code"
  fake_fault "{\"path\": \"/${FORMS[2]}/leads\", \"fault\": \"meta_throttle\", \"code\": $code, \"regain_minutes\": 0}"
  fetch_run "throttle$code" meta --since "$SINCE_ISO"
  tap_is "$FETCH_RC $(grep -c "Graph API error $code (throttled); retrying" "$TAP_TMP/throttle$code.err")" "0 1" \
    "meta throttling code $code (estimated_time_to_regain_access 0): exit 0 after one retry"
  tap_is "$(retry_of meta_throttle)" "200 1 true" "meta throttling code $code: the same page was requested again"
  fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT_META")" \
    "meta throttling code $code: every lead is in the database"
done

# Meta's own estimate (10 minutes) is beyond the retry budget (LEADSYNC_RETRY_BUDGET_SECONDS
# 30 here): the run fails at once, saying so, rather than hammering a throttled app.
scenario throttle_long
fake_fault "{\"path\": \"/${FORMS[0]}/leads\", \"fault\": \"meta_throttle\", \"code\": 17, \"regain_minutes\": 10, \"times\": -1}"
fetch_run throttle_long meta --since "$SINCE_ISO"
tap_is "$FETCH_RC $(grep -c 'Graph API error 17 (throttled) (gave up: waiting [0-9]* s more would pass the retry budget' \
  "$TAP_TMP/throttle_long.err") $(fake_requests "/${FORMS[0]}/leads" | jq length)" "1 1 1" \
  "meta throttling with estimated_time_to_regain_access beyond the retry budget: exit 1 at once, no retry"

scenario stall
fake_fault '{"path": "googleAds:search", "fault": "stall", "seconds": 8, "after": 1}'
WANT=$(fetch_expect_counts "$EXPECT_G" google_ads)
fetch_run stall google --since "$SINCE_ISO"
tap_is "$FETCH_RC $(fetch_counts stall)" "0 $WANT" \
  "google search stalled once past LEADSYNC_HTTP_TIMEOUT_SECONDS: exit 0 with every lead counted"
tap_is "$(retry_of stall 1900 7000)" "200 1 true" \
  "stall: the page was requested again after the 2 s timeout, not after the server gave up"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples google_ads "$EXPECT_G")" \
  "stall: every lead is in the database"

scenario malformed1
fake_fault "{\"path\": \"/${FORMS[0]}/leads\", \"fault\": \"malformed_json\", \"after\": 1}"
fetch_run malformed1 meta --since "$SINCE_ISO"
tap_is "$FETCH_RC $(grep -c 'malformed or truncated JSON; retrying' "$TAP_TMP/malformed1.err")" "0 1" \
  "meta page with truncated JSON once: exit 0 after one retry"
tap_is "$(retry_of malformed_json)" "200 1 true" "truncated JSON once: the same page was requested again"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT_META")" \
  "truncated JSON once: every lead is in the database"

scenario quota
fake_fault '{"path": "googleAds:search", "fault": "google_quota", "retry_delay": "1.5s", "after": 2}'
WANT=$(fetch_expect_counts "$EXPECT_G" google_ads)
fetch_run quota google --since "$SINCE_ISO"
tap_is "$FETCH_RC $(fetch_counts quota)" "0 $WANT" \
  "google RESOURCE_EXHAUSTED once: exit 0 with every lead counted"
tap_is "$(retry_of google_quota 1450)" "200 1 true" \
  "google RESOURCE_EXHAUSTED: retried after the retryDelay of 1.5 s (longer than LEADSYNC_RETRY_MAX_DELAY_SECONDS)"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples google_ads "$EXPECT_G")" \
  "google RESOURCE_EXHAUSTED: every lead is in the database"

# --------------------------------------------------------------------------------------
# A page broken every time: exit 1 naming source and page, that page not ingested, the
# pages before it kept, the saved window not moved.
# --------------------------------------------------------------------------------------
# ids_in_db JSON-ARRAY: how many of these external ids have a history row or a reject.
ids_in_db() {
  tap_sql "SELECT (SELECT count(*) FROM lead_sources_history WHERE external_id IN (SELECT jsonb_array_elements_text('$1')))
                + (SELECT count(*) FROM lead_rejects r WHERE coalesce(r.raw_payload ->> 'id', r.raw_payload ->> 'uuid',
                     r.raw_payload #>> '{leadFormSubmissionData,id}') IN (SELECT jsonb_array_elements_text('$1')))"
}
# window_and_error SOURCE-TYPE PATTERN: "<synced_until unchanged> <last_error matches>"
window_and_error() {
  echo "$(($(fetch_synced_until "$1") == SAVED)) $(tap_sql "SELECT count(*) FROM sync_state
                                                             WHERE source_type = '$1' AND last_error ~ '$2'")"
}

scenario malformed_always
saved_window meta_form
fake_fault "{\"path\": \"/${FORMS[1]}/leads\", \"fault\": \"malformed_json\", \"after\": 1, \"times\": -1}"
fetch_run malformed_always meta
WHAT="meta_form: form ${FORMS[1]}, page 2"
tap_is "$FETCH_RC $(grep -c "failed: $WHAT: malformed or truncated JSON (gave up after 4 attempts)" \
  "$TAP_TMP/malformed_always.err")" "1 1" "meta page with truncated JSON every time: exit 1, stderr names the form and page"
PAGE2=$(jq -c --arg f "${FORMS[1]}" '[.records[] | select(.form_id == $f) | .id][5:10]' <<<"$EXPECT_META")
BEFORE=$(jq -c --arg f "${FORMS[1]}" --arg first "${FORMS[0]}" \
  '[.records[] | select(.form_id == $f) | .id][0:5] + [.records[] | select(.form_id == $first) | .id]' <<<"$EXPECT_META")
tap_is "$(ids_in_db "$PAGE2") $(ids_in_db "$BEFORE")" "0 15" \
  "truncated JSON every time: nothing of that page was ingested; the 15 leads of the pages before it were"
tap_is "$(window_and_error meta_form "$WHAT")" "1 1" \
  "truncated JSON every time: synced_until not advanced, last_error names the page"

scenario html_always
saved_window knowlarity_call
fake_fault '{"path": "/calllog", "query": "offset=5", "fault": "html", "times": -1}'
fetch_run html_always knowlarity
WHAT="knowlarity_call: call log page 2 \\(offset 5\\)"
tap_is "$FETCH_RC $(grep -cE "failed: $WHAT: HTTP 502 \(gave up after 4 attempts\)" "$TAP_TMP/html_always.err")" \
  "1 1" "knowlarity page 2 an HTML 502 page every time: exit 1, stderr names the page"
tap_is "$(ids_in_db "$(jq -c '[.records[5:10][] | .uuid]' <<<"$EXPECT_KN")") $(ids_in_db "$(jq -c \
  '[.records[0:5][] | .uuid]' <<<"$EXPECT_KN")")" "0 5" \
  "HTML page every time: nothing of page 2 was ingested; the 5 calls of page 1 were"
tap_is "$(window_and_error knowlarity_call "$WHAT")" "1 1" \
  "HTML page every time: synced_until not advanced, last_error names the page"

scenario html200_always
saved_window knowlarity_call
fake_fault '{"path": "/calllog", "query": "offset=10", "fault": "html", "status": 200, "times": -1}'
fetch_run html200_always knowlarity
WHAT="knowlarity_call: call log page 3 \\(offset 10\\)"
tap_is "$FETCH_RC $(grep -cE "failed: $WHAT: an HTML page instead of JSON" "$TAP_TMP/html200_always.err")" "1 1" \
  "knowlarity page 3 an HTML page with status 200 every time: exit 1, stderr names the page"
tap_is "$(ids_in_db "$(jq -c '[.records[10:15][] | .uuid]' <<<"$EXPECT_KN")") $(window_and_error knowlarity_call "$WHAT")" \
  "0 1 1" "HTML 200 every time: nothing of page 3 ingested, synced_until not advanced, last_error names the page"

scenario nodata_meta
saved_window meta_form
fake_fault "{\"path\": \"/${FORMS[2]}/leads\", \"fault\": \"missing_data\", \"times\": -1}"
fetch_run nodata_meta meta
WHAT="meta_form: form ${FORMS[2]}, page 1"
tap_is "$FETCH_RC $(grep -c "failed: $WHAT: the response has no data array" "$TAP_TMP/nodata_meta.err")" "1 1" \
  "meta page without a data array every time: exit 1, stderr names the form and page"
tap_is "$(ids_in_db "$(jq -c --arg f "${FORMS[2]}" '[.records[] | select(.form_id == $f) | .id]' <<<"$EXPECT_META")") $(window_and_error meta_form "$WHAT")" \
  "0 1 1" "no data array: nothing of that form ingested, synced_until not advanced, last_error names the page"

scenario nodata_google
saved_window google_ads
fake_fault '{"path": "googleAds:search", "fault": "missing_data", "after": 1, "times": -1}'
fetch_run nodata_google google
WHAT="google_ads: search page 2"
tap_is "$FETCH_RC $(grep -c "failed: $WHAT" "$TAP_TMP/nodata_google.err")" "1 1" \
  "google page 2 without its results array every time: exit 1, stderr names the page"
tap_is "$(ids_in_db "$(jq -c '[.records[5:10][] | .id]' <<<"$EXPECT_G")") $(window_and_error google_ads "$WHAT")" \
  "0 1 1" "no results array: nothing of page 2 ingested, synced_until not advanced, last_error names the page"

# --------------------------------------------------------------------------------------
# Credentials refused: exit 1 at once, no retries, the message names what to fix.
# --------------------------------------------------------------------------------------
scenario token_expired
fake_fault '{"path": "/leadgen_forms", "fault": "meta_token_expired", "times": -1}'
fetch_run token_expired meta --since "$SINCE_ISO"
tap_is "$FETCH_RC $(grep -c 'META_ACCESS_TOKEN is expired or invalid; renew' "$TAP_TMP/token_expired.err")" "1 1" \
  "meta token expired (190): exit 1, and the message says to renew META_ACCESS_TOKEN"
tap_is "$(fake_requests | jq -c '[.[] | .fault]')" '["meta_token_expired"]' \
  "meta token expired: exactly one request, no retry"

scenario permission
fake_fault "{\"path\": \"/${FORMS[0]}/leads\", \"fault\": \"meta_permission\", \"times\": -1}"
fetch_run permission meta --since "$SINCE_ISO"
tap_is "$FETCH_RC $(grep -c 'Graph API error 200: permission denied; META_ACCESS_TOKEN needs leads_retrieval' \
  "$TAP_TMP/permission.err")" "1 1" "meta permission error (200): exit 1, and the message names the missing permission"
tap_is "$(fake_requests /leads | jq -c '[.[] | .fault]')" '["meta_permission"]' \
  "meta permission error: the leads edge was requested once, no retry"

scenario invalid_grant
EXPIRED=expired-refresh-token-0815 # a refresh token Google no longer accepts
GOOGLE_OAUTH_REFRESH_TOKEN=$EXPIRED fetch_run invalid_grant google --since "$SINCE_ISO"
tap_is "$FETCH_RC $(grep -c 'Google refused GOOGLE_OAUTH_REFRESH_TOKEN (invalid_grant' "$TAP_TMP/invalid_grant.err")" \
  "1 1" "google invalid_grant: exit 1, and the message names GOOGLE_OAUTH_REFRESH_TOKEN"
tap_is "$(fake_requests | jq -c '[.[] | "\(.path) \(.status)"]')" '["/google/token 400"]' \
  "google invalid_grant: one token request, no retry and no search"

scenario forbidden
fake_fault '{"path": "/calllog", "fault": "knowlarity_forbidden", "times": -1}'
fetch_run forbidden knowlarity --since "$SINCE_ISO"
tap_is "$FETCH_RC $(grep -c 'HTTP 403: Knowlarity refused the credentials; check KNOWLARITY_API_KEY (x-api-key) and KNOWLARITY_AUTH_TOKEN' \
  "$TAP_TMP/forbidden.err")" "1 1" "knowlarity 403: exit 1, and the message names KNOWLARITY_API_KEY and KNOWLARITY_AUTH_TOKEN"
tap_is "$(fake_requests | jq -c '[.[] | .fault]') $(tap_sql "SELECT count(*) FROM sync_state WHERE last_error ~ 'KNOWLARITY_API_KEY'")" \
  '["knowlarity_forbidden"] 1' "knowlarity 403: one request, no retry; last_error says which secrets to check"

# --------------------------------------------------------------------------------------
# No secret in any output of this file, nor in sync_state.last_error.
# --------------------------------------------------------------------------------------
tap_sql "SELECT coalesce(last_error, '') FROM sync_state" >>"$LAST_ERRORS"
leaks() { # FILE: the secrets found in it
  local secret found=""
  for secret in "${FETCH_SECRETS[@]}" "$EXPIRED"; do
    grep -qF -- "$secret" "$1" && found+="$secret "
  done
  echo "${found% }"
}
tap_is "$(grep -c 'failed: ' "$FETCH_ALL_OUTPUT") $(grep -c . "$LAST_ERRORS")" "10 10" \
  "the ten failed runs above printed their failure and recorded it in sync_state.last_error"
tap_is "$(leaks "$FETCH_ALL_OUTPUT")" "" \
  "no token, key, client secret or refresh token in the stdout or stderr of any run"
tap_is "$(leaks "$LAST_ERRORS")" "" "no token, key or secret in any sync_state.last_error"
