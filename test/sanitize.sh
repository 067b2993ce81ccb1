#!/usr/bin/env bash
# Memory and undefined-behaviour checks of the C++ code outside PostgreSQL:
#
#  1. a second CMake build with -DLEADSYNC_SANITIZE=ON (AddressSanitizer, LeakSanitizer,
#     UndefinedBehaviorSanitizer), and ctest there: the core's and the fetcher's unit tests;
#  2. that sanitized leadsync-fetch against the fake platform server, once per platform
#     through the whole happy path, and once per platform through a failure path (retries,
#     a token refresh, an expired token): exit status as documented, no sanitizer report;
#  3. valgrind memcheck of the plain (unsanitized) leadsync-fetch against the fake server,
#     every platform plus a failing run: no memcheck error, "definitely lost: 0 bytes".
#
#   bash test/sanitize.sh                # ~3-4 minutes from scratch, less when built
#   bash test/sanitize.sh --with-prove   # also prove test/t/fetch_*.sh with the sanitized fetcher
#
# Needs a PostgreSQL 15 with the leadsync extension installed: the one PGHOST/PGPORT/PGUSER
# point to when it answers (scripts/test.sh exports them), else a throwaway cluster started
# with scripts/lib.sh. It creates and drops its own database. Build directories:
# LEADSYNC_SANITIZE_BUILD_DIR (default build/sanitize in this checkout) and, for the plain
# fetcher, LEADSYNC_BUILD_DIR when it holds one (else build/plain). Inside the checkout, so a
# second checkout never meets a CMake cache that points at another source tree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SAN_BUILD=${LEADSYNC_SANITIZE_BUILD_DIR:-$ROOT/build/sanitize}
WITH_PROVE=0
for arg in "$@"; do
  case $arg in
    --with-prove) WITH_PROVE=1 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sanitize.sh: unknown argument \"$arg\"" >&2; exit 2 ;;
  esac
done

