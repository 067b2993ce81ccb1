# shellcheck shell=bash
# Shared helpers for the multi-session tests in test/t/*.sh (sourced, never run by prove).
#
#   source "$(dirname "$0")/lib/tap.sh"
#   tap_plan 3
#   tap_create_db concurrency        # fresh database with the extension; dropped on exit
#   tap_is "$(tap_sql 'SELECT 1')" 1 "one is one"
#   tap_ok "psql works" tap_sql 'SELECT 1'
#
# Connection settings come from PGHOST/PGPORT/PGUSER (scripts/test.sh exports them).
# Everything created here (databases, background jobs, the temp directory) is removed by
# the EXIT trap, also when the test fails or times out (TAP_TIMEOUT seconds, default 110).

set -u

TAP_PLANNED=0
TAP_COUNT=0
TAP_FAILED=0
TAP_DB=""
TAP_DBS=()
TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/leadsync-tap.XXXXXX")
# No statement may hang a test: a stuck lock wait becomes an error.
export PGOPTIONS="${PGOPTIONS:-} -c statement_timeout=90s"

tap_plan() {
  TAP_PLANNED=$1
  echo "1..$1"
}

tap_diag() {
  local line
  while IFS= read -r line; do printf '# %s\n' "$line" >&2; done <<<"$*"
}

# tap_pass/tap_fail DESCRIPTION: print one result line.
tap_pass() {
  TAP_COUNT=$((TAP_COUNT + 1))
  echo "ok $TAP_COUNT - $1"
}
tap_fail() {
  TAP_COUNT=$((TAP_COUNT + 1))
  TAP_FAILED=$((TAP_FAILED + 1))
  echo "not ok $TAP_COUNT - $1"
}

# tap_ok DESCRIPTION COMMAND...: ok when COMMAND exits 0.
tap_ok() {
  local description=$1
  shift
  if "$@"; then tap_pass "$description"; else tap_fail "$description"; fi
}

# tap_is GOT EXPECTED DESCRIPTION: ok when the two strings are equal.
tap_is() {
  if [ "$1" == "$2" ]; then
    tap_pass "$3"
  else
    tap_fail "$3"
    tap_diag "     got: '$1'
expected: '$2'"
  fi
}

# tap_like GOT REGEX DESCRIPTION: ok when GOT matches the extended regular expression.
tap_like() {
  if grep -Eq -- "$2" <<<"$1"; then
    tap_pass "$3"
  else
    tap_fail "$3"
    tap_diag "     got: '$1'
expected to match: '$2'"
  fi
}

# tap_skip DESCRIPTION REASON: a test that cannot run here.
tap_skip() {
  TAP_COUNT=$((TAP_COUNT + 1))
  echo "ok $TAP_COUNT - $1 # SKIP $2"
}

# tap_abort MESSAGE: setup failed; report the remaining planned tests as failed and stop.
tap_abort() {
  tap_diag "aborting: $*"
  while [ "$TAP_COUNT" -lt "$TAP_PLANNED" ]; do tap_fail "not run: $*"; done
  exit 1
}

# psql on the test database (or PGDATABASE-style -d given first), quiet, unaligned,
# tuples only, stopping at the first error.
tap_psql() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$TAP_DB" "$@"
}

# tap_sql 'SQL' ...: run statements on the test database, print the result rows.
tap_sql() {
  local args=() statement
  for statement in "$@"; do args+=(-c "$statement"); done
  tap_psql "${args[@]}"
}

# tap_create_db PREFIX: create a uniquely named database with the extension and make it
# the test database (TAP_DB). Each call adds one more database to drop on exit.
tap_create_db() {
  local name
  name="lstest_${1}_$$_${RANDOM}"
  createdb "$name" || return 1
  TAP_DBS+=("$name")
  TAP_DB=$name
  tap_sql "CREATE EXTENSION leadsync" || return 1
}

# tap_new_empty_db VAR PREFIX: create a uniquely named database without the extension
# (dropped on exit) and store its name in the variable named VAR.
tap_new_empty_db() {
  local name
  name="lstest_${2}_$$_${RANDOM}"
  createdb "$name" || return 1
  TAP_DBS+=("$name")
  printf -v "$1" '%s' "$name"
}

# tap_bg PIDVAR COMMAND...: start COMMAND in the background (killed on exit if still
# running) and store its pid in the variable named PIDVAR.
tap_bg() {
  local var=$1
  shift
  "$@" &
  printf -v "$var" '%s' "$!"
}

tap_cleanup() {
  local status=$? pid db
  trap - EXIT INT TERM
  # Only jobs of this shell that are still running (never a pid that may have been reused).
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null; done
  for pid in $(jobs -p); do wait "$pid" 2>/dev/null; done
  for db in "${TAP_DBS[@]}"; do dropdb --if-exists --force "$db" >/dev/null 2>&1 || tap_diag "could not drop $db"; done
  rm -rf "$TAP_TMP"
  if [ "$TAP_COUNT" -ne "$TAP_PLANNED" ]; then
    tap_diag "planned $TAP_PLANNED tests but ran $TAP_COUNT"
    [ "$status" -eq 0 ] && status=1
  fi
  [ "$TAP_FAILED" -gt 0 ] && [ "$status" -eq 0 ] && status=1
  exit "$status"
}
trap tap_cleanup EXIT
trap 'tap_diag "interrupted"; exit 1' INT TERM

# The whole test is bounded in time: the watchdog interrupts it after TAP_TIMEOUT seconds
# (cleanup still runs; the watchdog is one of the jobs it ends).
tap_start_watchdog() {
  local seconds=${TAP_TIMEOUT:-110} self=$$
  (
    sleep "$seconds" &
    sleeper=$!
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    wait "$sleeper"
    echo "# timed out after ${seconds}s" >&2
    kill -TERM "$self"
  ) &
}
tap_start_watchdog

# tap_wait_for DESCRIPTION SECONDS SQL EXPECTED: poll SQL until it prints EXPECTED.
tap_wait_for() {
  local description=$1 seconds=$2 sql=$3 expected=$4 deadline
  deadline=$((SECONDS + seconds))
  while [ "$(tap_sql "$sql" 2>/dev/null)" != "$expected" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tap_diag "timed out waiting for: $description"
      return 1
    fi
    sleep 0.05
  done
}
