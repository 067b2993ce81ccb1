#!/usr/bin/env bash
# Meta delivering to leadsync-fetch serve, end to end over loopback: the fake platform
# server plays Meta's side (the subscription handshake it makes, new leads it announces
# by signed page webhooks, replays and bad signatures it sends), the server answers and
# resolves each lead through the fake's Graph API, and the tables are checked after
# each step.
set -u
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"
source "$(dirname "$0")/lib/serve.sh"
tap_plan 15

fetch_start_fake --leads-per-form 4 --calls 2 --google-leads 2 --meta-app-secret "$SERVE_APP_SECRET" \
  --meta-verify-token "$SERVE_VERIFY_TOKEN" || tap_abort "no fake platforms"
tap_create_db webhooks_meta_delivery || tap_abort "cannot create a database"
# The fake's page is account "showroom" with its own token; the shared token is wrong, so
# a lead is read only if the server picks the token of the page the notification names.
serve_start serve LEADSYNC_WEBHOOK_RESOLVERS=2 META_ACCOUNTS=showroom META_PAGE_ID_SHOWROOM="$FETCH_META_PAGE_ID" \
  META_ACCESS_TOKEN_SHOWROOM="$FETCH_META_TOKEN" META_ACCESS_TOKEN=wrong-shared-token || tap_abort "no server"
HOOK=$SERVE/webhooks/meta

# meta_says NAME WHAT BODY: asks the fake Meta to act (POST /_control/meta/WHAT); its
# answer in $TAP_TMP/NAME.answer.
meta_says() { curl -sS --fail --max-time 20 -H 'Content-Type: application/json' -d "$3" "$FAKE/_control/meta/$2" >"$TAP_TMP/$1.answer"; }
tables() { tap_sql "SELECT concat_ws(' ', (SELECT count(*) FROM leads_master), (SELECT count(*) FROM lead_sources_history),
                      (SELECT count(*) FROM lead_rejects), (SELECT count(*) FROM webhook_inbox))"; }

# --- the subscription handshake, made by Meta ---------------------------------------------------
meta_says sub subscribe "$(jq -cn --arg url "$HOOK" '{webhook_url: $url}')"
tap_is "$(jq -c '[.status, .verified]' "$TAP_TMP/sub.answer")" '[200,true]' \
  "Meta's subscription handshake with the verify token: 200 and the challenge echoed"
meta_says sub_bad subscribe "$(jq -cn --arg url "$HOOK" '{webhook_url: $url, verify_token: "not-the-token"}')"
tap_is "$(jq -c '[.status, .verified]' "$TAP_TMP/sub_bad.answer")" '[403,false]' "with another verify token: 403, not verified"

# --- new leads announced by Meta ----------------------------------------------------------------
KN_PHONE=9845012377
tap_sql "SELECT ingest_lead('knowlarity_call', '{\"uuid\": \"kn-m1\", \"customer_number\": \"0$KN_PHONE\"}')" >/dev/null
meta_says new leads "$(jq -cn --arg url "$HOOK" '{webhook_url: $url, count: 3}')"
tap_is "$(jq -c '[.webhook.status, (.webhook.body | fromjson)]' "$TAP_TMP/new.answer")" '[200,{"new":3,"notified":3}]' \
  "three new leads in one signed webhook: 200, all three committed to the inbox"
mapfile -t NEW_IDS < <(jq -r '.leads[].id' "$TAP_TMP/new.answer")
meta_says known leads "$(jq -cn --arg url "$HOOK" --arg phone "+91 ${KN_PHONE:0:5} ${KN_PHONE:5}" \
  '{webhook_url: $url, phone: $phone, full_name: "Asha Rao"}')"
KNOWN_ID=$(jq -r '.leads[0].id' "$TAP_TMP/known.answer")
tap_is "$(jq -c .webhook.status "$TAP_TMP/known.answer")" 200 "a lead for a phone Knowlarity already sent: 200"
tap_wait_for "the inbox resolved" 15 "SELECT count(*) FROM webhook_inbox WHERE resolved_at IS NOT NULL" 4
IDS_SQL=$(printf "'%s'," "${NEW_IDS[@]}")
tap_is "$(tap_sql "SELECT count(*) FROM leads_master l JOIN sources s ON s.id = l.source_id
                    WHERE s.source_type = 'meta_form' AND l.external_lead_id IN (${IDS_SQL%,})")" 3 \
  "the three were read from Graph by id and stored as new meta_form leads (case A)"
