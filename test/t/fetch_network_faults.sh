#!/usr/bin/env bash
# leadsync-fetch against a misbehaving network: the platform closes connections in the
# middle of a body, sends a response a byte at a time, or its host name does not resolve.
# Each ends in a successful retry or a clear error; never a lost page, never a window
# advanced past data that was not stored.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-100}
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 7
fetch_start_fake --leads-per-form 12 --calls 12 --google-leads 4 --page-size 4 --seed 13 ||
  tap_abort "cannot start the fake platforms server"
SINCE=$((FAKE_NOW - 49 * 3600))
window=(--since "$(fetch_iso "$SINCE")" --until "$(fetch_iso "$FAKE_NOW")")
EXPECT_META=$(fetch_expect meta "$SINCE" "$FAKE_NOW")
EXPECT_KN=$(fetch_expect knowlarity "$SINCE" "$FAKE_NOW")

# Connection closed after half the body, twice on the same page: retried, then complete.
tap_create_db net_close || tap_abort "cannot create a database"
fake_fault '{"path": "/leads", "fault": "close_mid_body", "after": 2, "times": 2}'
fetch_run close meta "${window[@]}"
tap_is "$FETCH_RC $(grep -c 'retrying' "$TAP_TMP/close.err")" "0 2" \
  "connections closed mid-body twice: both retried, exit 0"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT_META")" \
  "closed mid-body: every lead of every page is stored"

# A response a byte at a time (1 ms a byte, every call-log page): slow but whole.
tap_create_db net_slow || tap_abort "cannot create a database"
fake_reset
fake_fault '{"path": "/calllog", "fault": "slow_bytes", "delay_ms": 1, "max_seconds": 20, "times": -1}'
LEADSYNC_HTTP_TIMEOUT_SECONDS=30 fetch_run slow knowlarity "${window[@]}"
tap_is "$FETCH_RC $(fake_requests /calllog | jq '[.[] | select(.fault == "slow_bytes")] | length > 1')" "0 true" \
  "responses arriving byte by byte: exit 0"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples knowlarity_call "$EXPECT_KN")" \
  "byte by byte: every call is stored"

# A host name that does not resolve. The fetcher runs in a network namespace of its own
# with only loopback, so the lookup fails here and no query leaves the machine; the
# database is reached through its Unix socket, which namespaces do not separate.
tap_create_db net_dns || tap_abort "cannot create a database"
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  DATABASE_URL="dbname=$TAP_DB" META_GRAPH_URL=http://graph.leadsync-test.invalid/v25.0 \
    timeout 60 unshare -n sh -c 'ip link set lo up 2>/dev/null; exec "$0" "$@"' \
    "$LEADSYNC_FETCH" meta "${window[@]}" >"$TAP_TMP/dns.out" 2>"$TAP_TMP/dns.err"
  rc=$?
  tap_is "$rc $(grep -c 'Could not resolve host' "$TAP_TMP/dns.err" | awk '{print ($1 > 0)}')" "1 1" \
    "an unresolvable host name: exit 1, and stderr says the host could not be resolved"
  tap_is "$(jq -r '.error | test("resolve")' "$TAP_TMP/dns.out")" true "the summary line carries the same error"
  tap_is "$(tap_sql "SELECT count(*) FROM leads_master") $(tap_sql "SELECT count(*) FROM sync_state WHERE synced_until IS NOT NULL")" \
    "0 0" "nothing was stored and no window was saved"
else
  for d in "an unresolvable host name: exit 1" "the summary line carries the error" "no window was saved"; do
    tap_skip "$d" "needs root for a private network namespace"
  done
fi
