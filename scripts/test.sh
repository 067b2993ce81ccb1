#!/usr/bin/env bash
# Runs every test: the C++ unit tests (ctest), then against a throwaway PostgreSQL 15
# with pg_cron the pgTAP suites (pg_prove) and the multi-session, fetcher, crash, soak
# and upgrade tests (prove), the benchmarks in quick mode, the fuzzers for a bounded
# time, the unit and fetcher tests again under AddressSanitizer/UndefinedBehavior-
# Sanitizer and valgrind, and the Debian packages built, installed, tested and purged.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

install_packages
install_packaging_tools
build_all

failed=0
log "unit tests (ctest)"
ctest --test-dir "$LEADSYNC_BUILD_DIR" --output-on-failure || failed=1

# pg_cron runs in its own database, for the scheduled-sync test.
export LEADSYNC_CRON_DB=leadsync_cron
cron_options="-c cron.database_name=$LEADSYNC_CRON_DB -c cron.use_background_workers=on"
LEADSYNC_PG_OPTIONS="-c shared_preload_libraries=pg_cron $cron_options -c max_worker_processes=32" start_cluster
createdb "$LEADSYNC_CRON_DB"
export LEADSYNC_SERVER_LOG=$LEADSYNC_CLUSTER_DIR/server.log
export LEADSYNC_PGDATA=$LEADSYNC_CLUSTER_DIR/data  # for the test that restarts the server
export LEADSYNC_ROOT LEADSYNC_BUILD_DIR
export LEADSYNC_FETCH=$LEADSYNC_BUILD_DIR/fetcher/leadsync-fetch
createdb leadsync_test
psql -q -X -d leadsync_test -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION leadsync"

log "SQL tests (pg_prove)"
pg_prove -d leadsync_test "$LEADSYNC_ROOT"/test/sql/*.sql || failed=1

log "multi-session tests (prove)"
prove "$LEADSYNC_ROOT"/test/t/*.sh || failed=1

log "benchmarks, quick mode: the code runs, no timing is asserted (full: bash test/bench/run.sh)"
# On a server of its own (the next port), so that every stage runs: the instruction count
# stops its server to run a single-user backend.
env -u PGHOST -u PGPORT LEADSYNC_PGPORT=$((LEADSYNC_PGPORT + 1)) bash "$LEADSYNC_ROOT/test/bench/run.sh" --quick ||
  failed=1

log "fuzzing (libFuzzer; a longer run: bash test/fuzz/run.sh --seconds 3600)"
LEADSYNC_SKIP_INSTALL=1 bash "$LEADSYNC_ROOT/test/fuzz/run.sh" || failed=1

log "sanitizers (ASan, UBSan) and valgrind: unit tests and the fetcher tests"
LEADSYNC_SKIP_INSTALL=1 bash "$LEADSYNC_ROOT/test/sanitize.sh" --with-prove || failed=1

# Last: it swaps the build tree's installed extension for the packages' (and back).
log "Debian packages: built offline, lintian, installed, tested on the installed files and under systemd, purged"
packages_dir=$LEADSYNC_BUILD_DIR/packages
if LEADSYNC_SKIP_INSTALL=1 bash "$LEADSYNC_ROOT/scripts/packages.sh" "$packages_dir"; then
  LEADSYNC_PACKAGES_DIR=$packages_dir LEADSYNC_PGPORT=$((LEADSYNC_PGPORT + 2)) \
    prove -v "$LEADSYNC_ROOT/test/packages/install.sh" "$LEADSYNC_ROOT/test/packages/systemd.sh" || failed=1
else
  failed=1
fi

if [ "$failed" != 0 ]; then
  log "FAILED (server log follows)"
  tail -n 50 "$LEADSYNC_CLUSTER_DIR/server.log" >&2 || true
fi
exit "$failed"
