#!/usr/bin/env bash
# SIGTERM to leadsync-fetch serve while work is in flight: it stops accepting, finishes
# the request whose body is still arriving and the inbox rows its resolvers are reading
# from a slow Graph, then exits 0, with every lead stored and no row left claimed.
set -u
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"
source "$(dirname "$0")/lib/serve.sh"
tap_plan 8

fetch_start_fake --leads-per-form 4 --calls 2 --google-leads 2 || tap_abort "no fake platforms"
tap_create_db webhooks_sigterm || tap_abort "cannot create a database"
serve_start serve LEADSYNC_WEBHOOK_RESOLVERS=2 || tap_abort "no server"
PORT=${SERVE##*:}

# Graph answers every lead read after 1.5 s: the resolvers are mid-read at the SIGTERM.
fake_fault '{"path": "/meta/", "fault": "delay", "delay_ms": 1500, "times": -1}'
mapfile -t IDS < <(jq -r '.meta.leads | map(select(.bad == null and .form_status == "ACTIVE"))
  | group_by(.phone_key) | map(.[0]) | .[0:2][] | .id' "$FAKE_DATA")
tap_is "$(post_meta notify "$(meta_webhook "${IDS[@]}")")" 200 "two Meta leads notified: 200"
tap_wait_for "both rows claimed" 10 "SELECT count(*) FROM webhook_inbox WHERE attempts = 1" 2

# A Google lead whose body is half sent when the SIGTERM comes.
LEAD=$(jq -cn --arg key "$SERVE_GOOGLE_KEY" '{lead_id: "g-term", google_key: $key,
  user_column_data: [{column_id: "PHONE_NUMBER", string_value: "+91 98123 40001"}]}')
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /webhooks/google HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
  "${#LEAD}" "${LEAD:0:20}" >&3
sleep 0.2
kill -TERM "$SERVE_PID"
sleep 0.3
curl -sS -o /dev/null --max-time 2 "$SERVE/healthz" 2>/dev/null
tap_is "$?" 7 "after SIGTERM a new connection is refused"
sleep 2.5  # the rest of the body only after the resolvers are done: it alone keeps the server up
printf '%s' "${LEAD:20}" >&3
ANSWER=$(timeout 10 head -n 1 <&3 | tr -d '\r')
exec 3>&-
tap_is "$ANSWER" "HTTP/1.1 200 OK" "the request whose body was arriving at the SIGTERM is finished: 200"
wait "$SERVE_PID"
tap_is "$?" 0 "the server exits 0"
tap_is "$(tap_sql "SELECT count(*) FROM leads_master WHERE external_lead_id = 'g-term'")" 1 "and that lead is stored"
tap_is "$(tap_sql "SELECT count(*) FROM webhook_inbox WHERE resolved_at IS NOT NULL AND attempts = 1")" 2 \
  "the two rows being resolved were finished before the exit, not left claimed"
tap_is "$(tap_sql "SELECT count(*) FROM leads_master WHERE external_lead_id IN ('${IDS[0]}', '${IDS[1]}')")" 2 \
  "and their leads are stored"
tap_like "$(tail -n 1 "$TAP_TMP/serve.err")" "stopped$" "it says it stopped, with nothing cut off"