log() { printf '\n== %s\n' "$*" >&2; }
WORK=$(mktemp -d /tmp/leadsync-sanitize.XXXXXX)
FAILED=0
CHECKS=0
pass() { CHECKS=$((CHECKS + 1)); echo "ok    - $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILED=$((FAILED + 1)); echo "FAIL  - $*"; }

FAKE_PID="" DB="" STARTED_CLUSTER=0
cleanup() {
  local status=$?
  [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
  [ -n "$DB" ] && dropdb --if-exists --force "$DB" >/dev/null 2>&1
  [ "$STARTED_CLUSTER" = 1 ] && stop_cluster
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

if [ "${LEADSYNC_SKIP_INSTALL:-0}" != 1 ] && ! command -v valgrind >/dev/null; then
  log "installing valgrind"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends valgrind >/dev/null
fi
for tool in cmake valgrind python3 curl jq psql createdb; do
  command -v "$tool" >/dev/null || { echo "sanitize.sh: $tool is needed" >&2; exit 2; }
done

find_fetcher() { [ -x "$1/fetcher/leadsync-fetch" ] && echo "$1/fetcher/leadsync-fetch" || true; }

# --- 1. sanitized build and unit tests ---------------------------------------------------
log "building with -DLEADSYNC_SANITIZE=ON in $SAN_BUILD"
# -O1 -g: readable reports, a quicker build than RelWithDebInfo.
cmake -S "$ROOT" -B "$SAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DLEADSYNC_SANITIZE=ON >/dev/null
if ! cmake --build "$SAN_BUILD" -j"$(nproc)" >"$WORK/san-build.log" 2>&1; then
  tail -n 40 "$WORK/san-build.log" >&2
  echo "sanitize.sh: the sanitized build failed" >&2
  exit 1
fi
SAN_FETCH=$(find_fetcher "$SAN_BUILD")
[ -n "$SAN_FETCH" ] || { echo "sanitize.sh: no leadsync-fetch in $SAN_BUILD" >&2; exit 1; }

# Every report is fatal, and lands in a file as well as on stderr.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$WORK/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$WORK/ubsan"
sanitizer_reports() { cat "$WORK"/asan.* "$WORK"/ubsan.* 2>/dev/null || true; }
clear_reports() { rm -f "$WORK"/asan.* "$WORK"/ubsan.*; }

log "unit tests under ASan+UBSan (ctest)"
if ctest --test-dir "$SAN_BUILD" --output-on-failure >"$WORK/ctest.log" 2>&1 && [ -z "$(sanitizer_reports)" ]; then
  pass "ctest under ASan+UBSan: $(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$WORK/ctest.log" || tail -n 1 "$WORK/ctest.log")"
else
  fail "ctest under ASan+UBSan"
  tail -n 30 "$WORK/ctest.log"
  sanitizer_reports | head -n 40
fi
clear_reports

# --- the plain fetcher, for valgrind ------------------------------------------------------
PLAIN_FETCH=""
[ -n "${LEADSYNC_BUILD_DIR:-}" ] && [ -d "$LEADSYNC_BUILD_DIR" ] && PLAIN_FETCH=$(find_fetcher "$LEADSYNC_BUILD_DIR")
if [ -z "$PLAIN_FETCH" ]; then
  PLAIN_BUILD=$ROOT/build/plain
  log "building the plain fetcher in $PLAIN_BUILD"
  cmake -S "$ROOT" -B "$PLAIN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEADSYNC_BUILD_TESTS=OFF >/dev/null
  cmake --build "$PLAIN_BUILD" -j"$(nproc)" --target leadsync-fetch >"$WORK/plain-build.log" 2>&1 ||
    { tail -n 40 "$WORK/plain-build.log" >&2; exit 1; }
  PLAIN_FETCH=$(find_fetcher "$PLAIN_BUILD")
fi

# --- a database and the fake platforms ---------------------------------------------------
if ! psql -X -q -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
  # shellcheck source=../scripts/lib.sh
  source "$ROOT/scripts/lib.sh"
  start_cluster
  STARTED_CLUSTER=1
  trap cleanup EXIT  # start_cluster set its own trap; ours stops the cluster too
fi
DB=leadsync_sanitize_$$
createdb "$DB"
psql -X -q -d "$DB" -c 'CREATE EXTENSION leadsync' >/dev/null

python3 "$ROOT/test/fake_platforms/fake_platforms.py" --port 0 --port-file "$WORK/fake.port" --max-lifetime 600 \
  --meta-token meta-test-token --meta-page-id 111222333444555 --knowlarity-key kn-test-key \
  --knowlarity-token kn-test-token --google-refresh-token g-refresh --google-customer-id 1234567890 \
  2>"$WORK/fake.err" &
FAKE_PID=$!
for _ in $(seq 100); do [ -s "$WORK/fake.port" ] && break; sleep 0.1; done
[ -s "$WORK/fake.port" ] || { cat "$WORK/fake.err" >&2; echo "sanitize.sh: the fake server did not start" >&2; exit 1; }
FAKE=http://127.0.0.1:$(cat "$WORK/fake.port")
fault() { curl -sS --fail -H 'Content-Type: application/json' -d "$1" "$FAKE/_control/faults" >/dev/null; }
no_faults() { curl -sS --fail -X DELETE "$FAKE/_control/faults" >/dev/null; }

export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export DATABASE_URL="dbname=$DB"
export META_GRAPH_URL=$FAKE/meta/v25.0 META_ACCESS_TOKEN=meta-test-token META_PAGE_ID=111222333444555
export KNOWLARITY_BASE_URL=$FAKE/knowlarity KNOWLARITY_API_KEY=kn-test-key KNOWLARITY_AUTH_TOKEN=kn-test-token
export GOOGLE_ADS_API_URL=$FAKE/google/v21 GOOGLE_OAUTH_TOKEN_URL=$FAKE/google/token GOOGLE_ADS_CUSTOMER_ID=1234567890
export GOOGLE_OAUTH_CLIENT_ID=sanitize.apps.example GOOGLE_OAUTH_CLIENT_SECRET=g-secret GOOGLE_OAUTH_REFRESH_TOKEN=g-refresh
export LEADSYNC_RETRY_ATTEMPTS=4 LEADSYNC_RETRY_BASE_SECONDS=0.05 LEADSYNC_RETRY_MAX_DELAY_SECONDS=0.2
export LEADSYNC_RETRY_BUDGET_SECONDS=30 LEADSYNC_HTTP_TIMEOUT_SECONDS=30 LEADSYNC_CONNECT_TIMEOUT_SECONDS=5
unset META_FORM_IDS KNOWLARITY_ALLOWED_NUMBERS GOOGLE_ADS_LOGIN_CUSTOMER_ID LEADSYNC_SCHEMA
SINCE=$(date -u -d '-3 days' +%Y-%m-%dT%H:%M:%SZ)

# run NAME BINARY [WRAPPER...] -- ARGS: runs the fetcher (bounded); sets RC, output in $WORK/NAME.{out,err}.
run() {
  local name=$1 binary=$2 wrapper=()
  shift 2
  while [ "$1" != -- ]; do wrapper+=("$1"); shift; done
  shift
  RC=0
  timeout -k 5 240 "${wrapper[@]}" "$binary" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || RC=$?
}
# fetched NAME: the "fetched" count of the run's summary line, or "none".
fetched() { jq -r 'select(type == "object") | .fetched // "none"' "$WORK/$1.out" 2>/dev/null | tail -n 1 | grep . || echo none; }

# From here on a failed check is counted, not fatal: every check runs.
set +e

# --- 2. the sanitized fetcher against the fake platforms --------------------------------
log "leadsync-fetch built with ASan+UBSan against the fake platforms ($SAN_FETCH)"
# check_sanitized NAME EXPECTED-RC DESCRIPTION
check_sanitized() {
  local name=$1 expected=$2 description=$3 reports
  reports=$(sanitizer_reports; grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$WORK/$name.err" || true)
  if [ "$RC" = "$expected" ] && [ -z "$reports" ]; then
    pass "ASan+UBSan: $description (exit $RC, fetched $(fetched "$name"), no sanitizer report)"
  else
    fail "ASan+UBSan: $description: exit $RC (expected $expected)"
    tail -n 5 "$WORK/$name.err"
    echo "$reports" | head -n 40
  fi
  clear_reports
}

for platform in meta knowlarity google; do
  run "asan-$platform" "$SAN_FETCH" -- "$platform" --since "$SINCE"
  check_sanitized "asan-$platform" 0 "$platform, every page of the window"
done
run asan-status "$SAN_FETCH" -- status
check_sanitized asan-status 0 "status"

fault '[{"path": "/leads", "fault": "status500", "times": 1}, {"path": "/leads", "fault": "malformed_json", "after": 2, "times": 1}]'
run asan-meta-retries "$SAN_FETCH" -- meta --since "$SINCE"
check_sanitized asan-meta-retries 0 "meta with a 500 and a truncated page, retried"
no_faults
fault '{"path": "/leadgen_forms", "fault": "meta_token_expired", "times": -1}'
run asan-meta-expired "$SAN_FETCH" -- meta --since "$SINCE"
check_sanitized asan-meta-expired 1 "meta with an expired token (a failed run)"
no_faults
fault '{"path": "/calllog", "fault": "close_mid_body", "times": 2}'
run asan-knowlarity-cut "$SAN_FETCH" -- knowlarity --since "$SINCE"
check_sanitized asan-knowlarity-cut 0 "knowlarity with two bodies cut short, retried"
no_faults
fault '[{"path": "googleAds:search", "fault": "google_unauthenticated", "times": 1}, {"path": "googleAds:search", "fault": "google_quota", "retry_delay": "0s", "after": 2, "times": 1}]'
run asan-google-refresh "$SAN_FETCH" -- google --since "$SINCE"
check_sanitized asan-google-refresh 0 "google with an expired access token (refreshed) and a quota error"
no_faults
fault '{"path": "/calllog", "fault": "status500", "times": -1}'
run asan-knowlarity-down "$SAN_FETCH" -- knowlarity --since "$SINCE"
check_sanitized asan-knowlarity-down 1 "knowlarity always 500 (retries exhausted, a failed run)"
no_faults

# --- 3. valgrind memcheck of the plain fetcher --------------------------------------------
log "valgrind memcheck of the plain leadsync-fetch ($PLAIN_FETCH)"
VALGRIND_ERROR=97
# check_valgrind NAME EXPECTED-RC DESCRIPTION
check_valgrind() {
  local name=$1 expected=$2 description=$3 vlog=$WORK/$1.valgrind lost
  lost=$(grep -Eo 'definitely lost: [0-9,]+ bytes' "$vlog" | tail -n 1 || true)
  if grep -q 'All heap blocks were freed -- no leaks are possible' "$vlog"; then lost="definitely lost: 0 bytes"; fi
  if [ "$RC" = "$expected" ] && [ "$lost" = "definitely lost: 0 bytes" ] &&
    grep -q 'ERROR SUMMARY: 0 errors' "$vlog"; then
    pass "valgrind: $description (exit $RC, fetched $(fetched "$name"), $lost, 0 errors)"
  else
    fail "valgrind: $description: exit $RC (expected $expected; $VALGRIND_ERROR = memcheck error), ${lost:-no leak summary}"
    grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|Invalid|uninitialised' "$vlog" | head -n 20 || true
    tail -n 5 "$WORK/$name.err"
  fi
}
VALGRIND=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
  --track-origins=yes --error-exitcode=$VALGRIND_ERROR)
for platform in meta knowlarity google; do
  run "vg-$platform" "$PLAIN_FETCH" "${VALGRIND[@]}" --log-file="$WORK/vg-$platform.valgrind" -- "$platform" --since "$SINCE"
  check_valgrind "vg-$platform" 0 "$platform, every page of the window"
done
fault '{"path": "/leadgen_forms", "fault": "meta_token_expired", "times": -1}'
run vg-meta-expired "$PLAIN_FETCH" "${VALGRIND[@]}" --log-file="$WORK/vg-meta-expired.valgrind" -- meta --since "$SINCE"
check_valgrind vg-meta-expired 1 "meta with an expired token (a failed run)"
no_faults

# --- optional: the fetcher's multi-session tests with the sanitized binary -----------------
if [ "$WITH_PROVE" = 1 ]; then
  log "prove test/t/fetch_*.sh with the sanitized fetcher"
  # A small quarantine: fetch_output.sh measures that peak memory stays flat.
  if LEADSYNC_ROOT=$ROOT LEADSYNC_FETCH=$SAN_FETCH ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8" \
    prove "$ROOT"/test/t/fetch_*.sh >"$WORK/prove.log" 2>&1 &&
    [ -z "$(sanitizer_reports)" ]; then
    pass "prove test/t/fetch_*.sh with ASan+UBSan: $(tail -n 1 "$WORK/prove.log")"
  else
    fail "prove test/t/fetch_*.sh with ASan+UBSan"
    tail -n 20 "$WORK/prove.log"
    sanitizer_reports | head -n 40
  fi
fi

log "sanitize.sh: $((CHECKS - FAILED)) of $CHECKS checks passed"
echo "sanitize: $((CHECKS - FAILED)) passed, $FAILED failed"
[ "$FAILED" = 0 ]
