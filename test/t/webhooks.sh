#!/usr/bin/env bash
# leadsync-fetch serve, over real HTTP on loopback against the real database: every
# route of the README's table, every refusal (with the tables checked after it), the
# Meta inbox resolved through the fake Graph API (also while Graph fails), the three
# cases across push and pull, and 503 when the database is unreachable.
set -u
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"
source "$(dirname "$0")/lib/serve.sh"
tap_plan 70

fetch_start_fake --leads-per-form 6 --calls 6 --google-leads 4 --page-size 10 || tap_abort "no fake platforms"
tap_create_db webhooks || tap_abort "cannot create a database"
tap_sql "SELECT ensure_source('CRM', 'crm_webhook', '{\"phone\": [\"\$.phone\"], \"external_id\": [\"\$.ref\"]}')" \
  >/dev/null
serve_start serve LEADSYNC_WEBHOOK_MAX_BODY_BYTES=4096 LEADSYNC_WEBHOOK_RESOLVERS=2 || tap_abort "no server"

count() { tap_sql "SELECT count(*) FROM $1"; }
# Everything a refusal must leave alone, in one line.
tables() { tap_sql "SELECT concat_ws(' ', (SELECT count(*) FROM leads_master), (SELECT count(*) FROM lead_sources_history),
                      (SELECT count(*) FROM lead_rejects), (SELECT count(*) FROM webhook_inbox))"; }
body() { cat "$TAP_TMP/$1.body"; }

# --- health -------------------------------------------------------------------------
tap_is "$(curl -sS -o "$TAP_TMP/h.body" -w '%{http_code}' "$SERVE/healthz")/$(body h)" "200/ok" \
  "GET /healthz: 200 while the database answers"

# --- Meta: the subscription handshake ---------------------------------------------
hub() { curl -sS -o "$TAP_TMP/hub.body" -w '%{http_code}' -G "$SERVE/webhooks/meta" "$@"; }
tap_is "$(hub --data-urlencode hub.mode=subscribe --data-urlencode "hub.verify_token=$SERVE_VERIFY_TOKEN" \
  --data-urlencode hub.challenge=1158201444)/$(body hub)" "200/1158201444" \
  "GET /webhooks/meta with the verify token: 200 and hub.challenge as the body"
tap_is "$(hub --data-urlencode hub.mode=subscribe --data-urlencode hub.verify_token=wrong \
  --data-urlencode hub.challenge=1158201444)" 403 "a wrong verify token: 403"
tap_is "$(hub --data-urlencode hub.mode=unsubscribe --data-urlencode "hub.verify_token=$SERVE_VERIFY_TOKEN" \
  --data-urlencode hub.challenge=1)" 403 "a mode other than subscribe: 403"
tap_is "$(hub --data-urlencode hub.mode=subscribe --data-urlencode "hub.verify_token=$SERVE_VERIFY_TOKEN" \
  --data-urlencode 'hub.challenge=<script>')" 400 "a challenge that is not a plain token is not echoed: 400"

