#!/usr/bin/env bash
# The main job on bundled sample data: installs what is needed, builds, starts a
# throwaway PostgreSQL with leadsync and the bundled fake platform server, receives a
# Meta and a Google webhook with leadsync-fetch serve, runs leadsync-fetch for Meta,
# Knowlarity and Google Ads through the real HTTP path, and
# prints each run's summary, `leadsync-fetch status` and `history`, the leads several
# platforms sent, how late each hour's leads arrived, and the rejects.
# LEADSYNC_KEEP_CLUSTER=1 leaves PostgreSQL running afterwards to look around with psql.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

install_packages
build_all
start_cluster

createdb leadsync_demo
psql -q -X -d leadsync_demo -c "CREATE EXTENSION leadsync" \
  -c "ALTER DATABASE leadsync_demo SET leadsync.timezone = 'Asia/Kolkata'"

# The bundled fake Meta, Knowlarity and Google Ads server plays the platforms' APIs on
# loopback, with leads spread over the last 48 hours and phones shared between them.
log "starting the fake platform server (test/fake_platforms)"
export META_APP_SECRET=demo-app-secret META_WEBHOOK_VERIFY_TOKEN=demo-verify-token GOOGLE_ADS_WEBHOOK_KEY=demo-google-key
python3 "$LEADSYNC_ROOT/test/fake_platforms/fake_platforms.py" --port 0 \
  --port-file "$LEADSYNC_CLUSTER_DIR/fake.port" --max-lifetime 600 \
  --meta-app-secret "$META_APP_SECRET" --meta-verify-token "$META_WEBHOOK_VERIFY_TOKEN" &
fake_pid=$!
trap 'kill $fake_pid 2>/dev/null; stop_cluster' EXIT
for _ in $(seq 50); do [ -s "$LEADSYNC_CLUSTER_DIR/fake.port" ] && break; sleep 0.1; done
fake="http://127.0.0.1:$(cat "$LEADSYNC_CLUSTER_DIR/fake.port")"

export DATABASE_URL="dbname=leadsync_demo" no_proxy=127.0.0.1
export META_GRAPH_URL=$fake/meta/v25.0 META_PAGE_ID=111222333444555 META_ACCESS_TOKEN=meta-test-token
export KNOWLARITY_BASE_URL=$fake/knowlarity KNOWLARITY_API_KEY=kn-test-key KNOWLARITY_AUTH_TOKEN=kn-test-token
export GOOGLE_ADS_API_URL=$fake/google/v21 GOOGLE_OAUTH_TOKEN_URL=$fake/google/token
export GOOGLE_ADS_CUSTOMER_ID=1234567890 GOOGLE_OAUTH_CLIENT_ID=demo-client
export GOOGLE_OAUTH_CLIENT_SECRET=demo-secret GOOGLE_OAUTH_REFRESH_TOKEN=g-refresh

fetch=$LEADSYNC_BUILD_DIR/fetcher/leadsync-fetch

# Real time first: leadsync-fetch serve answers the fake Meta's subscription handshake,
# then a customer submits a Meta lead form: the fake Meta announces it by a signed
# webhook (only the lead's id), and the server reads the lead from Graph. A Google Ads
# lead form webhook carries the lead itself. Each is stored before the answer is 200.
log "leadsync-fetch serve: leads arriving by webhook"
as_user=()
serve_binary=$fetch
if [ "$(id -u)" = 0 ]; then  # it refuses root; nobody may not reach the build tree
  serve_binary=$LEADSYNC_CLUSTER_DIR/leadsync-fetch
  install -m 755 "$fetch" "$serve_binary"
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
"${as_user[@]}" env LEADSYNC_LISTEN=127.0.0.1:0 "$serve_binary" serve 2>"$LEADSYNC_CLUSTER_DIR/serve.log" &
serve_pid=$!
trap 'kill $fake_pid $serve_pid 2>/dev/null; stop_cluster' EXIT
for _ in $(seq 100); do grep -q 'listening on' "$LEADSYNC_CLUSTER_DIR/serve.log" && break; sleep 0.05; done
serve="http://$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$LEADSYNC_CLUSTER_DIR/serve.log")"
meta_says() { curl -sS -H 'Content-Type: application/json' -d "$2" "$fake/_control/meta/$1"; }
printf 'Meta verifies the callback URL (GET /webhooks/meta): '
meta_says subscribe "{\"webhook_url\": \"$serve/webhooks/meta\"}" | jq -c '{status, verified}'
printf 'A customer submits a Meta lead form; Meta POSTs /webhooks/meta: '
meta_says leads "{\"webhook_url\": \"$serve/webhooks/meta\", \"phone\": \"+91 98450 00002\", \"full_name\": \"Ravi Kumar\"}" |
  jq -c '.webhook | {status, answer: (.body | fromjson)}'