tap_is "$(tap_sql "SELECT h.is_primary || ' ' || s.source_type FROM lead_sources_history h
                    JOIN leads_master l ON l.id = h.lead_id JOIN sources s ON s.id = l.source_id WHERE h.external_id = '$KNOWN_ID'")" "false knowlarity_call" \
  "the known phone became a history row of Meta, not a second lead (case C); the lead stays Knowlarity's"
tap_is "$(tap_sql "SELECT string_agg(source_type || '=' || total_leads_count, ' ' ORDER BY source_type) FROM sources
                    WHERE source_type IN ('meta_form', 'knowlarity_call')")" "knowlarity_call=1 meta_form=4" \
  "counts: Meta 4 (3 new, 1 cross-source), Knowlarity 1"

# --- Meta delivering again, and forged deliveries -------------------------------------------------
before=$(tables)
ALL_IDS=$(printf '%s\n' "${NEW_IDS[@]}" "$KNOWN_ID" | jq -R . | jq -cs .)
meta_says replay webhook "$(jq -cn --arg url "$HOOK" --argjson ids "$ALL_IDS" '{webhook_url: $url, leadgen_ids: $ids}')"
tap_is "$(jq -c '[.webhook.status, (.webhook.body | fromjson)]' "$TAP_TMP/replay.answer")/$(tables)" \
  "[200,{\"new\":0,\"notified\":4}]/$before" "Meta delivering the same four again: 200, nothing new, nothing stored"
meta_says unsigned webhook "$(jq -cn --arg url "$HOOK" --argjson ids "$ALL_IDS" '{webhook_url: $url, leadgen_ids: $ids, sign: false}')"
tap_is "$(jq -c .webhook.status "$TAP_TMP/unsigned.answer")/$(tables)" "403/$before" "an unsigned delivery: 403, nothing stored"
meta_says quiet leads '{}'  # a lead made with no webhook (the fake has no --meta-webhook-url)
QUIET_ID=$(jq -r '.leads[0].id' "$TAP_TMP/quiet.answer")
meta_says forged webhook "$(jq -cn --arg url "$HOOK" --arg id "$QUIET_ID" \
  '{webhook_url: $url, leadgen_ids: [$id], secret: "another-app-secret"}')"
tap_is "$(jq -c .webhook.status "$TAP_TMP/forged.answer")/$(tables)" "403/$before" \
  "a delivery signed under another app's secret: 403, nothing stored"
meta_says signed webhook "$(jq -cn --arg url "$HOOK" --arg id "$QUIET_ID" '{webhook_url: $url, leadgen_ids: [$id]}')"
tap_is "$(jq -c .webhook.status "$TAP_TMP/signed.answer")" 200 "the same lead signed under the app's secret: 200"
tap_wait_for "the inbox resolved" 15 "SELECT count(*) FROM webhook_inbox WHERE resolved_at IS NOT NULL" 5
tap_is "$(tap_sql "SELECT count(*) FROM leads_master WHERE external_lead_id = '$QUIET_ID'")" 1 "and stored"
tap_is "$(tap_sql "SELECT count(*) || ' ' || string_agg(DISTINCT account || '/' || path || '/' || (error IS NULL), ',')
                    || ' ' || sum(inserted_new + cross_source_history) FROM sync_runs")" "5 showroom/webhook/true 5" \
  "each lead was read with its page's token (account showroom), each read one sync_runs row of path webhook"

serve_stop
tap_is "$SERVE_RC" 0 "SIGTERM: the server exits 0"
leaked=""
for secret in "${SERVE_SECRETS[@]}" "${FETCH_SECRETS[@]}"; do
  grep -qF -- "$secret" "$TAP_TMP"/serve.err "$TAP_TMP"/*.answer && leaked+=" $secret"
done
tap_is "$leaked" "" "no secret or token in the server's log or in any answer"
