#!/usr/bin/env bash
# leadsync benchmarks against their baselines, in one command (see test/bench/README.md).
#
#   test/bench/run.sh [--quick] [--output FILE] [--samples FILE] [--only LIST]
#
# Starts a throwaway PostgreSQL (scripts/lib.sh, port LEADSYNC_PGPORT, default 54600)
# unless PGHOST is set, creates a database with the extension, runs every benchmark,
# prints one markdown table (also written to FILE) and stops what it started.
# --quick: small sizes and fewer repetitions, for CI; figures are printed but no target
# is asserted (exit 0 unless a benchmark fails). --samples: every sample behind the
# medians, one KEY<TAB>VALUE line each (to see the spread). --only: comma-separated subset of
# normalize,pgbench,batch,scaling,concurrency,fetch,webhooks,instructions.
# Needs: the extension built and installed, pgbench, python3, /usr/bin/time, valgrind, wrk and
# leadsync-fetch (LEADSYNC_FETCH, else $LEADSYNC_BUILD_DIR/fetcher/leadsync-fetch).
# To measure a build that is NOT installed (a change under review), set
# LEADSYNC_BENCH_MODULE=/path/to/leadsync.so (and LEADSYNC_BENCH_SQL=/path/to/the/install.sql,
# default sql/install/*.sql joined): the objects are then created from that script, in public,
# pointing at that library, instead of CREATE EXTENSION.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=full
OUTPUT=""
SAMPLES=""
ONLY="normalize,pgbench,batch,scaling,concurrency,fetch,webhooks,instructions"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --output) OUTPUT=${2:?--output needs a file}; shift ;;
    --output=*) OUTPUT=${1#--output=} ;;
    --samples) SAMPLES=${2:?--samples needs a file}; shift ;;
    --samples=*) SAMPLES=${1#--samples=} ;;
    --only) ONLY=${2:?--only needs a list}; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

export LEADSYNC_PGPORT=${LEADSYNC_PGPORT:-54600}
# shellcheck source=scripts/lib.sh
source "$BENCH_DIR/../../scripts/lib.sh"
# shellcheck source=test/bench/lib/webhooks.sh
source "$BENCH_DIR/lib/webhooks.sh"
FETCH=${LEADSYNC_FETCH:-$LEADSYNC_BUILD_DIR/fetcher/leadsync-fetch}

# ---------------------------------------------------------------------------
# Sizes. Every figure is a median of ROUNDS_* runs; every ratio is taken between
# medians measured in this run, on this server, with the variants interleaved.
# ---------------------------------------------------------------------------
if [ "$MODE" = quick ]; then
  PHONE_ROWS=100000 ROUNDS_FAST=3 ROUNDS_SLOW=1
  PGBENCH_TX=300 SEED_LEADS=10000
  BATCH_LEADS=10000 SCALE_SMALL=5000 SCALE_BIG=50000
  WRITERS=4 WRITER_BATCHES=4 WRITER_BATCH_LEADS=250
  FETCH_BIG_PER_FORM=1000 FETCH_SMALL_PER_FORM=200
  WH_LEADS=2000 WH_RATE_SECONDS=5 WH_META_RATE=100 WH_META_SECONDS=5 WH_RSS_SMALL=1000 WH_RSS_BIG=5000
  INSTRUCTION_CALLS=100
else
  PHONE_ROWS=1000000 ROUNDS_FAST=5 ROUNDS_SLOW=3
  PGBENCH_TX=4000 SEED_LEADS=100000
  BATCH_LEADS=100000 SCALE_SMALL=100000 SCALE_BIG=1000000
  WRITERS=4 WRITER_BATCHES=25 WRITER_BATCH_LEADS=1000
  FETCH_BIG_PER_FORM=33334 FETCH_SMALL_PER_FORM=3334   # 3 ACTIVE forms: 100k and 10k leads
  WH_LEADS=20000 WH_RATE_SECONDS=30 WH_META_RATE=100 WH_META_SECONDS=60 WH_RSS_SMALL=10000 WH_RSS_BIG=100000
  INSTRUCTION_CALLS=3000
fi

WORK=$(mktemp -d /tmp/leadsync-bench.XXXXXX)
chmod 755 "$WORK"
RESULTS=$WORK/results.tsv
: >"$RESULTS"
FAKE_PID=""
DB=leadsync_bench
OWN_CLUSTER=0