printf 'Google Ads POSTs /webhooks/google: '
curl -sS -H 'Content-Type: application/json' "$serve/webhooks/google" -d '{"lead_id": "demo-webhook-1",
  "google_key": "demo-google-key", "user_column_data": [{"column_id": "FULL_NAME", "string_value": "Asha Rao"},
  {"column_id": "PHONE_NUMBER", "string_value": "+91 98450 00001"}]}'
echo
for _ in $(seq 100); do
  [ "$(psql -X -A -t -d leadsync_demo -c "SELECT count(*) FROM webhook_inbox WHERE resolved_at IS NULL")" = 0 ] && break
  sleep 0.05
done
psql -X -d leadsync_demo -c "SELECT l.full_name, l.phone_number_normalized AS phone, s.source_type,
    CASE WHEN i.id IS NULL THEN 'before its 200'
         ELSE round(extract(epoch FROM l.created_at - i.received_at) * 1000) || ' ms after its notification'
    END AS stored
  FROM leads_master l JOIN sources s ON s.id = l.source_id
  LEFT JOIN webhook_inbox i ON i.external_id = l.external_lead_id ORDER BY l.id"
kill -TERM "$serve_pid"
wait "$serve_pid" || true
# The fake's leads span 48 hours: the first runs ask for all of them with --since
# (a first run without it looks back 24 hours).
since=$(date -u -d '-48 hours' +%Y-%m-%dT%H:%M:%SZ)
for source in meta knowlarity google; do
  log "leadsync-fetch $source --since $since"
  "$fetch" "$source" --since "$since"
done
log "leadsync-fetch meta, again: it starts where the last run ended, minus 10 minutes"
"$fetch" meta
log "leadsync-fetch status"
"$fetch" status
log "leadsync-fetch history: the runs of every path (the webhook's Graph reads, the fetches)"
"$fetch" history --limit 8

psql -X -v ON_ERROR_STOP=1 -d leadsync_demo <<'SQL'
\pset footer off
\echo 'Leads sent by more than one platform:'
SELECT l.phone_number_normalized AS phone, l.full_name,
       string_agg(s.display_name || CASE WHEN h.is_primary THEN ' (primary)' ELSE '' END, ', '
                  ORDER BY h.is_primary DESC, h.id) AS sources
  FROM leads_master l
  JOIN lead_sources_history h ON h.lead_id = l.id
  JOIN sources s ON s.id = h.source_id
 GROUP BY l.id HAVING count(*) > 1 ORDER BY l.id LIMIT 10;

\echo 'How late leads arrived (lead_arrival_delays), the last hours of leadsync.timezone:'
SELECT source_type, hour, leads, date_trunc('second', median_delay) AS median,
       date_trunc('second', p95_delay) AS p95, date_trunc('second', max_delay) AS max
  FROM lead_arrival_delays ORDER BY hour DESC, source_type LIMIT 6;

\echo 'Rejected payloads:'
SELECT s.display_name AS "Source", r.reason FROM lead_rejects r JOIN sources s ON s.id = r.source_id ORDER BY r.id;
SQL

kill "$fake_pid" 2>/dev/null || true
if [ "${LEADSYNC_KEEP_CLUSTER:-0}" = 1 ]; then
  trap - EXIT
  log "server left running: psql -h $PGHOST -p $PGPORT -U postgres leadsync_demo"
fi
