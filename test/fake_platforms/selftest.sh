#!/usr/bin/env bash
# Self-test of fake_platforms.py with curl and jq: every endpoint, pagination to the end,
# filtering, auth failures, every fault, the control API, determinism, SIGTERM and
# --max-lifetime. Prints TAP-like lines; exits non-zero when a check fails.
#   bash test/fake_platforms/selftest.sh
# shellcheck disable=SC2154  # PORT_<name>/PID_<name> are set by start_fake via eval
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
FAKE="$HERE/fake_platforms.py"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fake-selftest.XXXXXX")
export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1  # never send 127.0.0.1 through a proxy
PIDS=()
N=0
FAILED=0

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() { N=$((N + 1)); echo "ok $N - $1"; }
notok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"; }
# is ACTUAL EXPECTED NAME
is() {
  if [ "$1" == "$2" ]; then ok "$3"; else notok "$3"; echo "#   got:      $1"; echo "#   expected: $2"; fi
}
# check NAME COMMAND...: passes when the command succeeds
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else notok "$name"; fi
}

# start_fake NAME ARGS...: starts a server, sets PORT_<NAME>, PID_<NAME>
start_fake() {
  local name=$1; shift
  rm -f "$TMP/$name.port"
  "${PYTHON:-python3}" "$FAKE" --port 0 --port-file "$TMP/$name.port" "$@" >/dev/null 2>"$TMP/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do [ -s "$TMP/$name.port" ] && break; sleep 0.05; done
  eval "PORT_$name=$(cat "$TMP/$name.port")"
  eval "PID_$name=$pid"
}

# ---------------------------------------------------------------------------------------
start_fake main --leads-per-form 7 --calls 13 --google-leads 11 --page-size 3 --seed 42
B="http://127.0.0.1:$PORT_main"
C=(curl -s --max-time 20)
"${C[@]}" "$B/_control/data" >"$TMP/data.json"
NOW=$(jq .now "$TMP/data.json")

is "$("${C[@]}" "$B/_control/health" | jq -r .ok)" true "health answers"
is "$(ss -ltnH "sport = :$PORT_main" | awk '{print $4}')" "127.0.0.1:$PORT_main" "listens on 127.0.0.1 only"

# --- dataset -----------------------------------------------------------------------------
is "$(jq '.meta.leads | length' "$TMP/data.json")" 28 "4 forms x 7 Meta leads"
is "$(jq '.knowlarity.calls | length' "$TMP/data.json")" 13 "13 calls"
is "$(jq '.google.leads | length' "$TMP/data.json")" 11 "11 Google leads"
is "$(jq "[.meta.leads[].created_time, .knowlarity.calls[].start_time, .google.leads[].submission_time]
          | all(. > $NOW - 172800 and . < $NOW)" "$TMP/data.json")" true "every event in the last 48 hours"
is "$(jq '[.meta.leads[] | select(.bad)] | map(.bad)' -c "$TMP/data.json")" '["no phone field"]' "one Meta lead without phone"
is "$(jq -r '.knowlarity.calls[] | select(.bad) | .record.customer_number' "$TMP/data.json")" 12345 "one 5-digit call"
is "$(jq -r '.google.leads[] | select(.bad) | .record.leadFormSubmissionFields[] | select(.fieldType=="PHONE_NUMBER") | .fieldValue' "$TMP/data.json")" n/a "one Google n/a phone"
is "$(jq '[.knowlarity.calls[] | select(.shared_with_meta)] | length' "$TMP/data.json")" 3 "20% of calls share Meta phones"
is "$(jq '[.google.leads[] | select(.shared_with_meta)] | length' "$TMP/data.json")" 3 "20% of Google leads share Meta phones"
is "$(jq '[.shared_phone_keys[] | map(split(":")[0]) | unique | length] | max' "$TMP/data.json")" 3 "some phones on all three platforms"
is "$(jq '[.knowlarity.calls[].knowlarity_number] | unique | length' "$TMP/data.json")" 2 "two Knowlarity numbers"
start_fake same --leads-per-form 7 --calls 13 --google-leads 11 --page-size 3 --seed 42 --now "$NOW"
start_fake other --leads-per-form 7 --calls 13 --google-leads 11 --page-size 3 --seed 43 --now "$NOW"
is "$("${C[@]}" "http://127.0.0.1:$PORT_same/_control/data" | md5sum)" "$(md5sum <"$TMP/data.json")" "same seed and --now: same dataset"
check "another seed: another dataset" \
  test "$("${C[@]}" "http://127.0.0.1:$PORT_other/_control/data" | md5sum)" != "$(md5sum <"$TMP/data.json")"
kill "$PID_same" "$PID_other"

# --- Meta --------------------------------------------------------------------------------
M="$B/meta/v25.0"
TOK=meta-test-token
PAGE=$(jq -r .meta.page_id "$TMP/data.json")
# meta_walk URL: follows paging.next to the end; prints every page (one JSON per line)
meta_walk() {
  local url=$1 page
  for _ in $(seq 100); do
    page=$("${C[@]}" "$url") || return 1
    echo "$page" | jq -c .
    url=$(echo "$page" | jq -r '.paging.next // empty')
    [ -n "$url" ] || return 0
  done
}
meta_walk "$M/$PAGE/leadgen_forms?fields=id,name,status&access_token=$TOK" >"$TMP/forms.jsonl"
is "$(wc -l <"$TMP/forms.jsonl" | tr -d ' ')" 2 "forms come in two pages"
is "$(jq -s -c '[.[].data[].status]' "$TMP/forms.jsonl")" '["ACTIVE","ARCHIVED","ACTIVE","ACTIVE"]' "3 ACTIVE, 1 ARCHIVED"
is "$(jq -s -c '[.[].data[] | keys]|unique' "$TMP/forms.jsonl")" '[["id","name","status"]]' "forms carry only the asked fields"
is "$(head -1 "$TMP/forms.jsonl" | jq -r .paging.next | grep -c "^http://127.0.0.1:$PORT_main/meta/v25.0/$PAGE/leadgen_forms?.*&after=.*&access_token=$TOK\$")" 1 "forms next is absolute and carries the token"
FORM=$(jq -r '.meta.forms[0].id' "$TMP/data.json")
ARCH=$(jq -r '.meta.forms[] | select(.status=="ARCHIVED") | .id' "$TMP/data.json")
FIELDS=created_time,id,ad_id,form_id,campaign_id,is_organic,platform,field_data

