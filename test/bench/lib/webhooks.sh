# shellcheck shell=bash
# bench_webhooks for run.sh (sourced; uses its helpers, sizes and $WORK): leadsync-fetch
# serve against ingest_lead by pgbench, on the same server, in the same run.
#
#   wh.google_rps / wh.pgbench_tps   WH_LEADS new Google leads from 8 clients: wrk posting
#                                    webhooks / pgbench calling ingest_lead, same bytes
#   wh.server_cpu_us                 the server's own CPU time per webhook in that run
#   wh.rate_p99_ms                   Google webhooks at 200 requests/s: p99 of the answers
#   wh.meta_p99_ms                   Meta webhooks at 100 leads/s, fake Graph answering in
#                                    50 ms: p99 from the 2xx to the row seen by a reader
#   wh.rss_small_kb / wh.rss_big_kb  the server's RSS after WH_RSS_SMALL / WH_RSS_BIG requests

WH_APP_SECRET=bench-meta-app-secret
WH_GOOGLE_KEY=bench-google-webhook-key
WH_SERVE_PID="" WH_URL="" WH_FAKE_PID="" WH_FAKE_URL=""

# The server runs as nobody when run.sh is root (it refuses root), from a copy nobody can reach,
# with as many database sessions (8) as pgbench has clients: the same concurrency both ways.
wh_start_server() {
  local as_user=() binary=$FETCH port="" i
  if [ "$(id -u)" = 0 ]; then
    binary=$WORK/leadsync-fetch-serve
    install -m 755 "$FETCH" "$binary"
    as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  fi
  : >"$WORK/serve.err"
  "${as_user[@]}" env no_proxy=127.0.0.1 NO_PROXY=127.0.0.1 http_proxy= https_proxy= HTTP_PROXY= HTTPS_PROXY= \
    DATABASE_URL="dbname=$DB" LEADSYNC_LISTEN=127.0.0.1:0 GOOGLE_ADS_WEBHOOK_KEY=$WH_GOOGLE_KEY \
    LEADSYNC_WEBHOOK_DB_CONNECTIONS=8 \
    META_APP_SECRET=$WH_APP_SECRET META_ACCESS_TOKEN=meta-test-token META_GRAPH_URL="$WH_FAKE_URL/meta/v25.0" \
    "$binary" serve 2>>"$WORK/serve.err" &
  WH_SERVE_PID=$!
  for ((i = 0; i < 200; i++)); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/serve.err")
    [ -n "$port" ] && break
    kill -0 "$WH_SERVE_PID" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$WORK/serve.err" >&2; fail "leadsync-fetch serve did not start"; }
  WH_URL=http://127.0.0.1:$port
}
wh_stop_server() {
  kill -TERM "$WH_SERVE_PID" 2>/dev/null || true
  wait "$WH_SERVE_PID" || fail "leadsync-fetch serve did not stop cleanly: $(tail -n 5 "$WORK/serve.err")"
  WH_SERVE_PID=""
}
wh_start_fake() { # leads per form
  local port_file=$WORK/wh_fake.port i
  python3 "$BENCH_DIR/../fake_platforms/fake_platforms.py" --port 0 --port-file "$port_file" \
    --leads-per-form "$1" --max-lifetime 3600 >/dev/null 2>>"$WORK/wh_fake.err" &
  WH_FAKE_PID=$!
  for ((i = 0; i < 600; i++)); do
    [ -s "$port_file" ] && break
    kill -0 "$WH_FAKE_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$port_file" ] || { cat "$WORK/wh_fake.err" >&2; fail "the fake Graph API did not start"; }
  WH_FAKE_URL=http://127.0.0.1:$(cat "$port_file")
}
wh_cleanup() {
  if [ -n "$WH_SERVE_PID" ]; then kill -TERM "$WH_SERVE_PID" 2>/dev/null || true; wait "$WH_SERVE_PID" 2>/dev/null || true; fi
  if [ -n "$WH_FAKE_PID" ]; then kill "$WH_FAKE_PID" 2>/dev/null || true; wait "$WH_FAKE_PID" 2>/dev/null || true; fi
  WH_SERVE_PID="" WH_FAKE_PID=""
}
wh_rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$WH_SERVE_PID/status"; }
# The server's CPU time so far (user + system), in ms.
wh_cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$WH_SERVE_PID/stat"; }

# wh_wrk TOTAL FIRST: TOTAL new Google leads numbered from FIRST, 8 clients; sets WH_WRK
# (google_webhooks.lua's summary line) after checking every answer was a 2xx.
wh_wrk() {
  rm -f "$WORK/wrk.done"
  env no_proxy=127.0.0.1 wrk -t 8 -c 8 -d 3600s --timeout 30s -s "$BENCH_DIR/lib/google_webhooks.lua" "$WH_URL" \
    -- "$1" "$2" "$WH_GOOGLE_KEY" 8 "$WORK/wrk.done" >"$WORK/wrk.out" 2>&1 || { cat "$WORK/wrk.out" >&2; fail "wrk failed"; }
  WH_WRK=$(grep '^leads=' "$WORK/wrk.out") || { cat "$WORK/wrk.out" >&2; fail "no summary from wrk"; }
  [[ $WH_WRK == *" non2xx=0 socket_errors=0 "* ]] || { cat "$WORK/wrk.out" >&2; fail "webhooks not answered 2xx: $WH_WRK"; }
}
wh_field() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"; }
wh_json() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$2" "$1"; }

