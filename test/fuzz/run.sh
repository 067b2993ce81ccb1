#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang++-14, -fsanitize=fuzzer,address,undefined), replays
# every saved crash in test/fuzz/regressions/, then fuzzes each harness for a bounded time
# from its seed corpus (test/fuzz/corpus/). Exits non-zero when any harness crashes, leaks,
# times out or trips a property check; prints one closing line per harness.
#
#   bash test/fuzz/run.sh                      # every harness, 12 s each (2 at a time), ~2 min
#   bash test/fuzz/run.sh --seconds 3600       # a long run (also: -j N, harness names)
#   bash test/fuzz/run.sh --seconds 600 fuzz_page_meta fuzz_extract_meta
#   bash test/fuzz/run.sh --replay-only        # only the regressions, no fuzzing
#
# LEADSYNC_FUZZ_BUILD_DIR (default build/fuzz in this checkout) keeps the build, the corpus
# each run grows (reused by the next run) and crash artifacts. LEADSYNC_SKIP_INSTALL=1
# skips installing clang-14 / libclang-rt-14-dev when missing.
set -euo pipefail

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${LEADSYNC_FUZZ_BUILD_DIR:-$(cd "$FUZZ_DIR/../.." && pwd)/build/fuzz}
SECONDS_EACH=12
JOBS=$(($(nproc) < 2 ? 1 : 2))
REPLAY_ONLY=0
ALL_HARNESSES=(fuzz_phone fuzz_event_time fuzz_extract_meta fuzz_extract_knowlarity fuzz_extract_google
  fuzz_page_meta fuzz_page_knowlarity fuzz_page_google fuzz_webhook)
HARNESSES=()

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_EACH=${2:?--seconds needs a number}; shift 2 ;;
    --seconds=*) SECONDS_EACH=${1#*=}; shift ;;
    -j | --jobs) JOBS=${2:?-j needs a number}; shift 2 ;;
    --replay-only) REPLAY_ONLY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    fuzz_*) HARNESSES+=("$1"); shift ;;
    *) echo "run.sh: unknown argument \"$1\"" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $SECONDS_EACH =~ ^[0-9]+$ && $SECONDS_EACH -ge 1 ]] || { echo "run.sh: --seconds must be a positive integer" >&2; exit 2; }
[[ $JOBS =~ ^[0-9]+$ && $JOBS -ge 1 ]] || { echo "run.sh: -j must be a positive integer" >&2; exit 2; }
[ ${#HARNESSES[@]} -gt 0 ] || HARNESSES=("${ALL_HARNESSES[@]}")
for h in "${HARNESSES[@]}"; do
  [[ " ${ALL_HARNESSES[*]} " == *" $h "* ]] || { echo "run.sh: no harness \"$h\" (have: ${ALL_HARNESSES[*]})" >&2; exit 2; }
done

log() { printf '== %s\n' "$*" >&2; }

# --- toolchain -------------------------------------------------------------------------
have_toolchain() {
  command -v clang++-14 >/dev/null && compgen -G '/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' >/dev/null
}
if ! have_toolchain; then
  if [ "${LEADSYNC_SKIP_INSTALL:-0}" != 1 ]; then
    log "installing clang-14 and libclang-rt-14-dev"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
      clang-14 libclang-rt-14-dev cmake nlohmann-json3-dev libcurl4-openssl-dev libssl-dev >/dev/null
  fi
fi
have_toolchain || { echo "run.sh: clang++-14 and libFuzzer are needed (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }

# --- build -----------------------------------------------------------------------------
log "building the harnesses in $BUILD_DIR"
cmake -S "$FUZZ_DIR" -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" -- --no-print-directory >"$BUILD_DIR/build.log" 2>&1 || {
  tail -n 40 "$BUILD_DIR/build.log" >&2
  exit 1
}

# ASan/UBSan reports go to stderr (libFuzzer's log); leaks are findings too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
command -v llvm-symbolizer-14 >/dev/null && export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14)}

dict_of() {
  case $1 in
    fuzz_phone) echo "$FUZZ_DIR/dict/phone.dict" ;;
    fuzz_event_time) echo "$FUZZ_DIR/dict/event_time.dict" ;;
    fuzz_extract_*) echo "$FUZZ_DIR/dict/json.dict" ;;
    fuzz_page_*) echo "$FUZZ_DIR/dict/pages.dict" ;;
    fuzz_webhook) echo "$FUZZ_DIR/dict/json.dict" ;;
  esac
}
max_len_of() {
  case $1 in
    fuzz_phone | fuzz_event_time) echo 256 ;;
    fuzz_extract_*) echo 8192 ;;
    fuzz_page_*) echo 32768 ;;
    fuzz_webhook) echo 16384 ;;
  esac
}