meta_walk "$M/$FORM/leads?fields=$FIELDS&limit=100&access_token=$TOK" >"$TMP/leads.jsonl"
is "$(wc -l <"$TMP/leads.jsonl" | tr -d ' ')" 3 "7 leads at page size 3 = 3 pages"
is "$(jq -s -c '[.[].data[].id]' "$TMP/leads.jsonl")" \
   "$(jq -c --arg f "$FORM" '[.meta.leads[] | select(.form_id==$f) | .id] | reverse' "$TMP/data.json")" "all leads of the form, newest first"
is "$(jq -s -c '[.[] | (.paging.cursors.before != null and .paging.cursors.after != null)] | all' "$TMP/leads.jsonl")" true "cursors on every page"
is "$(jq -s -c '[.[] | .paging.next != null]' "$TMP/leads.jsonl")" '[true,true,false]' "next only when more pages exist"
is "$(jq -s -c '[.[].data[] | (.id|type)] | unique' "$TMP/leads.jsonl")" '["string"]' "ids are strings"
is "$(jq -s -r '.[0].data[0].created_time' "$TMP/leads.jsonl" | grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+0000$')" 1 "created_time like 2026-10-20T08:49:14+0000"
is "$("${C[@]}" "$M/$FORM/leads?limit=2&access_token=$TOK" | jq '.data|length')" 2 "limit below --page-size wins"
is "$("${C[@]}" "$M/$FORM/leads?fields=id,created_time&access_token=$TOK" | jq -c '[.data[]|keys]|unique')" '[["created_time","id"]]' "leads carry only the asked fields"
is "$("${C[@]}" "$M/$ARCH/leads?access_token=$TOK" | jq '.data|length')" 3 "the archived form's leads exist too"
is "$("${C[@]}" -H "Authorization: OAuth $TOK" "$M/$FORM/leads" | jq '.data|length')" 3 "token in an Authorization header works"
LEAD=$(jq -r --arg f "$FORM" '[.meta.leads[] | select(.form_id==$f)][0].id' "$TMP/data.json")
is "$("${C[@]}" "$M/$LEAD?access_token=$TOK" | jq -r .id)" "$LEAD" "GET /{leadgen_id}"