# --- Meta: notifications ------------------------------------------------------------
# Two valid leads of ACTIVE forms with phones no other Meta lead has.
mapfile -t META_IDS < <(jq -r '.meta.leads | map(select(.bad == null and .form_status == "ACTIVE"))
  | group_by(.phone_key) | map(select(length == 1) | .[0]) | .[0:4][] | .id' "$FAKE_DATA")
[ "${#META_IDS[@]}" = 4 ] || tap_abort "the fake has too few Meta leads"
NOTIFY=$(meta_webhook "${META_IDS[0]}" "${META_IDS[1]}")
before=$(tables)
tap_is "$(post m_nosig /webhooks/meta "$NOTIFY" -H 'Content-Type: application/json')/$(tables)" "403/$before" \
  "POST /webhooks/meta without X-Hub-Signature-256: 403, nothing stored"
tap_is "$(post m_badsig /webhooks/meta "$NOTIFY" -H 'Content-Type: application/json' \
  -H "X-Hub-Signature-256: $(meta_signature "$NOTIFY ")")/$(tables)" "403/$before" \
  "a signature of other bytes: 403, nothing stored"
tap_is "$(post m_ctype /webhooks/meta "$NOTIFY" -H 'Content-Type: text/plain' \
  -H "X-Hub-Signature-256: $(meta_signature "$NOTIFY")")/$(tables)" "415/$before" \
  "a signed body that is not application/json: 415, nothing stored"
tap_is "$(post_meta m_malformed '{"entry": [')/$(tables)" "400/$before" "signed malformed JSON: 400, nothing stored"
tap_is "$(post_meta m_shape '{"entry": [{"changes": [{"field": "leadgen", "value": {}}]}]}')/$(tables)" \
  "400/$before" "a leadgen change without a leadgen_id: 400, nothing stored"
tap_is "$(post_meta m_other '{"entry": [{"changes": [{"field": "feed", "value": {"item": "post"}}]}]}')/$(body m_other)" \
  '200/{"new":0,"notified":0}' "a change of another field: 200, nothing to do"

tap_is "$(post_meta m_ok "$NOTIFY")" 200 "a signed notification of two leads: 200"
tap_is "$(jq -c . "$TAP_TMP/m_ok.body")" '{"new":2,"notified":2}' "both committed to the inbox before the answer"
tap_wait_for "the inbox resolved" 10 "SELECT count(*) FROM webhook_inbox WHERE resolved_at IS NOT NULL" 2
tap_is "$(tap_sql "SELECT string_agg(external_lead_id, ' ' ORDER BY external_lead_id) FROM leads_master")" \
  "$(printf '%s\n' "${META_IDS[0]}" "${META_IDS[1]}" | sort | paste -sd' ')" \
  "the resolvers read both leads from Graph and ingested them (case A)"
tap_is "$(tap_sql "SELECT total_leads_count FROM sources WHERE source_type = 'meta_form'")" 2 \
  "meta_form counts 2"
tap_is "$(tap_sql "SELECT count(*) FROM leads_master l JOIN lead_sources_history h ON h.lead_id = l.id
                    WHERE h.raw_payload ? 'field_data' AND h.is_primary")" 2 \
  "each stored with the lead Graph returned as its raw payload"
tap_is "$(post_meta m_replay "$NOTIFY")/$(jq -c . "$TAP_TMP/m_replay.body")" '200/{"new":0,"notified":2}' \
  "the same webhook delivered again: 200, nothing new"
sleep 0.3
tap_is "$(tap_sql "SELECT count(*) || ' ' || sum(attempts) FROM webhook_inbox")/$(tap_sql \
  "SELECT total_leads_count FROM sources WHERE source_type = 'meta_form'")" "2 2/2" \
  "the replay changed nothing: no inbox row, no attempt, no count"

# The pull path then reads the same leads: they are case B for it, exactly two.
fetch_run pull meta --since "$(fetch_iso $((FAKE_NOW - 49 * 3600)))"
tap_is "$FETCH_RC" 0 "leadsync-fetch meta over the same data: exit 0"
tap_create_db webhooks_pull_only || tap_abort "cannot create a database"
PULL_ONLY_DB=$TAP_DB
fetch_run pull_only meta --since "$(fetch_iso $((FAKE_NOW - 49 * 3600)))"
TAP_DB=${TAP_DBS[0]}
tap_is "$(fetch_summary pull | jq -c '[.insertedNew, .duplicateSameSource, .crossSourceHistory, .rejected]')" \
  "$(fetch_summary pull_only | jq -c '[.insertedNew - 2, .duplicateSameSource + 2, .crossSourceHistory, .rejected]')" \
  "its counts are a pull-only run's with exactly the two webhook leads moved from new to same-source"
digest() { tap_sql "SELECT md5(string_agg(l.phone_number_normalized || s.source_type || h.is_primary, ','
                                        ORDER BY l.phone_number_normalized, s.source_type))
                     FROM leads_master l JOIN lead_sources_history h ON h.lead_id = l.id JOIN sources s ON s.id = h.source_id"; }
tap_is "$(digest)" "$(TAP_DB=$PULL_ONLY_DB digest)" "and the leads and history rows equal the pull-only database's"

# --- Meta: Graph failing for a notified lead -------------------------------------------
graph_failure() {  # FAULT-JSON ID DESCRIPTION EXPECTED-ERROR
  fake_fault "$1"
  tap_is "$(post_meta "g_$2" "$(meta_webhook "$2")")" 200 "$3: the webhook is still answered 200"
  tap_wait_for "the error recorded" 10 "SELECT last_error IS NOT NULL FROM webhook_inbox WHERE external_id = '$2'" t
  tap_like "$(tap_sql "SELECT last_error FROM webhook_inbox WHERE external_id = '$2' AND resolved_at IS NULL")" "$4" \
    "$3: the inbox keeps the row with the error"
  fake_reset
  tap_ok "$3: resolved once Graph recovers" \
    tap_wait_for "resolved after recovery" 15 "SELECT resolved_at IS NOT NULL FROM webhook_inbox WHERE external_id = '$2'" t
}
graph_failure '{"path": "/meta/v25.0/'"${META_IDS[2]}"'", "fault": "status500", "times": -1}' "${META_IDS[2]}" \
  "Graph answering 500" "HTTP 500"
