# shellcheck shell=bash disable=SC2034  # SERVE_* are read by the files sourcing this
# Helpers for the tests of leadsync-fetch serve (test/t/webhooks*.sh): the real server on
# a free loopback port, as an unprivileged user (it refuses root), and signed webhooks.
# Source it after lib/tap.sh and lib/fetch.sh (the fake platforms serve Graph's leads).

SERVE_APP_SECRET=meta-app-secret-4Kq9
SERVE_VERIFY_TOKEN=meta-verify-token-Z3
SERVE_GOOGLE_KEY=google-webhook-key-8Vw
SERVE_CRM_SECRET=crm-bearer-secret-0123456789
SERVE_SECRETS=("$SERVE_APP_SECRET" "$SERVE_VERIFY_TOKEN" "$SERVE_GOOGLE_KEY" "$SERVE_CRM_SECRET")

# serve_start NAME [VAR=VALUE...]: starts the server on the test database (TAP_DB) with
# the test secrets and the given extra settings; waits for its "listening on" line. Sets
# SERVE (its base URL) and SERVE_PID; its stderr goes to $TAP_TMP/NAME.err.
serve_start() {
  local name=$1 i port as_user=() binary=$LEADSYNC_FETCH
  shift
  if [ "$(id -u)" = 0 ]; then
    # nobody may not reach the build tree (a clone under /root): a copy it can run.
    binary=$TAP_TMP/leadsync-fetch-serve
    [ -x "$binary" ] || { chmod 711 "$TAP_TMP" && install -m 755 "$LEADSYNC_FETCH" "$binary"; }
    as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  fi
  : >"$TAP_TMP/$name.err"
  "${as_user[@]}" env DATABASE_URL="dbname=$TAP_DB" LEADSYNC_LISTEN=127.0.0.1:0 \
    META_APP_SECRET="$SERVE_APP_SECRET" META_WEBHOOK_VERIFY_TOKEN="$SERVE_VERIFY_TOKEN" \
    GOOGLE_ADS_WEBHOOK_KEY="$SERVE_GOOGLE_KEY" LEADSYNC_WEBHOOK_SOURCES=crm_webhook \
    LEADSYNC_WEBHOOK_SECRET_CRM_WEBHOOK="$SERVE_CRM_SECRET" "$@" \
    "$binary" serve 2>>"$TAP_TMP/$name.err" &
  SERVE_PID=$!
  for ((i = 0; i < 200; i++)); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TAP_TMP/$name.err")
    [ -n "$port" ] && break
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { tap_diag "serve did not start: $(cat "$TAP_TMP/$name.err")"; return 1; }
  SERVE=http://127.0.0.1:$port
}

# serve_stop: SIGTERM, then waits; sets SERVE_RC.
serve_stop() {
  kill -TERM "$SERVE_PID" 2>/dev/null
  wait "$SERVE_PID"
  SERVE_RC=$?
}

# post NAME PATH BODY [curl options...]: POSTs BODY; the status in $TAP_TMP/NAME.status,
# the answer in $TAP_TMP/NAME.body; prints the status.
post() {
  local name=$1 path=$2 body=$3
  shift 3
  printf '%s' "$body" >"$TAP_TMP/$name.request"
  curl -sS --max-time 10 -o "$TAP_TMP/$name.body" -w '%{http_code}' -X POST --data-binary "@$TAP_TMP/$name.request" \
    "$@" "$SERVE$path" | tee "$TAP_TMP/$name.status"
}

# meta_signature BODY: the X-Hub-Signature-256 header value Meta would send.
meta_signature() {
  printf 'sha256=%s' "$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$SERVE_APP_SECRET" -r | cut -d' ' -f1)"
}

# post_meta NAME BODY [curl options...]: a signed Meta webhook.
post_meta() {
  local name=$1 body=$2
  shift 2
  post "$name" /webhooks/meta "$body" -H 'Content-Type: application/json' \
    -H "X-Hub-Signature-256: $(meta_signature "$body")" "$@"
}

# meta_webhook ID...: a page webhook notifying the leads ID... (leadgen changes).
meta_webhook() {
  jq -cn --arg page "$FETCH_META_PAGE_ID" '{object: "page", entry: [{id: $page, time: 1700000000,
    changes: [$ARGS.positional[] | {field: "leadgen", value: {leadgen_id: ., page_id: $page}}]}]}' --args "$@"
}