# filtering: T = created_time of the 4th lead of the form (oldest first)
T=$(jq --arg f "$FORM" '[.meta.leads[] | select(.form_id==$f)][3].created_time' "$TMP/data.json")
enc() { jq -rn --arg s "$1" '$s|@uri'; }
count_leads() { meta_walk "$M/$FORM/leads?fields=id,created_time&filtering=$(enc "$1")&access_token=$TOK" | jq -s '[.[].data[]]|length'; }
is "$(count_leads "[{\"field\":\"time_created\",\"operator\":\"GREATER_THAN\",\"value\":$T}]")" 3 "GREATER_THAN is strict"
is "$(count_leads "[{\"field\":\"time_created\",\"operator\":\"LESS_THAN\",\"value\":$T}]")" 3 "LESS_THAN is strict"
is "$(count_leads "[{\"field\":\"time_created\",\"operator\":\"GREATER_THAN\",\"value\":$((T - 1))},{\"field\":\"time_created\",\"operator\":\"LESS_THAN\",\"value\":$((T + 1))}]")" 1 "two conditions combine"
is "$(count_leads "[{\"field\":\"time_created\",\"operator\":\"GREATER_THAN\",\"value\":\"$T\"}]")" 3 "numeric string value filters too"
is "$(count_leads "[{\"field\":\"time_created\",\"operator\":\"GREATER_THAN\",\"value\":\"2026-10-20T00:00:00+0000\"}]")" 7 "ISO value silently ignored"
is "$(count_leads "[{\"field\":\"created_time\",\"operator\":\"GREATER_THAN\",\"value\":$T}]")" 7 "field created_time silently ignored"
is "$(count_leads "[{\"field\":\"time_created\",\"operator\":\"GREATER_THAN\",\"value\":$NOW}]")" 0 "filter excluding everything: empty data"
is "$("${C[@]}" "$M/$FORM/leads?filtering=%5B%7B%22field%22%3A%22time_created%22%2C%22operator%22%3A%22GREATER_THAN%22%2C%22value%22%3A$NOW%7D%5D&access_token=$TOK" | jq -c .)" '{"data":[]}' "empty result is {\"data\":[]}"
NEXT=$(meta_walk "$M/$FORM/leads?limit=2&filtering=$(enc "[{\"field\":\"time_created\",\"operator\":\"GREATER_THAN\",\"value\":$T}]")&access_token=$TOK" | head -1 | jq -r .paging.next)
is "$(echo "$NEXT" | grep -c "filtering=%5B%7B%22field%22")" 1 "next keeps the filtering parameter"

meta_err() { "${C[@]}" -o "$TMP/body" -w '%{http_code}' "$@"; echo " $(jq -c '[.error.code, .error.type]' "$TMP/body")"; }
is "$(meta_err "$M/$FORM/leads?access_token=wrong")" '400 [190,"OAuthException"]' "wrong token: 400 code 190"
is "$(jq -r .error.message "$TMP/body")" "Invalid OAuth access token." "wrong token message"
is "$(meta_err "$M/$FORM/leads")" '400 [190,"OAuthException"]' "missing token: 400 code 190"
is "$(meta_err "$M/$FORM/leads?filtering=notjson&access_token=$TOK")" '400 [100,"OAuthException"]' "bad filtering JSON: code 100"
is "$(meta_err "$M/$FORM/leads?fields=id,bogus&access_token=$TOK")" '400 [100,"OAuthException"]' "unknown field: code 100"
is "$(meta_err "$M/999/leads?access_token=$TOK")" '400 [100,"GraphMethodException"]' "unknown object: code 100"
is "$(meta_err "$M/$FORM/leads?after=garbage&access_token=$TOK")" '400 [100,"OAuthException"]' "bad cursor: code 100"

# --- Knowlarity --------------------------------------------------------------------------
K="$B/knowlarity/Basic/v1/account/calllog"
KH=(-H "x-api-key: kn-test-key" -H "Authorization: kn-test-token")
ist() { TZ=Asia/Kolkata date -d "@$1" '+%Y-%m-%d %H:%M:%S+05:30'; }
FROM=$(enc "$(ist $((NOW - 200000)))"); TO=$(enc "$(ist "$NOW")")
offset=0; : >"$TMP/calls.jsonl"
for _ in $(seq 50); do
  page=$("${C[@]}" "${KH[@]}" "$K?start_time=$FROM&end_time=$TO&limit=100&offset=$offset")
  echo "$page" | jq -c . >>"$TMP/calls.jsonl"
  n=$(echo "$page" | jq '.objects|length'); [ "$n" -gt 0 ] || break
  offset=$((offset + n))
done
is "$(head -1 "$TMP/calls.jsonl" | jq -c .meta)" '{"limit":3,"next":"","offset":0,"previous":"","total_count":13}' "meta block, limit capped to --page-size"
is "$(jq -s -c '[.[].objects[].uuid]' "$TMP/calls.jsonl")" "$(jq -c '[.knowlarity.calls[].uuid]' "$TMP/data.json")" "offset paging returns every call, oldest first"
is "$(jq -s -c '.[0].objects[0] | keys' "$TMP/calls.jsonl")" '["agent_number","business_call_type","call_duration","call_recording","caller_id","customer_number","destination","extension","knowlarity_number","start_time","uuid"]' "call record keys"
S=$(jq '.knowlarity.calls[4].start_time' "$TMP/data.json"); E=$(jq '.knowlarity.calls[7].start_time' "$TMP/data.json")
is "$("${C[@]}" "${KH[@]}" "$K?start_time=$(enc "$(ist "$S")")&end_time=$(enc "$(ist "$E")")&limit=3&offset=0" | jq .meta.total_count)" 4 "window is inclusive at both ends"
UTC_S=$(date -u -d "@$S" '+%Y-%m-%d %H:%M:%S+00:00')
is "$("${C[@]}" "${KH[@]}" "$K?start_time=$(enc "$UTC_S")&end_time=$TO" | jq .meta.total_count)" 9 "other offsets are honoured"
RAWPLUS="start_time=$(ist "$S" | sed 's/ /%20/; s/:/%3A/g')&end_time=$TO"   # '+' left unencoded
is "$("${C[@]}" -o /dev/null -w '%{http_code}' "${KH[@]}" "$K?$RAWPLUS")" 400 "unencoded '+' (decoded as space): 400"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' "${KH[@]}" "$K?end_time=$TO")" 400 "missing start_time: 400"
kn_status() { "${C[@]}" -o "$TMP/body" -w '%{http_code}' "$@" "$K?start_time=$FROM&end_time=$TO"; echo " $(jq -c . "$TMP/body")"; }
is "$(kn_status -H "x-api-key: nope" -H "Authorization: kn-test-token")" '403 {"message":"Forbidden"}' "bad x-api-key: 403"
is "$(kn_status -H "x-api-key: kn-test-key" -H "Authorization: Bearer kn-test-token")" '403 {"message":"Forbidden"}' "Bearer prefix: 403"
is "$(kn_status)" '403 {"message":"Forbidden"}' "no credentials: 403"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' "${KH[@]}" "$B/knowlarity/Advanced/v1/account/calllog?start_time=$FROM&end_time=$TO")" 404 "other channel: 404"
is "$("${C[@]}" "${KH[@]}" "$K?start_time=$FROM&end_time=$TO&offset=99" | jq -c '[.meta.total_count, (.objects|length)]')" '[13,0]' "offset past the end: empty objects"

# --- Google Ads --------------------------------------------------------------------------
TOKEN_URL="$B/google/token"
gtoken() { "${C[@]}" -d grant_type=refresh_token -d client_id=cid -d client_secret=secret -d "refresh_token=$1" "$TOKEN_URL"; }
GT=$(gtoken g-refresh | jq -r .access_token)
is "$(gtoken g-refresh | jq -c '[.token_type, .expires_in, .scope, (.access_token|startswith("ya29."))]')" '["Bearer",3599,"https://www.googleapis.com/auth/adwords",true]' "token response shape"
is "$("${C[@]}" -w ' %{http_code}' -d grant_type=refresh_token -d client_id=c -d client_secret=s -d refresh_token=expired "$TOKEN_URL" | tr -d '\n ')" '{"error":"invalid_grant","error_description":"Tokenhasbeenexpiredorrevoked."}400' "expired refresh token: 400 invalid_grant"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d grant_type=password -d client_id=c -d client_secret=s -d refresh_token=g-refresh "$TOKEN_URL")" 400 "wrong grant_type: 400"
CUST=$(jq -r .google.customer_id "$TMP/data.json")
S_URL="$B/google/v21/customers/$CUST/googleAds:search"
SEL="SELECT lead_form_submission_data.resource_name, lead_form_submission_data.id, lead_form_submission_data.submission_date_time, lead_form_submission_data.lead_form_submission_fields, lead_form_submission_data.custom_lead_form_submission_fields FROM lead_form_submission_data"
# gsearch QUERY [PAGE_TOKEN]: one page
gsearch() { jq -nc --arg q "$1" --arg t "${2:-}" '{query:$q} + (if $t=="" then {} else {pageToken:$t} end)' |
  "${C[@]}" -H "Authorization: Bearer $GT" -H "login-customer-id: 9999999999" -H 'Content-Type: application/json' --data-binary @- "$S_URL"; }
gwalk() { local t="" page
  for _ in $(seq 50); do page=$(gsearch "$1" "$t"); echo "$page" | jq -c .; t=$(echo "$page" | jq -r '.nextPageToken // empty'); [ -n "$t" ] || return 0; done; }
gwalk "$SEL ORDER BY lead_form_submission_data.submission_date_time ASC" >"$TMP/g.jsonl"
is "$(wc -l <"$TMP/g.jsonl" | tr -d ' ')" 4 "11 rows at page size 3 = 4 pages"
is "$(jq -s -c '[.[].results[].leadFormSubmissionData.id]' "$TMP/g.jsonl")" "$(jq -c '[.google.leads[].id]' "$TMP/data.json")" "nextPageToken walk returns every row"
is "$(jq -s -c '[.[] | has("nextPageToken")]' "$TMP/g.jsonl")" '[true,true,true,false]' "no nextPageToken on the last page"
is "$(head -1 "$TMP/g.jsonl" | jq -r .fieldMask)" "leadFormSubmissionData.resourceName,leadFormSubmissionData.id,leadFormSubmissionData.submissionDateTime,leadFormSubmissionData.leadFormSubmissionFields,leadFormSubmissionData.customLeadFormSubmissionFields" "fieldMask in camelCase"
is "$(head -1 "$TMP/g.jsonl" | jq -r '.results[0].leadFormSubmissionData.submissionDateTime' | grep -cE '^[0-9-]{10} [0-9:]{8}\+05:30$')" 1 "submissionDateTime like 2026-10-20 14:45:02+05:30"
is "$(head -1 "$TMP/g.jsonl" | jq -c '.results[0].leadFormSubmissionData | has("gclid")')" false "unselected fields are absent"
GS=$(jq '.google.leads[5].submission_time' "$TMP/data.json")
LIT=$(date -u -d "@$GS" '+%Y-%m-%d %H:%M:%S')
is "$(gwalk "$SEL WHERE lead_form_submission_data.submission_date_time >= '$LIT'" | jq -s '[.[].results[]?]|length')" 6 ">= literal taken as UTC"
GE=$(jq '.google.leads[8].submission_time' "$TMP/data.json")
is "$(gwalk "$SEL WHERE lead_form_submission_data.submission_date_time >= '$LIT' AND lead_form_submission_data.submission_date_time <= '$(date -u -d "@$GE" '+%Y-%m-%d %H:%M:%S')'" | jq -s '[.[].results[]?]|length')" 4 ">= and <= combine"
is "$(gsearch "$SEL ORDER BY lead_form_submission_data.submission_date_time DESC" | jq -r '.results[0].leadFormSubmissionData.id')" "$(jq -r '.google.leads[-1].id' "$TMP/data.json")" "ORDER BY DESC"
is "$(gsearch "$SEL WHERE lead_form_submission_data.submission_date_time >= '2099-01-01 00:00:00'" | jq -c .)" '{"fieldMask":"leadFormSubmissionData.resourceName,leadFormSubmissionData.id,leadFormSubmissionData.submissionDateTime,leadFormSubmissionData.leadFormSubmissionFields,leadFormSubmissionData.customLeadFormSubmissionFields"}' "no rows: no results key"
g_err() { "${C[@]}" -o "$TMP/body" -w '%{http_code}' "$@"; echo " $(jq -c '[.error.code, .error.status]' "$TMP/body")"; }
is "$(g_err -H "Authorization: Bearer $GT" -d '{"query":"SELECT campaign.id FROM campaign"}' "$S_URL")" '400 [400,"INVALID_ARGUMENT"]' "not FROM lead_form_submission_data: 400"
is "$(g_err -H "Authorization: Bearer $GT" -d '{"query":"SELECT lead_form_submission_data.id FROM lead_form_submission_data","pageToken":"bogus"}' "$S_URL")" '400 [400,"INVALID_ARGUMENT"]' "bad pageToken: 400"
is "$(g_err -H "Authorization: Bearer $GT" -d "{\"query\":\"$SEL\"}" "$B/google/v21/customers/555/googleAds:search")" '403 [403,"PERMISSION_DENIED"]' "other customer: 403"
is "$(g_err -d "{\"query\":\"$SEL\"}" "$S_URL")" '401 [401,"UNAUTHENTICATED"]' "no bearer: 401"
is "$(jq -r .error.message "$TMP/body")" "Request is missing required authentication credential." "no bearer message"
is "$(g_err -H "Authorization: Bearer ya29.made-up" -d "{\"query\":\"$SEL\"}" "$S_URL")" '401 [401,"UNAUTHENTICATED"]' "unknown bearer: 401"
"${C[@]}" -X DELETE "$B/_control/google_tokens" >/dev/null
is "$(g_err -H "Authorization: Bearer $GT" -d "{\"query\":\"$SEL\"}" "$S_URL")" '401 [401,"UNAUTHENTICATED"]' "revoked bearer: 401"
GT=$(gtoken g-refresh | jq -r .access_token)

# --- request log -------------------------------------------------------------------------
"${C[@]}" -X DELETE "$B/_control/requests" >/dev/null
"${C[@]}" "$M/$FORM/leads?filtering=$(enc "[{\"field\":\"time_created\",\"operator\":\"GREATER_THAN\",\"value\":$T}]")&access_token=$TOK" >/dev/null
"${C[@]}" "${KH[@]}" "$K?start_time=$FROM&end_time=$TO" >/dev/null
gsearch "$SEL" >/dev/null
"${C[@]}" "$B/_control/requests" >"$TMP/log.json"
is "$(jq '.requests|length' "$TMP/log.json")" 3 "log has the three platform requests, no control ones"
is "$(jq -r '.requests[0].params.filtering[0] | fromjson | .[0].value | type' "$TMP/log.json")" number "log shows the filtering value as sent"
is "$(jq -r '.requests[1].headers["x-api-key"] + " " + .requests[1].headers.authorization' "$TMP/log.json")" "kn-test-key kn-test-token" "log shows headers (lower-case names)"
is "$(jq -r '.requests[1].params.start_time[0]' "$TMP/log.json")" "$(ist $((NOW - 200000)))" "log shows decoded params"
is "$(jq -r '.requests[2].body | fromjson | .query' "$TMP/log.json")" "$SEL" "log shows the POST body"
is "$(jq -r '.requests[2].headers["login-customer-id"]' "$TMP/log.json")" 9999999999 "login-customer-id is logged"
is "$(jq -c '[.requests[] | [.seq, .status, .fault]]' "$TMP/log.json")" '[[1,200,null],[2,200,null],[3,200,null]]' "log has seq, status and fault"
is "$("${C[@]}" "$B/_control/requests?path=/knowlarity" | jq '.requests|length')" 1 "?path= filters the log"
"${C[@]}" -X DELETE "$B/_control/requests" >/dev/null
is "$("${C[@]}" "$B/_control/requests" | jq '.requests|length')" 0 "DELETE clears the log"

# --- faults ------------------------------------------------------------------------------
fault() { "${C[@]}" -o /dev/null -w '%{http_code}' -d "$1" "$B/_control/faults"; }
clear_faults() { "${C[@]}" -X DELETE "$B/_control/faults" >/dev/null; }
LEADS_URL="$M/$FORM/leads?access_token=$TOK"
code() { "${C[@]}" -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@"; }

is "$(fault '{"path":"/leads","fault":"nonsense"}')" 400 "unknown fault name: 400"
is "$(fault '{"fault":"status500"}')" 400 "rule without path: 400"
fault '{"path":"/leads","fault":"status500","after":1,"times":2}' >/dev/null
is "$(for _ in 1 2 3 4; do code "$LEADS_URL"; echo -n ' '; done)" "200 500 500 200 " "status500 after 1, 2 times"
is "$("${C[@]}" "$B/_control/faults" | jq -c '.rules[0] | [.seen, .fired]')" '[4,2]' "rule counters"
clear_faults
is "$("${C[@]}" "$B/_control/faults" | jq '.rules|length')" 0 "DELETE clears the rules"
fault '[{"path":"/leads","fault":"status500"},{"path":"/leads","fault":"status429","after":1,"retry_after":7}]' >/dev/null
is "$(code "$LEADS_URL") $(code "$LEADS_URL") $(grep -i '^retry-after' "$TMP/headers" | tr -d '\r') $(code "$LEADS_URL")" "500 429 Retry-After: 7 200" "rule list; status429 with Retry-After"
clear_faults
fault '{"path":"/leads","fault":"status500","method":"POST"}' >/dev/null
is "$(code "$LEADS_URL")" 200 "method filter: GET not matched"
clear_faults
fault '{"path":"/leads","fault":"status500","query":"after="}' >/dev/null
NEXT=$("${C[@]}" "$LEADS_URL" | jq -r .paging.next)
is "$(code "$LEADS_URL") $(code "$NEXT")" "200 500" "query filter: only the second page"
clear_faults

fault '{"path":"/leads","fault":"meta_throttle","regain_minutes":7}' >/dev/null
is "$(code "$LEADS_URL") $(jq -c '[.error.code,.error.type]' "$TMP/body")" '400 [4,"OAuthException"]' "meta_throttle: 400 code 4"
is "$(grep -i '^x-business-use-case-usage' "$TMP/headers" | cut -d' ' -f2- | tr -d '\r' | jq -c --arg f "$FORM" '.[$f][0].estimated_time_to_regain_access')" 7 "meta_throttle: regain minutes in X-Business-Use-Case-Usage"
fault '{"path":"/leads","fault":"meta_throttle","code":613}' >/dev/null
is "$(code "$LEADS_URL") $(jq -c .error.code "$TMP/body")" '400 613' "meta_throttle with code 613"
fault '{"path":"/leads","fault":"meta_transient"}' >/dev/null
is "$(code "$LEADS_URL") $(jq -c .error.code "$TMP/body")" '400 2' "meta_transient: code 2"
fault '{"path":"/leads","fault":"meta_token_expired"}' >/dev/null
is "$(code "$LEADS_URL") $(jq -c .error.code "$TMP/body")" '400 190' "meta_token_expired: code 190"
fault '{"path":"/leads","fault":"meta_permission"}' >/dev/null
is "$(code "$LEADS_URL") $(jq -c .error.code "$TMP/body")" '400 200' "meta_permission: code 200"
is "$(code "$LEADS_URL")" 200 "each one-shot rule fired once"
fault '{"path":"googleAds:search","fault":"google_quota","retry_delay":"3s"}' >/dev/null
is "$(code -H "Authorization: Bearer $GT" -d "{\"query\":\"$SEL\"}" "$S_URL") $(jq -c '[.error.status, .error.details[0].errors[0].details.quotaErrorDetails.retryDelay, .error.details[0].errors[0].errorCode.quotaError]' "$TMP/body")" \
   '429 ["RESOURCE_EXHAUSTED","3s","RESOURCE_TEMPORARILY_EXHAUSTED"]' "google_quota: 429 with retryDelay"
fault '{"path":"googleAds:search","fault":"google_unauthenticated"}' >/dev/null
is "$(code -H "Authorization: Bearer $GT" -d "{\"query\":\"$SEL\"}" "$S_URL")" 401 "google_unauthenticated: 401"
fault '{"path":"/calllog","fault":"knowlarity_forbidden"}' >/dev/null
is "$(code "${KH[@]}" "$K?start_time=$FROM&end_time=$TO") $(jq -c . "$TMP/body")" '403 {"message":"Forbidden"}' "knowlarity_forbidden: 403"
fault '{"path":"/calllog","fault":"html"}' >/dev/null
is "$(code "${KH[@]}" "$K?start_time=$FROM&end_time=$TO") $(grep -i '^content-type' "$TMP/headers" | tr -d '\r') $(grep -c '<html>' "$TMP/body")" "502 Content-Type: text/html 1" "html: 502 text/html"
fault '{"path":"/calllog","fault":"html","status":200}' >/dev/null
is "$(code "${KH[@]}" "$K?start_time=$FROM&end_time=$TO")" 200 "html with status 200"
fault '{"path":"/calllog","fault":"malformed_json"}' >/dev/null
is "$(code "${KH[@]}" "$K?start_time=$FROM&end_time=$TO") $(jq . "$TMP/body" >/dev/null 2>&1 && echo valid || echo invalid)" "200 invalid" "malformed_json: 200, truncated"
fault '{"path":"/leads","fault":"missing_data"}' >/dev/null
is "$(code "$LEADS_URL") $(jq -c '[has("data"), has("paging")]' "$TMP/body")" '200 [false,true]' "missing_data: Meta without data"
fault '{"path":"/calllog","fault":"missing_data"}' >/dev/null
is "$(code "${KH[@]}" "$K?start_time=$FROM&end_time=$TO") $(jq -c '[has("objects"), has("meta")]' "$TMP/body")" '200 [false,true]' "missing_data: Knowlarity without objects"
fault '{"path":"googleAds:search","fault":"missing_data"}' >/dev/null
is "$(code -H "Authorization: Bearer $GT" -d "{\"query\":\"$SEL\"}" "$S_URL") $(jq -c 'has("results")' "$TMP/body")" '200 false' "missing_data: Google without results"
fault '{"path":"/leads","fault":"close_mid_body"}' >/dev/null
"${C[@]}" -o /dev/null "$LEADS_URL"; is "$?" 18 "close_mid_body: curl sees a partial body (exit 18)"
is "$(code "$LEADS_URL")" 200 "the next request is normal again"
EXPECTED=$("${C[@]}" "$LEADS_URL" | md5sum)
fault '{"path":"/leads","fault":"slow_bytes","delay_ms":2}' >/dev/null
start=$(date +%s%N); GOT=$("${C[@]}" "$LEADS_URL" | md5sum); ms=$((($(date +%s%N) - start) / 1000000))
is "$GOT" "$EXPECTED" "slow_bytes: the same bytes"
check "slow_bytes: took a while (${ms} ms)" test "$ms" -ge 500
fault '{"path":"/leads","fault":"slow_bytes","delay_ms":50,"max_seconds":1}' >/dev/null
start=$(date +%s%N); "${C[@]}" -o /dev/null "$LEADS_URL"; ms=$((($(date +%s%N) - start) / 1000000))
check "slow_bytes: bounded by max_seconds (${ms} ms)" test "$ms" -lt 2500
fault '{"path":"/leads","fault":"stall","seconds":2}' >/dev/null
start=$(date +%s%N); "${C[@]}" -o /dev/null "$LEADS_URL"; rc=$?; ms=$((($(date +%s%N) - start) / 1000000))
is "$rc" 52 "stall: nothing sent, then closed (curl exit 52)"
check "stall: lasted about 2 s (${ms} ms)" test "$ms" -ge 1900 -a "$ms" -lt 4000
fault '{"path":"/leads","fault":"stall","seconds":30}' >/dev/null
curl -s --max-time 1 -o /dev/null "$LEADS_URL"; is "$?" 28 "stall: a client timeout fires (curl exit 28)"
fault '{"path":"/leads","fault":"status500","times":-1}' >/dev/null
is "$(for _ in 1 2 3; do code "$LEADS_URL"; echo -n ' '; done)" "500 500 500 " "times -1: forever"
clear_faults

# delay: waits, then the request goes on as if the rule were not there
LEAD_URL="$M/$LEAD?access_token=$TOK"
EXPECTED=$("${C[@]}" "$LEAD_URL" | md5sum)
is "$(fault '{"path":"/x","fault":"delay","delay_ms":"50"}')" 400 "delay: a non-numeric delay_ms is refused"
fault "{\"path\":\"/$LEAD\",\"fault\":\"delay\",\"delay_ms\":300,\"times\":-1}" >/dev/null
start=$(date +%s%N); GOT=$("${C[@]}" "$LEAD_URL" | md5sum); ms=$((($(date +%s%N) - start) / 1000000))
is "$GOT" "$EXPECTED" "delay: the normal body"
check "delay: took at least delay_ms (${ms} ms)" test "$ms" -ge 300
start=$(date +%s%N)
PAR=()
for i in 1 2 3 4 5 6 7 8; do "${C[@]}" -o "$TMP/par.$i" "$LEAD_URL" & PAR+=($!); done
wait "${PAR[@]}"
ms=$((($(date +%s%N) - start) / 1000000))
check "delay: 8 concurrent delayed requests are not serialized (${ms} ms)" test "$ms" -lt 1500
is "$(for i in 1 2 3 4 5 6 7 8; do md5sum <"$TMP/par.$i"; done | sort -u)" "$EXPECTED" "delay: every concurrent answer is the normal body"
is "$(meta_err "$M/$LEAD?access_token=wrong")" '400 [190,"OAuthException"]' "delay: auth is still checked"
is "$("${C[@]}" "$B/_control/requests?path=/$LEAD" | jq -c '.requests[-1] | [.fault, .delay_ms, .status]')" '["delay",300,400]' "delay: logged as fault delay with delay_ms"
fault "{\"path\":\"/$LEAD\",\"fault\":\"status500\"}" >/dev/null
start=$(date +%s%N); st=$(code "$LEAD_URL"); ms=$((($(date +%s%N) - start) / 1000000))
is "$st" 500 "delay: a later due rule still applies after the wait"
check "delay: and the wait happened (${ms} ms)" test "$ms" -ge 300
clear_faults
start=$(date +%s%N); code "$LEAD_URL" >/dev/null; ms=$((($(date +%s%N) - start) / 1000000))
check "delay: gone with the rules (${ms} ms)" test "$ms" -lt 250
fault "{\"path\":\"/$LEAD\",\"fault\":\"delay\"}" >/dev/null
start=$(date +%s%N); code "$LEAD_URL" >/dev/null; ms=$((($(date +%s%N) - start) / 1000000))
check "delay: 50 ms by default (${ms} ms)" test "$ms" -ge 50
clear_faults
is "$("${C[@]}" "$B/_control/requests" | jq -c '[.requests[] | .fault] | map(select(.)) | unique')" \
   '["close_mid_body","delay","google_quota","google_unauthenticated","html","knowlarity_forbidden","malformed_json","meta_permission","meta_throttle","meta_token_expired","meta_transient","missing_data","slow_bytes","stall","status429","status500"]' \
   "log records which fault each request got (all 16 used)"

# --- lifetime ----------------------------------------------------------------------------
is "$(cat "$TMP/main.err")" "" "quiet: nothing on stderr"
fault '{"path":"/leads","fault":"stall","seconds":60}' >/dev/null
curl -s --max-time 10 -o /dev/null "$LEADS_URL" &
sleep 0.5
start=$(date +%s%N); kill -TERM "$PID_main"; wait "$PID_main"; rc=$?; ms=$((($(date +%s%N) - start) / 1000000))
is "$rc" 0 "SIGTERM: exit status 0"
check "SIGTERM: exits at once even with a stalled request (${ms} ms)" test "$ms" -lt 2000
wait

start_fake short --max-lifetime 2 --google-token-ttl 1
B2="http://127.0.0.1:$PORT_short"
T2=$(curl -s -d grant_type=refresh_token -d client_id=c -d client_secret=s -d refresh_token=g-refresh "$B2/google/token" | jq -r .access_token)
sleep 1.2
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T2" -d "{\"query\":\"$SEL\"}" "$B2/google/v21/customers/1234567890/googleAds:search")" 401 "expired access token (--google-token-ttl): 401"
start=$(date +%s%N); wait "$PID_short"; rc=$?; ms=$((($(date +%s%N) - start) / 1000000))
is "$rc" 0 "--max-lifetime: exits by itself with status 0"
check "--max-lifetime: on time (${ms} ms after the test started waiting)" test "$ms" -lt 2000
is "$(grep -c 'max-lifetime' "$TMP/short.err")" 1 "--max-lifetime: says why on stderr"

# --- Meta: new leads, webhooks, subscription ----------------------------------------------
# A loopback receiver: POST -> saved as post.N.body / post.N.headers, answers EVENT_RECEIVED;
# GET /hook echoes hub.challenge iff hub.verify_token is good-token (else 403);
# GET /wrong answers 200 with something else than the challenge.
cat >"$TMP/receiver.py" <<'PY'
import http.server, json, os, sys
from urllib.parse import parse_qs, urlsplit
out = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        H.n += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(os.path.join(out, "post.%d.body" % H.n), "wb") as f:
            f.write(body)
        with open(os.path.join(out, "post.%d.headers" % H.n), "w") as f:
            json.dump({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}, f)
        self.answer(200, "EVENT_RECEIVED")
    def do_GET(self):
        parts = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/wrong":
            return self.answer(200, "hello " + q.get("hub.challenge", ""))
        if q.get("hub.mode") == "subscribe" and q.get("hub.verify_token") == "good-token":
            return self.answer(200, q["hub.challenge"])
        self.answer(403, "bad verify token")
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(os.path.join(out, "port.tmp"), "w") as f:
    f.write(str(srv.server_port))
os.replace(os.path.join(out, "port.tmp"), os.path.join(out, "port"))
srv.serve_forever()
PY
mkdir "$TMP/rcv"
"${PYTHON:-python3}" "$TMP/receiver.py" "$TMP/rcv" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/rcv/port" ] && break; sleep 0.05; done
R="http://127.0.0.1:$(cat "$TMP/rcv/port")"
start_fake hook --leads-per-form 5 --meta-webhook-url "$R/hook?src=fake" --meta-app-secret s3cret --meta-verify-token good-token
H="http://127.0.0.1:$PORT_hook"
HM="$H/meta/v25.0"
"${C[@]}" "$H/_control/data" >"$TMP/hdata.json"
ctl() { "${C[@]}" -H 'Content-Type: application/json' -d "$2" "$H/_control/meta/$1"; }
# sig_ok N SECRET: post N carries sha256=HMAC(SECRET, exact body)
sig_ok() {
  local want got
  want=$(openssl dgst -sha256 -hmac "$2" -r "$TMP/rcv/post.$1.body" | cut -d' ' -f1)
  got=$(jq -r '."x-hub-signature-256" // ""' "$TMP/rcv/post.$1.headers")
  [ "$got" = "sha256=$want" ]
}
NOW_REAL=$(date +%s)
ctl leads '{"count":3}' >"$TMP/new.json"
is "$(jq -c '[(.leads|length), .webhook.status, .webhook.body, .webhook.error]' "$TMP/new.json")" '[3,200,"EVENT_RECEIVED",null]' "new leads: 3 made, webhook answered 200"
FIRST_ACTIVE=$(jq -r '[.meta.forms[] | select(.status=="ACTIVE")][0].id' "$TMP/hdata.json")
is "$(jq -r '[.leads[].form_id] | unique | join(",")' "$TMP/new.json")" "$FIRST_ACTIVE" "new leads: on the first ACTIVE form by default"
NEW_IDS=$(jq -c '[.leads[].id]' "$TMP/new.json")
is "$(jq -r --argjson old "$(jq '[.meta.leads[].id]' "$TMP/hdata.json")" '[.leads[].id | select(test("^[0-9]{16}$")) | select(. as $i | $old | index($i) | not)] | unique | length' "$TMP/new.json")" 3 "new leads: unique new 16-digit ids"
CT=$(jq -r '.leads[0].created_time' "$TMP/new.json")
check "new leads: created_time is the real now ($CT)" test "$(( $(date -u -d "${CT/+0000/Z}" +%s) - NOW_REAL ))" -ge -2 -a "$(( $(date -u -d "${CT/+0000/Z}" +%s) - NOW_REAL ))" -le 5
NEW1=$(jq -r '.leads[0].id' "$TMP/new.json")
is "$("${C[@]}" "$HM/$NEW1?fields=id,created_time,field_data,form_id&access_token=$TOK" | jq -c .)" \
   "$(jq -c '.leads[0] | {created_time, id, form_id, field_data}' "$TMP/new.json")" "new lead: served by GET /{leadgen_id}"
"${C[@]}" "$H/_control/data" >"$TMP/hdata2.json"
is "$(jq -c --argjson ids "$NEW_IDS" '[.meta.leads[] | select(.id as $i | $ids | index($i)) | .phone_key | length]' "$TMP/hdata2.json")" '[10,10,10]' "new leads: in /_control/data with valid phones"
is "$(jq -r --arg f "$FIRST_ACTIVE" '.meta.forms[] | select(.id==$f) | .leads_count' "$TMP/hdata2.json")" 8 "new leads: the form's leads_count grows"
is "$(meta_walk "$HM/$FIRST_ACTIVE/leads?fields=id&access_token=$TOK" | jq -s -c '[.[].data[].id] | .[:3] | sort')" \
   "$(echo "$NEW_IDS" | jq -c sort)" "new leads: listed first (newest) by the form's /leads"
is "$(ls "$TMP"/rcv/post.*.body | wc -l | tr -d ' ')" 1 "webhook: one POST for the batch"
is "$(jq -r '.path + " " + ."content-type"' "$TMP/rcv/post.1.headers")" "/hook?src=fake application/json" "webhook: to the URL's path and query, application/json"
check "webhook: X-Hub-Signature-256 is the HMAC-SHA256 of the raw body" sig_ok 1 s3cret
is "$(jq -c --arg p "$(jq -r .meta.page_id "$TMP/hdata.json")" '[.object, (.entry|length), .entry[0].id == $p, (.entry[0].time|type),
       (.entry[0].changes | map(.field) | unique), (.entry[0].changes | map(.value.page_id == $p and (.value.created_time|type) == "number") | all)]' "$TMP/rcv/post.1.body")" \
   '["page",1,true,"number",["leadgen"],true]' "webhook: page object, one entry, leadgen changes"
is "$(jq -c '[.entry[0].changes[].value.leadgen_id]' "$TMP/rcv/post.1.body")" "$NEW_IDS" "webhook: one change per new lead"
SECOND=$(jq -r '[.meta.forms[] | select(.status=="ACTIVE")][1].id' "$TMP/hdata.json")
ctl leads "{\"form_id\":\"$SECOND\",\"phone\":\"+91 99887 76655\",\"full_name\":\"Asha Rao\"}" >"$TMP/new2.json"
is "$(jq -c '[.leads[0].form_id, ([.leads[0].field_data[].values[0]] | index("+91 99887 76655") != null)]' "$TMP/new2.json")" "[\"$SECOND\",true]" "new lead: form_id and phone as given"
is "$(jq -r '.leads[0].field_data[] | select(.name=="first_name" or .name=="last_name") | .values[0]' "$TMP/new2.json" | paste -sd' ')" "Asha Rao" "new lead: full_name split into first/last on that form"
check "new lead: its webhook is signed too" sig_ok 2 s3cret
ARCH_H=$(jq -r '.meta.forms[] | select(.status=="ARCHIVED") | .id' "$TMP/hdata.json")
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d "{\"form_id\":\"$ARCH_H\"}" "$H/_control/meta/leads")" 400 "new leads: an ARCHIVED form is refused"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"webhook_url":"http://10.0.0.1/hook"}' "$H/_control/meta/leads")" 400 "new leads: a non-loopback webhook_url is refused"
OLD=$(jq -r '.meta.leads[0].id' "$TMP/hdata.json")
ctl webhook "{\"leadgen_ids\":[\"$OLD\",\"$NEW1\"]}" >"$TMP/replay.json"
is "$(jq -c '[[.leads[].id], .webhook.status]' "$TMP/replay.json")" "[[\"$OLD\",\"$NEW1\"],200]" "replay: the given leads, answered 200"
check "replay: signed" sig_ok 3 s3cret
is "$(jq -c '[.entry[0].changes[].value.leadgen_id]' "$TMP/rcv/post.3.body")" "[\"$OLD\",\"$NEW1\"]" "replay: one change per id"
ctl webhook "{\"leadgen_ids\":[\"$OLD\"],\"sign\":false}" >/dev/null
is "$(jq -r '."x-hub-signature-256" // "none"' "$TMP/rcv/post.4.headers")" none "replay: sign false sends no signature"
ctl webhook "{\"leadgen_ids\":[\"$OLD\"],\"secret\":\"other\"}" >/dev/null
check "replay: secret override signs with that secret" sig_ok 5 other
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"leadgen_ids":["123"]}' "$H/_control/meta/webhook")" 400 "replay: an unknown id is refused"
is "$(ctl webhook "{\"leadgen_ids\":[\"$OLD\"],\"webhook_url\":\"http://127.0.0.1:1/nothing\"}" | jq -c '[.webhook.status, (.webhook.error != null)]')" '[null,true]' "replay: a refused connection is reported"
is "$(ctl subscribe '{}' | jq -c '[.status, .verified]')" '[200,true]' "subscribe: verified by an echoing receiver"
is "$(ctl subscribe '{"verify_token":"bad"}' | jq -c '[.status, .verified]')" '[403,false]' "subscribe: a wrong verify token is not verified"
is "$(ctl subscribe "{\"webhook_url\":\"$R/wrong\"}" | jq -c '[.status, .verified]')" '[200,false]' "subscribe: a receiver not echoing the challenge is not verified"
is "$("${C[@]}" "$H/_control/requests" | jq -c '[.requests[].path | sub("/[0-9]{16}"; "/N")]')" '["/meta/v25.0/N","/meta/v25.0/N/leads"]' "control calls are not logged (only the two Graph GETs)"
start_fake nohook --leads-per-form 1
is "$("${C[@]}" -d '{}' "http://127.0.0.1:$PORT_nohook/_control/meta/leads" | jq -c '[(.leads|length), .webhook]')" '[1,null]' "new leads without a webhook URL: webhook null"
kill "$PID_hook" "$PID_nohook"
"${PYTHON:-python3}" "$FAKE" --port 0 --meta-webhook-url http://example.com/hook >/dev/null 2>"$TMP/refused.err"
is "$? $(grep -c refused "$TMP/refused.err")" "2 1" "a non-loopback --meta-webhook-url is refused at startup"
"${PYTHON:-python3}" "$FAKE" --port 0 --meta-webhook-url https://127.0.0.1/hook >/dev/null 2>&1
is "$?" 2 "an https --meta-webhook-url is refused at startup"

echo "1..$N"
[ "$FAILED" -eq 0 ] || { echo "# $FAILED of $N checks failed"; exit 1; }