bench_webhooks() {
  command -v wrk >/dev/null || fail "wrk not found (Debian package: wrk)"
  [ -x "$FETCH" ] || fail "leadsync-fetch not found at $FETCH (set LEADSYNC_FETCH)"
  local round out tps seen cpu meta_leads=$((WH_META_RATE * WH_META_SECONDS))
  say "webhooks: $WH_LEADS Google webhooks vs pgbench ($ROUNDS_SLOW rounds); 200/s for ${WH_RATE_SECONDS}s;" \
      "Meta at $WH_META_RATE/s for ${WH_META_SECONDS}s; RSS after $WH_RSS_SMALL and $WH_RSS_BIG requests"
  wh_start_fake $(((meta_leads + 100) / 3 + 1))
  # Graph answers every lead read in 50 ms, as a real API's round trip would take.
  curl -sS -f -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d '{"path": "/meta/", "fault": "delay", "delay_ms": 50, "times": -1}' "$WH_FAKE_URL/_control/faults" ||
    fail "the fake did not take the delay rule"
  wh_start_server

  # Throughput: the same WH_LEADS leads (same numbers, same bytes) both ways, interleaved.
  for ((round = 1; round <= ROUNDS_SLOW; round++)); do
    reset true
    cpu=$(wh_cpu_ms)
    wh_wrk "$WH_LEADS" 1
    record wh.server_cpu_us "$(awk -v ms=$(($(wh_cpu_ms) - cpu)) -v n="$WH_LEADS" 'BEGIN {printf "%.1f", ms * 1000 / n}')"
    record wh.google_rps "$(awk -v n="$(wh_field leads "$WH_WRK")" -v s="$(wh_field seconds "$WH_WRK")" 'BEGIN {printf "%.1f", n / s}')"
    record wh.wrk_p99_ms "$(wh_field p99_ms "$WH_WRK")"
    check "SELECT (SELECT count(*) FROM public.leads_master) = $SEED_LEADS + $WH_LEADS
              AND leadsync_bench.invariant_violations() = 0" "every webhook lead stored once"
    reset true
    sql -c "SELECT setval('leadsync_bench.webhook_lead_seq', 1, false)" >/dev/null
    out=$WORK/pgbench.webhook.$round.out
    pgbench -n -M prepared -c 8 -j 8 -t $((WH_LEADS / 8)) -f "$BENCH_DIR/baselines/webhook_ingest_lead.pgbench" \
      "$DB" >"$out" 2>&1 || { cat "$out" >&2; fail "pgbench (webhook payloads) failed"; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out")
    [ -n "$tps" ] || { cat "$out" >&2; fail "no tps in pgbench output"; }
    record wh.pgbench_tps "$tps"
    check "SELECT (SELECT count(*) FROM public.leads_master) = $SEED_LEADS + $((WH_LEADS / 8 * 8))
              AND leadsync_bench.invariant_violations() = 0" "every pgbench lead stored once"
  done

  # Latency at a fixed 200 requests/s, new leads.
  reset true
  out=$(python3 "$BENCH_DIR/lib/webhook_load.py" google --url "$WH_URL" --key "$WH_GOOGLE_KEY" --rate 200 \
          --seconds "$WH_RATE_SECONDS" --first 1000000) || fail "the 200/s run failed"
  [ "$(wh_json non2xx "$out")" = 0 ] || fail "200/s run: answers other than 2xx: $out"
  record wh.rate_p99_ms "$(wh_json p99_ms "$out")"
  record wh.rate_p50_ms "$(wh_json p50_ms "$out")"

  # Meta: 2xx (the notification committed) to the lead's row visible (Graph read, ingest).
  reset true
  out=$(python3 "$BENCH_DIR/lib/webhook_load.py" meta --url "$WH_URL" --secret "$WH_APP_SECRET" --fake "$WH_FAKE_URL" \
          --db "$DB" --rate "$WH_META_RATE" --seconds "$WH_META_SECONDS") || fail "the Meta run failed"
  seen=$(wh_json seen "$out")
  [ "$(wh_json non2xx "$out")" = 0 ] && [ "$seen" = "$meta_leads" ] ||
    fail "Meta run: not every notification answered 2xx and resolved: $out"
  record wh.meta_p99_ms "$(wh_json p99_ms "$out")"
  record wh.meta_p50_ms "$(wh_json p50_ms "$out")"
  check "SELECT (SELECT count(*) FROM public.webhook_inbox WHERE resolved_at IS NULL) = 0" "the inbox resolved"

  # Memory: a fresh server, RSS after WH_RSS_SMALL requests and after WH_RSS_BIG in all.
  wh_stop_server
  reset true
  wh_start_server
  wh_wrk "$WH_RSS_SMALL" 2000000
  record wh.rss_small_kb "$(wh_rss_kb)"
  wh_wrk $((WH_RSS_BIG - WH_RSS_SMALL)) $((2000000 + WH_RSS_SMALL))
  record wh.rss_big_kb "$(wh_rss_kb)"
  check "SELECT (SELECT count(*) FROM public.leads_master) = $SEED_LEADS + $WH_RSS_BIG" "every RSS-run lead stored"
  wh_stop_server
  wh_cleanup
  reset true
}