mkdir -p "$BUILD_DIR/logs" "$BUILD_DIR/crashes"

# run_harness NAME: replays each of NAME's saved regressions, then fuzzes it; writes its
# closing line (and details of any finding) to logs/NAME.result.
run_harness() {
  local h=$1 bin=$BUILD_DIR/$1 regressions=$FUZZ_DIR/regressions/$1 seeds=$FUZZ_DIR/corpus/$1
  local work=$BUILD_DIR/corpus/$1 logfile=$BUILD_DIR/logs/$1.log result=$BUILD_DIR/logs/$1.result
  local replayed=0 regressed=() rc=0 input
  : >"$logfile"
  if [ -d "$regressions" ]; then
    for input in "$regressions"/*; do
      [ -f "$input" ] || continue
      replayed=$((replayed + 1))
      echo "== replaying $input" >>"$logfile"
      "$bin" -runs=1 "$input" >>"$logfile" 2>&1 || regressed+=("${input#"$FUZZ_DIR"/}")
    done
  fi
  local replay_note="$replayed regression(s) replayed"
  [ ${#regressed[@]} -eq 0 ] || replay_note="${#regressed[@]} of $replayed regression(s) STILL FAIL: ${regressed[*]}"
  if [ "$REPLAY_ONLY" = 1 ]; then
    if [ ${#regressed[@]} -eq 0 ]; then echo "$h: ok, $replay_note (no fuzzing: --replay-only)" >"$result"
    else echo "$h: FAILED, $replay_note; log: $logfile" >"$result"; fi
    return 0
  fi
  mkdir -p "$work"
  echo "== fuzzing for $SECONDS_EACH s" >>"$logfile"
  "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len_of "$h")" \
    -dict="$(dict_of "$h")" -print_final_stats=1 -artifact_prefix="$BUILD_DIR/crashes/$h-" \
    "$work" "$seeds" >>"$logfile" 2>&1 || rc=$?
  local runs corpus cov artifact
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logfile" | tail -n 1)
  corpus=$(grep -o 'corp: [0-9]*' "$logfile" | tail -n 1 | grep -o '[0-9]*' || true)
  cov=$(grep -o 'cov: [0-9]*' "$logfile" | tail -n 1 | grep -o '[0-9]*' || true)
  if [ "$rc" = 0 ]; then
    local verdict=ok
    [ ${#regressed[@]} -eq 0 ] || verdict=FAILED
    echo "$h: $verdict, ${runs:-?} executions in ${SECONDS_EACH} s, corpus ${corpus:-?} inputs, coverage ${cov:-?} edges, $replay_note" >"$result"
    return 0
  fi
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logfile" | tail -n 1)
  {
    echo "$h: CRASH after ${runs:-?} executions (exit $rc), $replay_note; log: $logfile"
    sed -n '/^== fuzzing/,$p' "$logfile" |
      grep -m 3 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FUZZ_CHECK failed|exception other than SyncError' |
      sed 's/^/    /' || true
    if [ -n "$artifact" ]; then
      echo "    input: $artifact"
      echo "    keep it as a regression test: mkdir -p test/fuzz/regressions/$h && cp '$artifact' test/fuzz/regressions/$h/"
    fi
  } >"$result"
}

if [ "$REPLAY_ONLY" = 1 ]; then
  log "replaying the regressions of ${#HARNESSES[@]} harness(es)"
else
  log "fuzzing ${#HARNESSES[@]} harness(es) for $SECONDS_EACH s each, $JOBS at a time"
fi
for h in "${HARNESSES[@]}"; do rm -f "$BUILD_DIR/logs/$h.result"; done
for h in "${HARNESSES[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  run_harness "$h" 2>/dev/null &  # (no "Aborted" notices from the shell: the log has it all)
done
wait || true
# A harness passed only when its closing line says so.
failed=0
for h in "${HARNESSES[@]}"; do
  if [ -s "$BUILD_DIR/logs/$h.result" ]; then cat "$BUILD_DIR/logs/$h.result"; else echo "$h: FAILED without a result (see $BUILD_DIR/logs/$h.log)"; fi
  grep -q "^$h: ok," "$BUILD_DIR/logs/$h.result" 2>/dev/null || failed=1
done
if [ "$failed" = 0 ]; then log "fuzzing: no findings"; else log "fuzzing: FINDINGS (see above)"; fi
exit "$failed"