cleanup() {
  local status=$?
  if [ "$status" != 0 ] && [ -s "$RESULTS" ]; then
    echo "run.sh: failed; the samples taken so far:" >&2
    cat "$RESULTS" >&2
  fi
  wh_cleanup
  if [ -n "$FAKE_PID" ]; then kill "$FAKE_PID" 2>/dev/null || true; wait "$FAKE_PID" 2>/dev/null || true; fi
  if [ "$OWN_CLUSTER" = 1 ]; then
    stop_cluster
  elif [ -n "${DB_CREATED:-}" ]; then
    dropdb --if-exists "$DB" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

say() { printf '== %s\n' "$*" >&2; }
fail() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }
wanted() { [[ ",$ONLY," == *",$1,"* ]]; }
# record KEY VALUE: one sample of a figure (report.py takes the median of a key's samples).
record() { printf '%s\t%s\n' "$1" "$2" >>"$RESULTS"; }
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
value() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
# timed SQL: milliseconds one statement takes inside the server (leadsync_bench.time_ms).
time_sql() { value "SELECT leadsync_bench.time_ms(\$bench\$$1\$bench\$)"; }
check() { [ "$(value "$1")" = t ] || fail "check failed: $2 ($1)"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# reset SEEDED: the state every run starts from, checkpointed, and the operating system's
# dirty pages written out (fsync is off), so no run pays for the last one's I/O.
reset() { sql -c "CALL leadsync_bench.reset($1)" >/dev/null; sync; }
server_log_lines() { if [ "$OWN_CLUSTER" = 1 ]; then wc -l <"$LEADSYNC_CLUSTER_DIR/server.log"; else echo 0; fi; }
server_log_since() { if [ "$OWN_CLUSTER" = 1 ]; then tail -n +"$(($1 + 1))" "$LEADSYNC_CLUSTER_DIR/server.log"; fi; }

command -v pgbench >/dev/null || fail "pgbench not found (Debian: postgresql-15 / postgresql-contrib)"
[ -x /usr/bin/time ] || fail "/usr/bin/time not found (Debian package: time)"
if wanted fetch; then [ -x "$FETCH" ] || fail "leadsync-fetch not found at $FETCH (set LEADSYNC_FETCH)"; fi
if wanted instructions; then command -v valgrind >/dev/null || fail "valgrind not found (Debian package: valgrind)"; fi

# ---------------------------------------------------------------------------
# The server and the database.
# ---------------------------------------------------------------------------
if [ -z "${PGHOST:-}" ]; then
  # Quiet and repeatable: no autovacuum or checkpoint in the middle of a measurement
  # (run.sh analyzes and checkpoints between runs); room for 1M-lead batches.
  LEADSYNC_PG_OPTIONS="-c shared_buffers=1GB -c max_wal_size=32GB -c checkpoint_timeout=1h -c autovacuum=off ${LEADSYNC_PG_OPTIONS:-}"
  start_cluster
  trap cleanup EXIT
  OWN_CLUSTER=1
else
  DB=leadsync_bench_$$
  say "using the server at PGHOST=$PGHOST (database $DB)"
fi
createdb "$DB"
DB_CREATED=1
if [ -n "${LEADSYNC_BENCH_MODULE:-}" ]; then
  [ -r "$LEADSYNC_BENCH_MODULE" ] || fail "LEADSYNC_BENCH_MODULE: no such library $LEADSYNC_BENCH_MODULE"
  say "using the UNINSTALLED build $LEADSYNC_BENCH_MODULE"
  # The install script as CREATE EXTENSION would run it, minus what only an extension
  # script may do (register tables for pg_dump).
  if [ -n "${LEADSYNC_BENCH_SQL:-}" ]; then cat "$LEADSYNC_BENCH_SQL"; else cat "$LEADSYNC_ROOT"/sql/install/*.sql; fi |
    sed -e '/^\\echo /d' -e '/pg_extension_config_dump/d' -e 's/@extschema@/public/g' \
      -e "s|MODULE_PATHNAME|$LEADSYNC_BENCH_MODULE|g" |
    sql -f - >/dev/null
else
  sql -c "CREATE EXTENSION leadsync" >/dev/null
fi
sql -f "$BENCH_DIR/sql/setup.sql" >/dev/null
for f in "$BENCH_DIR"/baselines/*.sql; do sql -f "$f" >/dev/null; done

PG_VERSION=$(value "SHOW server_version")
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
say "mode $MODE on $(nproc) cores ($CPU), PostgreSQL $PG_VERSION, work in $WORK"

# Leads already in the database for the per-lead and fetch benchmarks: a steady state,
# not an empty table (phones 40xxxxxxxx: no benchmark, nor the fake server, uses them).
say "seeding $SEED_LEADS existing leads"
sql >/dev/null <<SQL
INSERT INTO leadsync_bench.seed_leads (id, full_name, phone_number_normalized, source_id, external_lead_id, status,
                                       total_attempts, is_qualified, raw_payload, created_at, platform_created_at)
SELECT -i, 'Seed ' || i, (4000000000 + i)::text, s.id, 's' || i, 'New', 0, false,
       leadsync_bench.meta_lead(4000000000 + i, i, now() - interval '3 days'), now(), now() - interval '3 days'
  FROM generate_series(1, $SEED_LEADS) AS i, public.sources AS s WHERE s.source_type = 'meta_form';
INSERT INTO leadsync_bench.seed_history (id, lead_id, source_id, external_id, raw_payload, is_primary, received_at,
                                         platform_created_at)
SELECT l.id, l.id, l.source_id, l.external_lead_id, l.raw_payload, true, l.created_at, l.platform_created_at
  FROM leadsync_bench.seed_leads AS l;
SQL

# ---------------------------------------------------------------------------
# normalize_phone over PHONE_ROWS rows, against length() and the regexp in SQL.
# ---------------------------------------------------------------------------
bench_normalize() {
  say "normalize_phone over $PHONE_ROWS rows ($ROUNDS_FAST rounds)"
  sql -c "INSERT INTO leadsync_bench.phones SELECT leadsync_bench.spell_phone(6000000000 + (i::bigint * 7919) % 3999999999, i)
            FROM generate_series(1, $PHONE_ROWS) AS i" -c "VACUUM ANALYZE leadsync_bench.phones" >/dev/null
  check "SELECT count(*) = $PHONE_ROWS AND count(*) = count(public.normalize_phone(p)) FROM leadsync_bench.phones" \
    "every benchmark phone normalizes"
  local queries=(
    "count:SELECT count(p) FROM leadsync_bench.phones"
    "length:SELECT count(length(p)) FROM leadsync_bench.phones"
    "normalize:SELECT count(public.normalize_phone(p)) FROM leadsync_bench.phones"
    "regexp:SELECT count(right(regexp_replace(p, '\\D', '', 'g'), 10)) FROM leadsync_bench.phones"
  )
  local script=$WORK/normalize.sql q round
  {
    echo "SET max_parallel_workers_per_gather = 0;"   # one backend, one core, for every variant
    for q in "${queries[@]}"; do echo "SELECT leadsync_bench.time_ms(\$q\$${q#*:}\$q\$);"; done  # warm-up
    for ((round = 1; round <= ROUNDS_FAST; round++)); do
      for q in "${queries[@]}"; do echo "SELECT 'norm.${q%%:*}_ms', leadsync_bench.time_ms(\$q\$${q#*:}\$q\$);"; done
    done
  } >"$script"
  psql -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 -d "$DB" -f "$script" | grep '^norm\.' >>"$RESULTS"
}

# ---------------------------------------------------------------------------
# One lead per round trip: pgbench, 2 clients, mixed sources, overlapping phones.
# ---------------------------------------------------------------------------
bench_pgbench() {
  local ids meta_id kn_id g_id round variant script out tps
  ids=$(value "SELECT string_agg(id::text, ' ' ORDER BY source_type) FROM public.sources
                WHERE source_type IN ('google_ads', 'knowlarity_call', 'meta_form')")
  read -r g_id kn_id meta_id <<<"$ids"
  local phones=$((2 * PGBENCH_TX))   # pool = transactions: ~63% first sightings, the rest B and C cases
  local variants=(
    "leadsync:$BENCH_DIR/pgbench/leadsync_ingest_lead.pgbench"
    "plpgsql:$BENCH_DIR/baselines/plpgsql_ingest_lead.pgbench"
    "original:$BENCH_DIR/baselines/original_system.pgbench"
    "bare:$BENCH_DIR/baselines/bare_insert.pgbench"
    "writes:$BENCH_DIR/baselines/writes_per_lead.pgbench"   # a diagnostic floor, see the file
    "leadsync_replay:$BENCH_DIR/pgbench/leadsync_replay.pgbench"   # case B only: a lookback replayed
    "plpgsql_replay:$BENCH_DIR/baselines/plpgsql_replay.pgbench"
  )
  say "ingest_lead with pgbench: 2 clients x $PGBENCH_TX leads, $ROUNDS_FAST rounds of ${#variants[@]} variants"
  for ((round = 1; round <= ROUNDS_FAST; round++)); do
    for variant in "${variants[@]}"; do
      script=${variant#*:}
      reset true
      out=$WORK/pgbench.${variant%%:*}.$round.out
      if ! PGOPTIONS="-c synchronous_commit=off" pgbench -n -M prepared -c 2 -j 2 -t "$PGBENCH_TX" \
          --random-seed=$((1000 + round)) -D phones="$phones" -D seeds="$SEED_LEADS" -D meta_id="$meta_id" -D knowlarity_id="$kn_id" \
          -D google_id="$g_id" -f "$script" "$DB" >"$out" 2>&1; then
        cat "$out" >&2
        fail "pgbench ${variant%%:*} failed"
      fi
      grep -q "number of failed transactions: 0 " "$out" || { cat "$out" >&2; fail "pgbench ${variant%%:*}: failed transactions"; }
      tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out")
      [ -n "$tps" ] || { cat "$out" >&2; fail "no tps in pgbench output"; }
      record "pg.${variant%%:*}_tps" "$tps"
      if [ "${variant%%:*}" != bare ]; then   # (bare writes no history: nothing to check)
        check "SELECT leadsync_bench.invariant_violations() = 0" "counters and primary rows after ${variant%%:*}"
      fi
      if [[ ${variant%%:*} == *_replay ]]; then   # every lead a duplicate: nothing may be written
        check "SELECT (SELECT count(*) FROM public.leads_master) = $SEED_LEADS
                  AND (SELECT count(*) FROM public.lead_sources_history) = $SEED_LEADS" "${variant%%:*} wrote nothing"
      fi
      if [ "$round" = 1 ]; then   # the same leads whichever variant wrote them
        record "pg.${variant%%:*}_leads" "$(value "SELECT count(*) - $SEED_LEADS FROM public.leads_master")"
      fi
    done
  done
  local leads
  leads=$(awk -F'\t' '$1 ~ /^pg\.(leadsync|plpgsql|original|writes)_leads$/ {print $2}' "$RESULTS" | sort -u)
  [ "$(wc -l <<<"$leads")" = 1 ] || fail "pgbench variants wrote different numbers of leads: ${leads//$'\n'/ }"
}

# ---------------------------------------------------------------------------
# One ingest_leads call of BATCH_LEADS new Meta leads; the same batch again; the floor.
# ---------------------------------------------------------------------------
bench_batch() {
  local round n=$BATCH_LEADS
  say "ingest_leads of $n new Meta leads ($ROUNDS_SLOW rounds: leadsync, duplicates, SQL floor, writes alone)"
  sql -c "INSERT INTO leadsync_bench.batches VALUES ('meta_new', 'meta_form', leadsync_bench.meta_batch(7000000000, $n))" \
      -c "INSERT INTO leadsync_bench.extracted_meta
          SELECT public.normalize_phone(e->'field_data'->1->'values'->>0), e->'field_data'->0->'values'->>0,
                 e->>'id', e, (e->>'created_time')::timestamptz
            FROM leadsync_bench.batches AS b, jsonb_array_elements(b.payloads) AS e WHERE b.name = 'meta_new'" \
      -c "VACUUM ANALYZE leadsync_bench.batches, leadsync_bench.extracted_meta" >/dev/null
  local ingest="SELECT public.ingest_leads('meta_form', b.payloads) FROM leadsync_bench.batches AS b WHERE b.name = 'meta_new'"
  for ((round = 1; round <= ROUNDS_SLOW; round++)); do
    reset false
    record batch.new_ms "$(time_sql "$ingest")"
    check "SELECT (SELECT count(*) FROM public.leads_master) = $n AND leadsync_bench.invariant_violations() = 0" "new batch"
    record batch.dup_ms "$(time_sql "$ingest")"
    check "SELECT (SELECT total_leads_count FROM public.sources WHERE source_type = 'meta_form') = $n" "duplicate batch"
    reset false
    record batch.floor_ms "$(time_sql "SELECT leadsync_baseline.ingest_new_meta_batch(b.payloads)
                                         FROM leadsync_bench.batches AS b WHERE b.name = 'meta_new'")"
    check "SELECT (SELECT count(*) FROM public.leads_master) = $n AND leadsync_bench.invariant_violations() = 0" "SQL floor"
    reset false
    record batch.writes_ms "$(time_sql "SELECT leadsync_baseline.write_extracted_meta_batch()")"
    check "SELECT (SELECT count(*) FROM public.leads_master) = $n" "writes alone"
  done
}

# ---------------------------------------------------------------------------
# Scaling: one call of SCALE_BIG leads against one of SCALE_SMALL (compact payloads).
# ---------------------------------------------------------------------------
bench_scaling() {
  local round
  say "scaling: $SCALE_SMALL vs $SCALE_BIG leads in one call ($ROUNDS_SLOW rounds)"
  sql -c "INSERT INTO leadsync_bench.batches VALUES
            ('scale_small', 'meta_form', leadsync_bench.meta_compact_batch(5000000000, $SCALE_SMALL)),
            ('scale_big', 'meta_form', leadsync_bench.meta_compact_batch(5000000000, $SCALE_BIG))" >/dev/null
  for ((round = 1; round <= ROUNDS_SLOW; round++)); do
    for size in small big; do
      reset false
      record "scale.${size}_ms" "$(time_sql "SELECT public.ingest_leads('meta_form', b.payloads)
                                               FROM leadsync_bench.batches AS b WHERE b.name = 'scale_$size'")"
    done
    check "SELECT (SELECT count(*) FROM public.leads_master) = $SCALE_BIG" "scaling batch"
  done
  sql -c "DELETE FROM leadsync_bench.batches WHERE name LIKE 'scale_%'" -c "VACUUM leadsync_bench.batches" >/dev/null
}

# ---------------------------------------------------------------------------
# WRITERS concurrent batch writers (one session each), overlapping phones, different
# sources, against one writer sending the same batches.
# ---------------------------------------------------------------------------
bench_concurrency() {
  local w k round total=$((WRITERS * WRITER_BATCHES * WRITER_BATCH_LEADS))
  local pool=$((total / 2))
  say "concurrency: $WRITERS writers x $WRITER_BATCHES batches of $WRITER_BATCH_LEADS leads, $pool phones ($ROUNDS_SLOW rounds)"
  # Lead i of batch (w, k): phone from a pool of total/2, so about half the leads meet a
  # phone another batch (of another writer and, mostly, another source) also sends.
  sql >/dev/null <<SQL
INSERT INTO leadsync_bench.writer_batches
SELECT w, k, (ARRAY['meta_form', 'knowlarity_call', 'google_ads'])[1 + (w + k) % 3],
       (SELECT jsonb_agg(leadsync_bench.payload((ARRAY['meta_form', 'knowlarity_call', 'google_ads'])[1 + (w + k) % 3],
                                                6000000000 + ((((w * $WRITER_BATCHES + k) * $WRITER_BATCH_LEADS + i)::bigint * 7919) % $pool),
                                                (w * $WRITER_BATCHES + k) * $WRITER_BATCH_LEADS + i,
                                                now() - (i * 37 % 172800) * interval '1 second'))
          FROM generate_series(0, $WRITER_BATCH_LEADS - 1) AS i)
  FROM generate_series(0, $WRITERS - 1) AS w, generate_series(0, $WRITER_BATCHES - 1) AS k;
VACUUM ANALYZE leadsync_bench.writer_batches;
SQL
  for ((w = 0; w < WRITERS; w++)); do
    for ((k = 0; k < WRITER_BATCHES; k++)); do
      echo "SELECT public.ingest_leads(b.source_type, b.payloads) IS NULL FROM leadsync_bench.writer_batches AS b WHERE b.writer = $w AND b.seq = $k;"
    done >"$WORK/writer.$w.sql"
  done
  for ((k = 0; k < WRITER_BATCHES; k++)); do
    for ((w = 0; w < WRITERS; w++)); do sed -n "$((k + 1))p" "$WORK/writer.$w.sql"; done
  done >"$WORK/writer.all.sql"
  local expected started log_start errors pids status
  for ((round = 1; round <= ROUNDS_SLOW; round++)); do
    reset true
    started=$(now_ms)
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -f "$WORK/writer.all.sql" >/dev/null || fail "the single writer failed"
    record conc.one_ms $(($(now_ms) - started))
    check "SELECT leadsync_bench.invariant_violations() = 0" "single writer"
    expected=$(value "SELECT count(*) FROM public.leads_master")
    reset true
    log_start=$(server_log_lines)
    pids=()
    started=$(now_ms)
    for ((w = 0; w < WRITERS; w++)); do
      psql -X -q -A -t -d "$DB" -f "$WORK/writer.$w.sql" >/dev/null 2>"$WORK/writer.$w.err" &
      pids+=($!)
    done
    status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    record conc.four_ms $(($(now_ms) - started))
    errors=$(cat "$WORK"/writer.*.err | grep -c 'ERROR' || true)
    errors=$((errors + $(server_log_since "$log_start" | grep -c 'deadlock detected' || true)))
    [ "$status" = 0 ] || errors=$((errors + 1))
    errors=$((errors + $(value "SELECT leadsync_bench.invariant_violations()")))
    [ "$(value "SELECT count(*) FROM public.leads_master")" = "$expected" ] || errors=$((errors + 1))
    record conc.errors "$errors"
    [ "$errors" = 0 ] || { cat "$WORK"/writer.*.err >&2; say "concurrency round $round: $errors errors"; }
  done
}

# ---------------------------------------------------------------------------
# leadsync-fetch pulling Meta leads from the fake server in pages of 100.
# ---------------------------------------------------------------------------
FAKE_NOW=$(($(date +%s) / 60 * 60))
FAKE_PORT=""
start_fake() { # leads per form
  local port_file=$WORK/fake.port i
  rm -f "$port_file"
  python3 "$BENCH_DIR/lib/fake_meta_server.py" --cache-responses --port 0 --port-file "$port_file" \
    --leads-per-form "$1" --calls 10 --google-leads 10 --page-size 100 --now "$FAKE_NOW" --max-lifetime 1800 \
    >/dev/null 2>>"$WORK/fake.err" &
  FAKE_PID=$!
  for ((i = 0; i < 1200; i++)); do
    [ -s "$port_file" ] && break
    kill -0 "$FAKE_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$port_file" ] || { cat "$WORK/fake.err" >&2; fail "the fake server did not start"; }
  FAKE_PORT=$(cat "$port_file")
}
stop_fake() { kill "$FAKE_PID" 2>/dev/null || true; wait "$FAKE_PID" 2>/dev/null || true; FAKE_PID=""; }
# fetch_run NAME [--dry-run]: one leadsync-fetch run over the whole fake window; records
# nothing, leaves wall ms in FETCH_MS and peak RSS (KiB) in FETCH_RSS.
fetch_run() {
  local name=$1 started
  shift
  started=$(now_ms)
  if ! env no_proxy=127.0.0.1 NO_PROXY=127.0.0.1 http_proxy= https_proxy= HTTP_PROXY= HTTPS_PROXY= \
      META_GRAPH_URL="http://127.0.0.1:$FAKE_PORT/meta/v25.0" META_ACCESS_TOKEN=meta-test-token \
      META_PAGE_ID=111222333444555 DATABASE_URL="dbname=$DB" \
      /usr/bin/time -v -o "$WORK/$name.time" "$FETCH" meta --since "$(date -u -d "@$((FAKE_NOW - 49 * 3600))" +%Y-%m-%dT%H:%M:%SZ)" \
      --until "$(date -u -d "@$FAKE_NOW" +%Y-%m-%dT%H:%M:%SZ)" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    cat "$WORK/$name.out" "$WORK/$name.err" >&2
    fail "leadsync-fetch ($name) failed"
  fi
  FETCH_MS=$(($(now_ms) - started))
  FETCH_RSS=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$WORK/$name.time")
  FETCH_CPU_MS=$(awk -F': ' '/^[[:space:]]*(User|System) time \(seconds\)/ {t += $2} END {printf "%d", t * 1000}' "$WORK/$name.time")
}
bench_fetch() {
  local round leads pages_sql=$WORK/pages.sql started
  say "leadsync-fetch: $((3 * FETCH_BIG_PER_FORM)) Meta leads in pages of 100 ($ROUNDS_SLOW rounds)"
  start_fake "$FETCH_BIG_PER_FORM"
  # The same pages, as SQL: walking them once also warms the fake's response cache.
  leads=$(python3 "$BENCH_DIR/lib/meta_pages.py" "$FAKE_PORT" "$((FAKE_NOW - 49 * 3600))" "$FAKE_NOW" "$pages_sql")
  [ "$leads" -ge $((3 * FETCH_BIG_PER_FORM)) ] || fail "expected $((3 * FETCH_BIG_PER_FORM)) leads, walked $leads"
  fetch_run warm --dry-run
  for ((round = 1; round <= ROUNDS_SLOW; round++)); do
    reset true
    started=$(now_ms)
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -o /dev/null -f "$pages_sql" || fail "replaying the pages failed"
    record fetch.ingest_ms $(($(now_ms) - started))
    check "SELECT (SELECT count(*) FROM public.leads_master) > $SEED_LEADS + $((3 * FETCH_BIG_PER_FORM)) - 10" "pages ingested"
    reset true
    fetch_run "fetch.$round"
    record fetch.total_ms "$FETCH_MS"
    record fetch.cpu_ms "$FETCH_CPU_MS"
    record fetch.rss_big_kb "$FETCH_RSS"
    # The fake's data set has one lead without a phone and one phone sent twice.
    grep -q "\"fetched\":$leads,.*\"insertedNew\":$((leads - 2)),.*\"rejected\":1}" "$WORK/fetch.$round.out" ||
      { cat "$WORK/fetch.$round.out" >&2; fail "the fetch did not ingest every lead"; }
    fetch_run "dry.$round" --dry-run
    record fetch.dry_ms "$FETCH_MS"
  done
  if [ "$MODE" = full ]; then   # diagnostic: the same pages into empty, never-analyzed tables
    reset false
    sql -c "TRUNCATE public.leads_master, public.lead_sources_history" >/dev/null
    started=$(now_ms)
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -o /dev/null -f "$pages_sql" || fail "replaying the pages failed"
    record fetch.ingest_empty_ms $(($(now_ms) - started))
  fi
  stop_fake
  start_fake "$FETCH_SMALL_PER_FORM"
  python3 "$BENCH_DIR/lib/meta_pages.py" "$FAKE_PORT" "$((FAKE_NOW - 49 * 3600))" "$FAKE_NOW" "$WORK/pages.small.sql" >/dev/null
  for ((round = 1; round <= ROUNDS_SLOW; round++)); do
    reset true
    fetch_run "small.$round"
    record fetch.rss_small_kb "$FETCH_RSS"
  done
  stop_fake
}

# ---------------------------------------------------------------------------
# CPU instructions per one-lead call, counted by callgrind: a figure that does not move
# with the machine's load, unlike the TPS above. The same leads as the pgbench workload
# (pgbench_calls.py reads its scripts), from the seeded state, each call a statement of
# its own in a single-user backend. Counted: each statement's execution and commit
# (PortalRun, CommitTransactionCommand); not its parse and plan, which pgbench's prepared
# statements do once, nor the backend's start and shutdown. The first calls' one-time
# work (planning the functions' statements, compiling the PL/pgSQL) is counted, spread
# over every call: a few percent in full mode, much more over quick mode's 100 calls. Runs last: a single-user
# backend needs the data directory to itself, so it stops the server.
# ---------------------------------------------------------------------------
bench_instructions() {
  local variant script total bindir
  if [ "$OWN_CLUSTER" != 1 ]; then say "instructions: skipped (the server at PGHOST is not run.sh's own)"; return 0; fi
  say "instructions per call: $INSTRUCTION_CALLS ingest_lead and PL/pgSQL calls under callgrind"
  bindir=$(pg_config --bindir)
  reset true
  # With autovacuum off, the stages before leave the sources row's dead versions and index
  # entries behind (the webhook stage updates it 160k times): every call would walk them.
  sql -c "VACUUM public.sources" >/dev/null
  for variant in leadsync plpgsql; do sql -c "CREATE DATABASE ${DB}_$variant TEMPLATE $DB" >/dev/null; done
  as_postgres "$bindir/pg_ctl" -D "$LEADSYNC_CLUSTER_DIR/data" -m fast -w stop >/dev/null
  for variant in "leadsync:$BENCH_DIR/pgbench/leadsync_ingest_lead.pgbench" \
                 "plpgsql:$BENCH_DIR/baselines/plpgsql_ingest_lead.pgbench"; do
    script=${variant#*:} variant=${variant%%:*}
    # A pool of as many phones as calls, as pgbench's: the same mix of the three cases.
    python3 "$BENCH_DIR/lib/pgbench_calls.py" "$script" "$INSTRUCTION_CALLS" "$INSTRUCTION_CALLS" 7 \
      >"$WORK/instructions.$variant.sql"
    as_postgres valgrind --tool=callgrind --toggle-collect=PortalRun \
        --toggle-collect=CommitTransactionCommand --callgrind-out-file=/dev/null \
        "$bindir/postgres" --single -D "$LEADSYNC_CLUSTER_DIR/data" -c fsync=off -c shared_buffers=1GB \
        -c synchronous_commit=off "${DB}_$variant" <"$WORK/instructions.$variant.sql" \
        >"$WORK/instructions.$variant.out" 2>"$WORK/instructions.$variant.log" ||
      { tail -n 20 "$WORK/instructions.$variant.log" >&2; fail "the single-user run of $variant failed"; }
    [ "$(grep -c 'outcome = "' "$WORK/instructions.$variant.out")" = "$INSTRUCTION_CALLS" ] ||
      { grep -m 5 ERROR "$WORK/instructions.$variant.log" >&2; fail "not every $variant call returned an outcome"; }
    total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$WORK/instructions.$variant.log")
    [ -n "$total" ] || fail "no instruction count from callgrind for $variant"
    record "instr.${variant}_per_call" "$((total / INSTRUCTION_CALLS))"
  done
}

started_all=$(now_ms)
for b in normalize pgbench batch scaling concurrency fetch webhooks instructions; do
  if wanted $b; then "bench_$b"; fi
done
elapsed=$((($(now_ms) - started_all) / 1000))

{
  echo "leadsync benchmarks — $MODE mode, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($CPU), PostgreSQL $PG_VERSION, ${elapsed}s," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)${LEADSYNC_BENCH_MODULE:+, UNINSTALLED build $LEADSYNC_BENCH_MODULE}"
  echo
  python3 "$BENCH_DIR/lib/report.py" --mode "$MODE" --rows "$PHONE_ROWS" --batch "$BATCH_LEADS" \
    --scale-small "$SCALE_SMALL" --scale-big "$SCALE_BIG" --writers "$WRITERS" \
    --writer-leads "$((WRITERS * WRITER_BATCHES * WRITER_BATCH_LEADS))" --writer-batch "$WRITER_BATCH_LEADS" \
    --pgbench-tx "$PGBENCH_TX" --fetch-big "$((3 * FETCH_BIG_PER_FORM))" --fetch-small "$((3 * FETCH_SMALL_PER_FORM))" \
    --seed-leads "$SEED_LEADS" --instr-calls "$INSTRUCTION_CALLS" \
    --wh-leads "$WH_LEADS" --wh-rate-seconds "$WH_RATE_SECONDS" --wh-meta-rate "$WH_META_RATE" \
    --wh-meta-seconds "$WH_META_SECONDS" --wh-rss-small "$WH_RSS_SMALL" --wh-rss-big "$WH_RSS_BIG" "$RESULTS"
} >"$WORK/report.md"
cat "$WORK/report.md"
if [ -n "$OUTPUT" ]; then cp "$WORK/report.md" "$OUTPUT"; fi
if [ -n "$SAMPLES" ]; then cp "$RESULTS" "$SAMPLES"; fi