graph_failure '{"path": "/meta/v25.0/'"${META_IDS[3]}"'", "fault": "meta_token_expired", "times": -1}' \
  "${META_IDS[3]}" "the token expired" "190"
THROTTLED=$(jq -r '.meta.leads | map(select(.bad != null))[0].id' "$FAKE_DATA")
tap_is "$(tap_sql "SELECT count(*) FROM leads_master WHERE external_lead_id IN ('${META_IDS[2]}', '${META_IDS[3]}')")" 2 \
  "both leads are stored, once each"
graph_failure '{"path": "/meta/v25.0/'"$THROTTLED"'", "fault": "meta_throttle", "code": 4, "times": -1}' \
  "$THROTTLED" "Graph throttling" "throttled"
tap_is "$(tap_sql "SELECT count(*) FILTER (WHERE error LIKE '%HTTP 500%') > 0 AND count(*) FILTER (WHERE error LIKE '%190%') > 0
                    AND count(*) FILTER (WHERE error IS NULL) >= 4 FROM sync_runs WHERE path = 'webhook'")" t \
  "every Graph read is a run in sync_runs: the failed ones with their errors, then the successes"
tap_is "$(tap_sql "SELECT count(*) FROM lead_rejects r JOIN sources s ON s.id = r.source_id
                    WHERE s.source_type = 'meta_form' AND r.reason = 'no phone field'")" 1 \
  "a notified lead without a phone becomes a reject row, the row resolved (never redelivered forever)"

# --- Google Ads lead form webhooks -------------------------------------------------------
KN_PHONE=9812300001
tap_sql "SELECT ingest_lead('knowlarity_call', '{\"uuid\": \"kn-w1\", \"customer_number\": \"+91$KN_PHONE\"}')" >/dev/null
google() {  # LEAD-ID PHONE KEY [IS_TEST]
  jq -cn --arg id "$1" --arg phone "$2" --arg key "$3" --argjson test "${4:-false}" '{lead_id: $id, api_version: "1.0",
    form_id: 40001, campaign_id: 1, google_key: $key, is_test: $test, user_column_data: [
    {column_id: "FULL_NAME", string_value: "Asha Rao"}, {column_id: "PHONE_NUMBER", string_value: ("+91-" + $phone)}]}'
}
post_google() { post "$1" /webhooks/google "$2" -H 'Content-Type: application/json'; }
LEAD=$(google g-1 "$KN_PHONE" "$SERVE_GOOGLE_KEY")
before=$(tables)
tap_is "$(post_google gw_wrong "$(google g-1 "$KN_PHONE" wrong-key)")/$(tables)" "403/$before" \
  "POST /webhooks/google with a wrong google_key: 403, nothing stored"
tap_is "$(post_google gw_nokey "$(jq -c 'del(.google_key)' <<<"$LEAD")")/$(tables)" "403/$before" \
  "without google_key: 403, nothing stored"
tap_is "$(post gw_ctype /webhooks/google "$LEAD" -H 'Content-Type: application/x-www-form-urlencoded')/$(tables)" \
  "415/$before" "a form-encoded body: 415, nothing stored"
tap_is "$(post_google gw_bad '{"lead_id": ')/$(tables)" "400/$before" "malformed JSON: 400, nothing stored"
tap_is "$(post_google gw_array "[$LEAD]")/$(tables)" "400/$before" "an array instead of one lead: 400, nothing stored"
tap_is "$(post_google gw_ok "$LEAD")/$(jq -c '[.insertedNew, .crossSourceHistory]' "$TAP_TMP/gw_ok.body")" "200/[0,1]" \
  "a Google lead for a phone Knowlarity sent: 200, a history row (case C)"
tap_is "$(post_google gw_again "$LEAD")/$(jq -c .duplicateSameSource "$TAP_TMP/gw_again.body")" "200/1" \
  "the same webhook again: 200, same source (case B)"
tap_is "$(tap_sql "SELECT total_leads_count || ' ' || (SELECT total_leads_count FROM sources WHERE source_type = 'knowlarity_call')
                    FROM sources WHERE source_type = 'google_ads'")" "1 1" "google_ads and knowlarity_call count 1 each"
tap_is "$(tap_sql "SELECT count(*) FROM lead_sources_history WHERE raw_payload::text LIKE '%$SERVE_GOOGLE_KEY%'")" 0 \
  "google_key is never stored in a raw payload"
tap_is "$(post_google gw_test "$(google g-test 9812300077 "$SERVE_GOOGLE_KEY" true)")/$(jq -c .rejected "$TAP_TMP/gw_test.body")" \
  "200/1" "a test lead (is_test true): 200, a reject"
tap_is "$(tap_sql "SELECT r.reason || ' ' || s.total_leads_count FROM lead_rejects r JOIN sources s ON s.id = r.source_id
                    WHERE r.raw_payload->>'lead_id' = 'g-test'")" "test lead 1" "with reason \"test lead\", never counted"
tap_is "$(post_google gw_nophone "$(jq -c 'del(.user_column_data[1])' <<<"$(google g-np 0 "$SERVE_GOOGLE_KEY")")")/$(tap_sql \
  "SELECT reason FROM lead_rejects WHERE raw_payload->>'lead_id' = 'g-np'")" "200/no phone field" \
  "a lead without a phone: 200 and a reject row that says why"

# --- a custom source, with a bearer secret ----------------------------------------------
CRM='[{"phone": "+91 98123 00002", "ref": "c-1"}, {"phone": "98123 00003", "ref": "c-2"}]'
post_crm() { post "$1" /webhooks/crm_webhook "$2" -H 'Content-Type: application/json' "${@:3}"; }
before=$(tables)
tap_is "$(post_crm c_none "$CRM")/$(tables)" "401/$before" "POST /webhooks/crm_webhook without Authorization: 401"
tap_is "$(post_crm c_wrong "$CRM" -H 'Authorization: Bearer crm-bearer-secret-0123456788')/$(tables)" "403/$before" \
  "a wrong bearer secret: 403, nothing stored"
tap_is "$(post_crm c_ok "$CRM" -H "Authorization: Bearer $SERVE_CRM_SECRET")/$(jq -c .insertedNew "$TAP_TMP/c_ok.body")" \
  "200/2" "the right secret: 200, an array of two payloads ingested"
tap_is "$(post_crm c_one '{"phone": "9812300002", "ref": "c-1"}' -H "Authorization: Bearer $SERVE_CRM_SECRET")/$(jq -c \
  .duplicateSameSource "$TAP_TMP/c_one.body")" "200/1" "one object alone: 200, the same lead again (case B)"
tap_is "$(post c_get /webhooks/crm_webhook '' -X GET)" 405 "GET on a push route: 405"
tap_is "$(post c_unknown /webhooks/no_such_source '{}' -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $SERVE_CRM_SECRET")" 404 "a source type with no configured secret: 404"
tap_is "$(post c_path '/webhooks/..%2fhealthz' '{}')" 404 "a hostile path: 404"

# --- limits, unknown routes, metrics ----------------------------------------------------------
before=$(tables)
BIG=$(jq -cn --arg pad "$(head -c 5000 /dev/zero | tr '\0' x)" '{phone: "9812300009", pad: $pad}')
tap_is "$(post_crm c_big "$BIG" -H "Authorization: Bearer $SERVE_CRM_SECRET")/$(tables)" "413/$before" \
  "a body over LEADSYNC_WEBHOOK_MAX_BODY_BYTES: 413, nothing stored"
tap_is "$(post_crm c_chunked "$BIG" -H "Authorization: Bearer $SERVE_CRM_SECRET" -H 'Transfer-Encoding: chunked')/$(tables)" \
  "413/$before" "the same sent chunked (no Content-Length): 413, nothing stored"
tap_is "$(curl -sS -o /dev/null -w '%{http_code}' "$SERVE/nothing/here")" 404 "an unknown route: 404"
curl -sS "$SERVE/metrics" >"$TAP_TMP/metrics.txt"
tap_ok "GET /metrics counts requests by route and status" \
  grep -q '^leadsync_webhook_requests_total{route="/webhooks/google",status="403"} 2$' "$TAP_TMP/metrics.txt"
tap_ok "and ingest outcomes by source and case" \
  grep -q '^leadsync_webhook_ingest_outcomes_total{source_type="google_ads",case="cross_source_history"} 1$' \
  "$TAP_TMP/metrics.txt"
tap_ok "and a latency histogram, the pending inbox rows and the database errors" \
  bash -c "grep -q '^leadsync_webhook_request_seconds_bucket{route=\"/webhooks/meta\",le=\"+Inf\"} ' '$TAP_TMP/metrics.txt' &&
           grep -q '^leadsync_webhook_inbox_pending 0$' '$TAP_TMP/metrics.txt' &&
           grep -q '^leadsync_webhook_database_errors_total ' '$TAP_TMP/metrics.txt'"
tap_is "$(grep -c 'route="/nothing' "$TAP_TMP/metrics.txt")" 0 "a path a client made up never becomes a label"

# --- the database unreachable ------------------------------------------------------------------
MAIN_SERVE=$SERVE
MAIN_PID=$SERVE_PID
TAP_DB=lstest_no_such_database serve_start serve_nodb || tap_abort "no second server"
tap_is "$(curl -sS -o /dev/null -w '%{http_code}' "$SERVE/healthz")" 503 "GET /healthz: 503 when the database does not answer"
tap_is "$(post_google nodb_google "$LEAD")" 503 "a Google webhook then: 503, never 200"
tap_is "$(post_meta nodb_meta "$(meta_webhook 777)")" 503 "a Meta webhook then: 503 (the notification is not stored)"
serve_stop
tap_is "$SERVE_RC" 0 "SIGTERM: the server stops and exits 0"
serve_start serve_nometa META_APP_SECRET= || tap_abort "no third server"
tap_is "$(post_meta nometa "$NOTIFY")/$(curl -sS -o /dev/null -w '%{http_code}' "$SERVE/webhooks/meta")" "404/404" \
  "without META_APP_SECRET the Meta route is off: 404"
serve_stop
SERVE=$MAIN_SERVE
SERVE_PID=$MAIN_PID
serve_stop
tap_like "$(tail -n 1 "$TAP_TMP/serve.err")" "stopped$" "the main server stopped cleanly after every request"

# --- slow clients -------------------------------------------------------------------------------
serve_start serve_slow LEADSYNC_WEBHOOK_REQUEST_TIMEOUT_SECONDS=2 || tap_abort "no fourth server"
PORT=${SERVE##*:}
# closed_after SECONDS-LIMIT: reads fd 3 until the server closes it; prints whole seconds.
closed_after() {
  local start=$SECONDS
  timeout "$1" cat <&3 >/dev/null
  echo $((SECONDS - start))
}
exec 3<>"/dev/tcp/127.0.0.1/$PORT" 4<>"/dev/tcp/127.0.0.1/$PORT" 5<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /webhooks/google HTTP/1.1\r\nHost: x\r\n' >&3
printf 'POST /webhooks/google HTTP/1.1\r\nHost: x\r\n' >&4
printf 'POST /webhooks/google HTTP/1.1\r\nHost: x\r\n' >&5
tap_is "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 1 "$SERVE/healthz")" 200 \
  "three clients stalled mid-headers hold no worker: /healthz answers at once"
tap_ok "a client silent mid-headers is disconnected after the idle timeout (2 s)" test "$(closed_after 8)" -le 4
exec 3>&- 4>&- 5>&-
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /webhooks/google HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n' >&3
( for _ in $(seq 16); do printf ' ' >&3 2>/dev/null || exit 0; sleep 0.5; done ) &
tap_ok "a body trickled a byte every 0.5 s is cut off after the request timeout (2 s)" test "$(closed_after 8)" -le 4
exec 3>&-
serve_stop

# --- secrets, root ------------------------------------------------------------------------
tap_sql "SELECT string_agg(error, E'\n') FROM sync_runs" >"$TAP_TMP/serve-runs.err"  # the runs' errors too
leaked=""
for secret in "${SERVE_SECRETS[@]}" "${FETCH_SECRETS[@]}"; do
  grep -qF -- "$secret" "$TAP_TMP"/serve*.err "$TAP_TMP"/*.body && leaked+=" $secret"
done
tap_is "$leaked" "" "no secret or token in the server's log, in any answer or in a run's error"
if [ "$(id -u)" = 0 ]; then
  env META_APP_SECRET=x META_ACCESS_TOKEN=y "$LEADSYNC_FETCH" serve >"$TAP_TMP/root.out" 2>&1
  tap_is "$?/$(grep -c 'refusing to run as root' "$TAP_TMP/root.out")" "2/1" "as root it refuses to start (exit 2)"
else
  tap_skip "not root: the refusal to run as root is not exercised"
fi
