#!/usr/bin/env bash
# DESIGN.md "Concurrency and atomicity": concurrent callers of every source with
# overlapping phones never make two leads for one phone, never lose or double a count,
# never deadlock, and replaying everything concurrently changes nothing.
#
# P phones 9000000001..900000000P. Every source sends every phone exactly twice, in
# batches of SIZE phones starting every STRIDE phones (SIZE = 2 * STRIDE), generated in
# SQL. Six sessions start together behind an advisory-lock gate:
#   s_meta      meta_form        batches ascending,  payloads ascending
#   s_meta_rev  meta_form        batches descending, payloads descending (same source as s_meta)
#   s_know      knowlarity_call  batches descending, payloads descending, each phone twice per batch
#   s_google    google_ads       batches shuffled,   payloads shuffled
#   s_crm       crm_webhook      batches shuffled,   payloads descending (custom source, field_map)
#   s_single    google_ads       one ingest_lead call per phone, shuffled (same source as s_google)
# Each call records its result in t.results in the same transaction, so the results are
# exactly those of the committed calls. The expected end state is then exactly known:
# P leads, 4 * P history rows, every source's count P.
set -u
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
source "$(dirname "$0")/lib/tap.sh"

P=${LEADSYNC_CONCURRENCY_PHONES:-4000}
STRIDE=250
SIZE=$((2 * STRIDE))
SOURCES=4
SESSIONS=(s_meta s_meta_rev s_know s_google s_crm s_single)
GATE_KEY=4242

tap_plan 29
tap_create_db concurrency || tap_abort "cannot create the test database"
[ $((P % STRIDE)) -eq 0 ] || tap_abort "P must be a multiple of $STRIDE"

# --------------------------------------------------------------------------------------
# Setup: the sources (registered up front: the first ingest of a built-in source racing
# another one is covered by the last test) and the payload generators.
# --------------------------------------------------------------------------------------
tap_psql -v p="$P" -v size="$SIZE" -v stride="$STRIDE" >/dev/null <<'SQL' || tap_abort "setup failed"
SELECT ensure_source('Meta', 'meta_form'), ensure_source('Knowlarity', 'knowlarity_call'),
       ensure_source('Google', 'google_ads'),
       ensure_source('CRM Webhook', 'crm_webhook',
                     '{"phone": ["$.contact.mobile"], "name": ["$.name"], "external_id": ["$.ref"],
                       "created_at": ["$.ts"]}');

CREATE SCHEMA t;
CREATE TABLE t.config AS
    SELECT :p::int AS p, :size::int AS size, :stride::int AS stride,
           now() - interval '1 second' AS event_at;
CREATE TABLE t.results (
    id      bigserial PRIMARY KEY,
    round   int NOT NULL,
    session text NOT NULL,
    call_no int NOT NULL,
    n_sent  int NOT NULL,
    result  jsonb NOT NULL,     -- ingest_leads' counts, or ingest_lead's row as json
    lead_id bigint,
    phone   text,
    at      timestamptz NOT NULL DEFAULT clock_timestamp());

CREATE FUNCTION t.phone(i int) RETURNS text LANGUAGE sql IMMUTABLE
    RETURN (9000000000::bigint + i)::text;

-- Payload number rep of phone i, in the source's own format and phone spelling.
CREATE FUNCTION t.payload(src text, i int, rep int) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT CASE src
  WHEN 'meta_form' THEN jsonb_build_object(
      'id', 'm' || i || '-' || rep,
      'created_time', to_char(c.event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+0000"'),
      'field_data', jsonb_build_array(
          jsonb_build_object('name', 'phone_number', 'values', jsonb_build_array('+91' || t.phone(i))),
          jsonb_build_object('name', 'full_name', 'values', jsonb_build_array('Meta Lead ' || i))))
  WHEN 'knowlarity_call' THEN jsonb_build_object(
      'uuid', 'k' || i || '-' || rep,
      'customer_number', '+91-' || t.phone(i),
      'start_time', to_char(c.event_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI:SS"+05:30"'))
  WHEN 'google_ads' THEN jsonb_build_object(
      'lead_id', 'g' || i || '-' || rep,
      'user_column_data', jsonb_build_array(
          jsonb_build_object('column_id', 'FULL_NAME', 'string_value', 'Google Lead ' || i),
          jsonb_build_object('column_id', 'PHONE_NUMBER', 'string_value', '0' || t.phone(i))),
      'lead_submit_time', to_char(c.event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
  WHEN 'crm_webhook' THEN jsonb_build_object(
      'ref', 'c' || i || '-' || rep,
      'contact', jsonb_build_object('mobile', '91 ' || t.phone(i)),
      'name', 'CRM Lead ' || i,
      'ts', to_char(c.event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
END
FROM t.config AS c $$;

-- Batch k (0..p/stride) holds phones (k-1)*stride+1 .. (k-1)*stride+size, clipped to 1..p,
-- so every phone is in exactly two batches; reps payloads per phone; ord: asc, desc or
-- anything else for a shuffle.
CREATE FUNCTION t.batch(src text, k int, ord text, reps int) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_agg(t.payload(src, i, rep)
                 ORDER BY CASE ord WHEN 'asc' THEN i WHEN 'desc' THEN -i END, md5(ord || src || i || '/' || rep))
  FROM t.config AS c,
       generate_series(greatest(1, (k - 1) * c.stride + 1), least(c.p, (k - 1) * c.stride + c.size)) AS i,
       generate_series(1, reps) AS rep $$;

CREATE FUNCTION t.batch_numbers() RETURNS SETOF int LANGUAGE sql STABLE AS $$
SELECT generate_series(0, c.p / c.stride) FROM t.config AS c $$;

-- Every call's counts, from ingest_leads' jsonb or ingest_lead's outcome.
CREATE VIEW t.outcomes AS
SELECT r.*,
       COALESCE((result ->> 'insertedNew')::int, (result ->> 'outcome' = 'inserted_new')::int) AS inserted_new,
       COALESCE((result ->> 'duplicateSameSource')::int,
                (result ->> 'outcome' = 'duplicate_same_source')::int) AS duplicate_same_source,
       COALESCE((result ->> 'crossSourceHistory')::int,
                (result ->> 'outcome' = 'cross_source_history')::int) AS cross_source_history,
       COALESCE((result ->> 'rejected')::int, (result ->> 'outcome' = 'rejected')::int) AS rejected
  FROM t.results AS r;

-- Everything a replay must leave alone.
CREATE FUNCTION t.fingerprint() RETURNS text LANGUAGE sql STABLE AS $$
SELECT concat_ws(' ',
    (SELECT count(*) FROM leads_master), (SELECT count(*) FROM lead_sources_history),
    (SELECT count(*) FROM lead_rejects),
    (SELECT sum(total_leads_count) || '/' || sum(todays_leads_count) FROM sources),
    (SELECT md5(string_agg(concat_ws(',', id, phone_number_normalized, source_id, external_lead_id, full_name,
                                     platform_created_at, raw_payload), ';' ORDER BY id)) FROM leads_master),
    (SELECT md5(string_agg(concat_ws(',', id, lead_id, source_id, external_id, is_primary, received_at,
                                     platform_created_at), ';' ORDER BY id)) FROM lead_sources_history)) $$;
SQL
tap_sql "ALTER DATABASE $TAP_DB SET leadsync.timezone = 'Asia/Kolkata'" >/dev/null
DB_OID=$(tap_sql "SELECT oid FROM pg_database WHERE datname = current_database()")

# --------------------------------------------------------------------------------------
# Session scripts.
# --------------------------------------------------------------------------------------
gate_sql="SELECT pg_advisory_lock_shared($GATE_KEY); SELECT pg_advisory_unlock_shared($GATE_KEY);"

# batch_session NAME SOURCE BATCH_ORDER PAYLOAD_ORDER REPS
batch_session() {
  cat >"$TAP_TMP/$1.sql" <<SQL
$gate_sql
SELECT format(\$f\$INSERT INTO t.results (round, session, call_no, n_sent, result)
    SELECT %s, %L, %s, jsonb_array_length(b), ingest_leads(%L, b) FROM t.batch(%L, %s, %L, %s) AS b\$f\$,
    :round, '$1', k, '$2', '$2', k, '$4', $5)
  FROM t.batch_numbers() AS k
 ORDER BY CASE '$3' WHEN 'asc' THEN k WHEN 'desc' THEN -k END, md5('$1' || k)
\gexec
SQL
}
batch_session s_meta meta_form asc asc 1
batch_session s_meta_rev meta_form desc desc 1
batch_session s_know knowlarity_call desc desc 2
batch_session s_google google_ads shuffle shuffle 1
batch_session s_crm crm_webhook shuffle desc 1

cat >"$TAP_TMP/s_single.sql" <<SQL
$gate_sql
SELECT format(\$f\$INSERT INTO t.results (round, session, call_no, n_sent, result, lead_id, phone)
    SELECT %s, 's_single', %s, 1, to_jsonb(r), r.lead_id, %L
      FROM ingest_lead('google_ads', t.payload('google_ads', %s, 2)) AS r\$f\$,
    :round, i, t.phone(i), i)
  FROM t.config AS c, generate_series(1, c.p) AS i
 ORDER BY md5('single' || i)
\gexec
SQL

run_session() { # NAME ROUND
  timeout 100 psql -X -q -A -t -v ON_ERROR_STOP=1 -v round="$2" -d "$TAP_DB" -f "$TAP_TMP/$1.sql" \
    >"$TAP_TMP/$1.$2.out" 2>"$TAP_TMP/$1.$2.err"
}

# run_round ROUND: start every session behind the gate, open it, wait for all. Prints
# nothing; succeeds when every session exited 0 with an empty stderr (diagnostics else).
run_round() {
  local round=$1 gate_pid name pid status failed=0
  local -A pids=()
  rm -f "$TAP_TMP/gate"
  mkfifo "$TAP_TMP/gate"
  tap_bg gate_pid psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$TAP_DB" -f "$TAP_TMP/gate" >/dev/null
  exec 9>"$TAP_TMP/gate"
  echo "SELECT pg_advisory_lock($GATE_KEY);" >&9
  tap_wait_for "the gate lock" 20 "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = $DB_OID
      AND objid = $GATE_KEY AND mode = 'ExclusiveLock' AND granted" 1 || failed=1
  for name in "${SESSIONS[@]}"; do
    tap_bg pid run_session "$name" "$round" 9>&-
    pids[$name]=$pid
  done
  tap_wait_for "all sessions at the gate" 30 "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = $DB_OID
      AND objid = $GATE_KEY AND NOT granted" "${#SESSIONS[@]}" || failed=1
  echo "SELECT pg_advisory_unlock($GATE_KEY);" >&9
  exec 9>&-
  wait "$gate_pid" || { tap_diag "round $round: the gate session failed"; failed=1; }
  for name in "${SESSIONS[@]}"; do
    status=0
    wait "${pids[$name]}" || status=$?
    if [ "$status" -ne 0 ]; then
      tap_diag "round $round: $name exited $status"
      failed=1
    fi
    if grep -qE 'ERROR|FATAL|PANIC|WARNING|deadlock' "$TAP_TMP/$name.$round.err"; then
      tap_diag "round $round: $name reported errors:"
      tap_diag "$(head -n 20 "$TAP_TMP/$name.$round.err")"
      failed=1
    fi
  done
  return "$failed"
}

# Phones each session sends per round, and the sum over all sessions.
sent_total=$(tap_sql "SELECT sum(jsonb_array_length(t.batch(src, k, 'asc', reps))) + (SELECT p FROM t.config)
                        FROM (VALUES ('meta_form', 1), ('meta_form', 1), ('knowlarity_call', 2),
                                     ('google_ads', 1), ('crm_webhook', 1)) AS s(src, reps),
                             t.batch_numbers() AS k")
[ -n "$sent_total" ] || tap_abort "cannot count the payloads to send"

# --------------------------------------------------------------------------------------
# Round 1.
# --------------------------------------------------------------------------------------
started=$SECONDS
tap_ok "round 1: all ${#SESSIONS[@]} sessions exited 0 with no error or deadlock on stderr" run_round 1
tap_diag "round 1 took $((SECONDS - started))s"

tap_is "$(tap_sql "SELECT (SELECT max(first) < min(last) FROM (SELECT min(at) AS first, max(at) AS last
                     FROM t.results WHERE round = 1 GROUP BY session) AS s)
                   AND count(DISTINCT session) = ${#SESSIONS[@]} FROM t.results WHERE round = 1")" t \
  "round 1: the sessions ran at the same time (every session committed a call before any had finished)"

tap_is "$(tap_sql "SELECT count(*) FROM leads_master")" "$P" "count(leads_master) = P = $P"

tap_is "$(tap_sql "SELECT count(DISTINCT phone_number_normalized) = count(*)
                      AND bool_and(phone_number_normalized IN (SELECT t.phone(i) FROM generate_series(1, $P) AS i))
                     FROM leads_master")" t \
  "one lead per phone: phones distinct, each one of the P sent"

tap_is "$(tap_sql "SELECT string_agg(source_type || '=' || total_leads_count, ' ' ORDER BY source_type) FROM sources")" \
  "crm_webhook=$P google_ads=$P knowlarity_call=$P meta_form=$P" \
  "every source's total_leads_count = P"

tap_is "$(tap_sql "SELECT count(*) FROM sources AS s
                    WHERE s.total_leads_count <> (SELECT count(*) FROM lead_sources_history AS h
                                                   WHERE h.source_id = s.id)")" 0 \
  "every source's total_leads_count = its count of lead_sources_history rows"

tap_is "$(tap_sql "SELECT count(*) FROM lead_sources_history")" "$((SOURCES * P))" \
  "lead_sources_history has sources * P = $((SOURCES * P)) rows"

tap_is "$(tap_sql "SELECT count(*) FROM leads_master AS l
                    WHERE (SELECT count(*) FROM lead_sources_history AS h
                            WHERE h.lead_id = l.id AND h.is_primary) <> 1")" 0 \
  "exactly one is_primary history row per lead"

tap_is "$(tap_sql "SELECT count(*) FROM leads_master AS l
                     LEFT JOIN lead_sources_history AS h ON h.lead_id = l.id AND h.is_primary
                    WHERE h.source_id IS DISTINCT FROM l.source_id
                       OR h.external_id IS DISTINCT FROM l.external_lead_id")" 0 \
  "each lead's primary history row has the lead's source_id and external id"

tap_is "$(tap_sql "SELECT sum(inserted_new) FROM t.outcomes WHERE round = 1")" "$P" \
  "round 1: insertedNew summed over every call = P"

tap_is "$(tap_sql "SELECT sum(inserted_new + cross_source_history) FROM t.outcomes WHERE round = 1")" \
  "$((SOURCES * P))" "round 1: insertedNew + crossSourceHistory summed over every call = sources * P"

tap_is "$(tap_sql "SELECT sum(inserted_new + duplicate_same_source + cross_source_history) || ' '
                          || sum(n_sent) || ' ' || sum(rejected)
                     FROM t.outcomes WHERE round = 1")" "$sent_total $sent_total 0" \
  "round 1: every payload sent is accounted for in the results ($sent_total), none rejected"

tap_is "$(tap_sql "SELECT count(*) FROM t.results AS r JOIN leads_master AS l ON l.phone_number_normalized = r.phone
                    WHERE r.session = 's_single' AND r.round = 1 AND r.lead_id = l.id")" "$P" \
  "round 1: every ingest_lead call returned the id of its phone's lead"

if [ "$(tap_sql "SELECT business_date(event_at) = business_today() FROM t.config")" = t ]; then
  tap_is "$(tap_sql "SELECT string_agg(source_type || '=' || todays_leads_count, ' ' ORDER BY source_type)
                       FROM source_counts")" \
    "crm_webhook=$P google_ads=$P knowlarity_call=$P meta_form=$P" \
    "every source's todays_leads_count = P (all events are today's)"
else
  tap_skip "every source's todays_leads_count = P" "the business day changed during the test"
fi

# --------------------------------------------------------------------------------------
# Round 2: the same calls again, concurrently. Nothing may change.
# --------------------------------------------------------------------------------------
before=$(tap_sql "SELECT t.fingerprint()")
started=$SECONDS
tap_ok "round 2 (replay): all ${#SESSIONS[@]} sessions exited 0 with no error or deadlock on stderr" run_round 2
tap_diag "round 2 took $((SECONDS - started))s"

tap_is "$(tap_sql "SELECT t.fingerprint()")" "$before" \
  "round 2 (replay) changed nothing: row counts, sum(total_leads_count), sum(todays_leads_count), rows"

tap_is "$(tap_sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE inserted_new = 0 AND cross_source_history = 0)
                     FROM t.outcomes WHERE round = 2")" \
  "$(tap_sql "SELECT count(*) || ' ' || count(*) FROM t.results WHERE round = 1")" \
  "round 2 (replay): every call ran and reported insertedNew = 0 and crossSourceHistory = 0"

tap_is "$(tap_sql "SELECT sum(duplicate_same_source) || ' ' || sum(n_sent) FROM t.outcomes WHERE round = 2")" \
  "$sent_total $sent_total" "round 2 (replay): every payload reported as a same-source duplicate"

tap_is "$(tap_sql "SELECT count(*) FROM recount_sources()")" 0 \
  "recount_sources() returns zero rows: no count was lost or doubled"

# --------------------------------------------------------------------------------------
# Atomicity: a call that fails at its last step (the counters row is locked by another
# transaction, lock_timeout fires) leaves none of its leads or history rows behind.
# --------------------------------------------------------------------------------------
before=$(tap_sql "SELECT t.fingerprint()")
holder_pid=""
PGAPPNAME=holder tap_bg holder_pid tap_psql -c "BEGIN" \
  -c "SELECT 1 FROM sources WHERE source_type = 'meta_form' FOR NO KEY UPDATE" \
  -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null
tap_wait_for "the counters row lock" 10 "SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'holder' AND query LIKE '%pg_sleep%'" 1
failed_call=$(PGOPTIONS="${PGOPTIONS:-} -c lock_timeout=300ms" tap_sql "SELECT ingest_leads('meta_form',
    jsonb_build_array(t.payload('meta_form', 1, 9), t.payload('meta_form', 7000000, 1)) ||
    (SELECT jsonb_agg(t.payload('google_ads', i, 1)) FROM generate_series(1, 3) AS i))" 2>&1)
wait "$holder_pid"
tap_is "$(grep -c 'lock timeout' <<<"$failed_call") $(tap_sql "SELECT t.fingerprint()")
$(tap_sql "SELECT count(*) FROM leads_master WHERE phone_number_normalized = t.phone(7000000)")" \
  "1 $before
0" "a call that fails on its last step leaves no lead, history row or count behind"

# --------------------------------------------------------------------------------------
# Helpers of the deterministic race replays below.
# start_sessions PREFIX NAME...: one psql per NAME (application_name NAME) reading
#   statements from the fifo $TAP_TMP/PREFIX_NAME and writing PREFIX_NAME.out and .err
#   there; file descriptors 3, 4, ... are opened on the fifos, in the order of the names.
# end_sessions: closes those descriptors and waits for every session to finish.
# session_state NAME CONDITION: SQL counting NAME's backends that meet CONDITION.
# --------------------------------------------------------------------------------------
SESSION_PIDS=()
start_sessions() {
  local prefix=$1 name pid fd=3
  shift
  SESSION_PIDS=()
  for name in "$@"; do
    mkfifo "$TAP_TMP/${prefix}_$name"
    PGAPPNAME=$name tap_bg pid psql -X -q -A -t -v VERBOSITY=verbose -d "$TAP_DB" -f "$TAP_TMP/${prefix}_$name" \
      >"$TAP_TMP/${prefix}_$name.out" 2>"$TAP_TMP/${prefix}_$name.err"
    SESSION_PIDS+=("$pid")
  done
  for name in "$@"; do
    eval "exec $fd>\"\$TAP_TMP/${prefix}_$name\""
    fd=$((fd + 1))
  done
}
end_sessions() {
  local fd pid
  for ((fd = 3; fd < 3 + ${#SESSION_PIDS[@]}; fd++)); do eval "exec $fd>&-"; done
  for pid in "${SESSION_PIDS[@]}"; do wait "$pid"; done
}
session_state() {
  echo "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = '$1' AND $2"
}

# --------------------------------------------------------------------------------------
# The first ingest of a built-in source that races another first ingest must not take the
# sources row lock before writing its leads (ensure_source once did, via ON CONFLICT DO
# UPDATE ... WHERE), or it deadlocks with a later batch of that source which wrote one of
# its phones and then waits for the counters row. Deterministic replay with two single
# autocommit calls B and T3; H, H2 and A are other callers' open transactions.
# --------------------------------------------------------------------------------------
deadlock_repro() {
  tap_create_db first_ingest || return 1
  tap_sql "SELECT ensure_source('Knowlarity', 'knowlarity_call'), ensure_source('Google', 'google_ads')" >/dev/null
  start_sessions r H H2 A B T3   # descriptors 3 to 7
  meta() { echo "{\"id\": \"m$1\", \"field_data\": [{\"name\": \"phone_number\", \"values\": [\"+91$1\"]}]}"; }
  local v=9000000001 x=9000000005 w=9000000009 z=9000000050
  echo "BEGIN; SELECT ingest_lead('knowlarity_call', '{\"uuid\": \"k\", \"customer_number\": \"$w\"}');" >&3
  tap_wait_for "H" 10 "$(session_state H "state = 'idle in transaction'")" 1
  echo "BEGIN; SELECT ingest_lead('google_ads', '{\"lead_id\": \"g\", \"user_column_data\":
        [{\"column_id\": \"PHONE_NUMBER\", \"string_value\": \"$v\"}]}');" >&4
  tap_wait_for "H2" 10 "$(session_state H2 "state = 'idle in transaction'")" 1
  echo "BEGIN; SELECT ingest_lead('meta_form', '$(meta $z)');" >&5         # creates meta_form
  tap_wait_for "A" 10 "$(session_state A "state = 'idle in transaction'")" 1
  echo "SELECT 'B', ingest_leads('meta_form', '[$(meta $v), $(meta $x)]');" >&6  # waits in ensure_source
  tap_wait_for "B" 10 "$(session_state B "wait_event_type = 'Lock'")" 1
  echo "COMMIT;" >&5                                                        # B locks meta_form, waits for H2 on v
  tap_wait_for "A" 10 "$(session_state A "state = 'idle' AND query = 'COMMIT;'")" 1
  echo "SELECT 'T3', ingest_leads('meta_form', '[$(meta $x), $(meta $w)]');" >&7 # writes x, waits for H on w
  tap_wait_for "T3" 10 "$(session_state T3 "wait_event_type = 'Lock'")" 1
  echo "COMMIT;" >&4                                                        # B goes on to x: waits for T3
  sleep 0.3
  echo "COMMIT;" >&3                                                        # T3 goes on to the counters
  end_sessions
  cat "$TAP_TMP"/r_*.err
}
deadlock_repro >"$TAP_TMP/repro.log" 2>&1
tap_is "$(grep -E 'ERROR' "$TAP_TMP/repro.log" | head -n 1)" "" \
  "two single ingest_leads calls, one the first of its built-in source, do not deadlock"

# --------------------------------------------------------------------------------------
# ingest_lead whose phone another call has inserted but not yet committed: its insert
# waits, then conflicts, and the call must still settle its case in a fresh snapshot (a
# cross-source row for another source, a duplicate for the same one), with the lead's id
# and exact counts. Deterministic: H holds the phone's new lead while K and M wait on it.
# --------------------------------------------------------------------------------------
single_race() {
  local phone=9000000077
  tap_create_db single_race || return 1
  tap_sql "SELECT ensure_source('Meta', 'meta_form'), ensure_source('Knowlarity', 'knowlarity_call')" >/dev/null
  start_sessions s H K M   # descriptors 3 to 5
  meta_lead() { echo "{\"id\": \"$1\", \"field_data\": [{\"name\": \"phone_number\", \"values\": [\"+91$phone\"]}]}"; }
  echo "BEGIN; SELECT 'H', r.outcome FROM ingest_lead('meta_form', '$(meta_lead m1)') AS r;" >&3
  tap_wait_for "H" 10 "$(session_state H "state = 'idle in transaction'")" 1
  echo "SELECT 'K', r.outcome, r.lead_id FROM ingest_lead('knowlarity_call',
          '{\"uuid\": \"k1\", \"customer_number\": \"$phone\"}') AS r;" >&4
  tap_wait_for "K" 10 "$(session_state K "wait_event_type = 'Lock'")" 1
  echo "SELECT 'M', r.outcome, r.lead_id FROM ingest_lead('meta_form', '$(meta_lead m2)') AS r;" >&5
  tap_wait_for "M" 10 "$(session_state M "wait_event_type = 'Lock'")" 1
  echo "COMMIT;" >&3
  end_sessions
  local id
  id=$(tap_sql "SELECT id FROM leads_master WHERE phone_number_normalized = '$phone'")
  cat "$TAP_TMP"/s_H.out "$TAP_TMP"/s_K.out "$TAP_TMP"/s_M.out "$TAP_TMP"/s_*.err | sed "s/|$id\$/|LEAD/"
  tap_sql "SELECT string_agg(s.source_type || '=' || s.total_leads_count || '/' || s.todays_leads_count || '/'
                             || (SELECT count(*) FROM lead_sources_history AS h WHERE h.source_id = s.id), ' '
                             ORDER BY s.source_type) FROM sources AS s" \
          "SELECT count(*) FROM leads_master" "SELECT count(*) FROM recount_sources()"
}
tap_is "$(single_race 2>&1)" "H|inserted_new
K|cross_source_history|LEAD
M|duplicate_same_source|LEAD
knowlarity_call=1/1/1 meta_form=1/1/1
1
0" "ingest_lead racing an uncommitted insert of its phone: a cross-source row or a duplicate, the lead's id, exact counts"

# --------------------------------------------------------------------------------------
# ingest_lead writing a cross-source row for a lead that another transaction is deleting
# must wait for that lead before it locks the source row: the deleting transaction may
# want the source row next (recount_sources locks every one), and the two would deadlock.
# The call then finds the lead gone and fails with 40001, writing nothing.
# --------------------------------------------------------------------------------------
# lead_being_deleted DB PREFIX PHONE: a database with PHONE's Meta lead, sessions D and K
# (descriptors 3 and 4), and D's open transaction that has just deleted the lead.
lead_being_deleted() {
  tap_create_db "$1" || return 1
  tap_sql "SELECT ensure_source('Knowlarity', 'knowlarity_call')" \
          "SELECT r.outcome FROM ingest_lead('meta_form', '{\"id\": \"m1\", \"field_data\":
             [{\"name\": \"phone_number\", \"values\": [\"$3\"]}]}') AS r" >/dev/null
  start_sessions "$2" D K
  echo "BEGIN; DELETE FROM leads_master WHERE phone_number_normalized = '$3';" >&3
  tap_wait_for "D" 10 "$(session_state D "state = 'idle in transaction'")" 1
}
deleted_lead_race() {
  local phone=9000000088
  lead_being_deleted deleted_race d "$phone" || return 1
  echo "SELECT 'K', r.outcome FROM ingest_lead('knowlarity_call',
          '{\"uuid\": \"k1\", \"customer_number\": \"$phone\"}') AS r;" >&4
  tap_wait_for "K" 10 "$(session_state K "wait_event_type = 'Lock'")" 1
  echo "SELECT 'D', count(*) FROM recount_sources(); COMMIT;" >&3
  end_sessions
  cat "$TAP_TMP"/d_D.out "$TAP_TMP"/d_K.out
  grep -h -o -e 'deadlock detected' -e '40001' -e 'the lead was deleted while this call wrote it' "$TAP_TMP"/d_*.err
  tap_sql "SELECT count(*) FROM leads_master" "SELECT count(*) FROM lead_sources_history" \
          "SELECT count(*) FROM recount_sources()"
}
tap_is "$(deleted_lead_race 2>&1)" "D|1
40001
the lead was deleted while this call wrote it
0
0
0" "ingest_lead racing the deletion of its lead: no deadlock with recount_sources, a 40001 error, nothing written"

# --------------------------------------------------------------------------------------
# ingest_lead reads lead_sources_history through a table OID it found by name (and
# remembers for the session). When another session renames that table away and puts a
# new one under its name while the call waits for the lock, the call must read the table
# now called lead_sources_history, as its write statement will: reading the old one would
# report a duplicate and write nothing, call after call.
# --------------------------------------------------------------------------------------
swapped_table_race() {
  local phone=9000000099
  tap_create_db swap_race || return 1
  start_sessions w S A   # descriptors 3 and 4
  meta() { echo "SELECT '$1', r.outcome FROM ingest_lead('meta_form', '{\"id\": \"$1\", \"field_data\":
                   [{\"name\": \"phone_number\", \"values\": [\"$phone\"]}]}') AS r;"; }
  meta A1 >&4   # the phone's lead and history row; A's backend now knows both tables
  tap_wait_for "A1" 10 "SELECT count(*) FROM lead_sources_history" 1
  echo "BEGIN;
        CREATE TABLE lead_sources_history_new (LIKE lead_sources_history INCLUDING ALL);
        ALTER TABLE lead_sources_history RENAME TO lead_sources_history_old;
        ALTER TABLE lead_sources_history_new RENAME TO lead_sources_history;" >&3
  tap_wait_for "S" 10 "$(session_state S "state = 'idle in transaction'")" 1
  meta A2 >&4
  tap_wait_for "A2 waiting" 10 "$(session_state A "wait_event_type = 'Lock'")" 1
  echo "COMMIT;" >&3
  meta A3 >&4
  end_sessions
  cat "$TAP_TMP/w_A.out" "$TAP_TMP/w_A.err"
  tap_sql "SELECT count(*) FROM lead_sources_history" "SELECT count(*) FROM lead_sources_history_old"
}
tap_is "$(swapped_table_race 2>&1)" "A1|inserted_new
A2|cross_source_history
A3|duplicate_same_source
1
1" "ingest_lead waiting on a table another session swaps for a new one reads the new one, then and after"

# --------------------------------------------------------------------------------------
# The same race for a batch: ingest_leads sends a cross-source row for a lead another
# transaction is deleting, and a new lead. The batch waits for the lead, then finds it
# gone: a 40001 error (the fetcher retries it), nothing written. It must neither fail on
# the foreign key nor count the payload as a duplicate and drop it.
# --------------------------------------------------------------------------------------
deleted_lead_batch_race() {
  local phone=9000000077
  lead_being_deleted deleted_batch b "$phone" || return 1
  echo "SELECT 'K', ingest_leads('knowlarity_call', '[{\"uuid\": \"k1\", \"customer_number\": \"$phone\"},
                                                      {\"uuid\": \"k2\", \"customer_number\": \"9000000078\"}]');" >&4
  tap_wait_for "K" 10 "$(session_state K "wait_event_type = 'Lock'")" 1
  echo "COMMIT;" >&3
  end_sessions
  cat "$TAP_TMP"/b_K.out
  grep -h -o -e 'violates foreign key' -e '40001' -e 'the lead was deleted while this call wrote it' "$TAP_TMP"/b_K.err
  tap_sql "SELECT count(*) FROM leads_master" "SELECT count(*) FROM lead_sources_history" \
          "SELECT total_leads_count FROM sources WHERE source_type = 'knowlarity_call'"
}
tap_is "$(deleted_lead_batch_race 2>&1)" "40001
the lead was deleted while this call wrote it
0
0
0" "ingest_leads racing the deletion of one of its leads: a 40001 error, nothing written, nothing lost as a duplicate"

# --------------------------------------------------------------------------------------
# And when the DELETE commits between the batch's first look (the lead is there) and its
# history insert, which the batch reaches only after waiting for another session's
# uncommitted lead: the lead is simply gone by then. The batch must not count the payload
# as a duplicate and drop it; it fails with 40001 and writes nothing.
# --------------------------------------------------------------------------------------
deleted_before_history_race() {
  local phone=9000000066 other=9000000067
  tap_create_db deleted_gap || return 1
  tap_sql "SELECT ensure_source('Knowlarity', 'knowlarity_call'), ensure_source('Google', 'google_ads')" \
          "SELECT r.outcome FROM ingest_lead('meta_form', '{\"id\": \"m1\", \"field_data\":
             [{\"name\": \"phone_number\", \"values\": [\"$phone\"]}]}') AS r" >/dev/null
  start_sessions g T K   # descriptors 3 and 4
  echo "BEGIN; SELECT 'T', r.outcome FROM ingest_lead('google_ads', '{\"lead_id\": \"g1\",
          \"user_column_data\": [{\"column_id\": \"PHONE_NUMBER\", \"string_value\": \"$other\"}]}') AS r;" >&3
  tap_wait_for "T" 10 "$(session_state T "state = 'idle in transaction'")" 1
  echo "SELECT 'K', ingest_leads('knowlarity_call', '[{\"uuid\": \"k1\", \"customer_number\": \"$phone\"},
                                                      {\"uuid\": \"k2\", \"customer_number\": \"$other\"}]');" >&4
  tap_wait_for "K waiting on T's lead" 10 "$(session_state K "wait_event_type = 'Lock'")" 1
  tap_sql "DELETE FROM leads_master WHERE phone_number_normalized = '$phone'"
  echo "COMMIT;" >&3
  end_sessions
  cat "$TAP_TMP"/g_K.out
  grep -h -o -e '40001' -e 'the lead was deleted while this call wrote it' "$TAP_TMP"/g_K.err
  tap_sql "SELECT count(*) FROM lead_sources_history AS h JOIN sources AS s ON s.id = h.source_id
            WHERE s.source_type = 'knowlarity_call'"
}
tap_is "$(deleted_before_history_race 2>&1)" "40001
the lead was deleted while this call wrote it
0" "ingest_leads whose known lead is deleted before its history insert: a 40001 error, not a dropped duplicate"

# --------------------------------------------------------------------------------------
# ingest remembers each built-in source's id per backend. A rename that another session
# commits while this session's transaction is open must be seen by this session's next
# call, as a fresh snapshot would see it: else the lead goes to the renamed row.
# --------------------------------------------------------------------------------------
# A Meta payload for phone $1, quoted as an SQL literal (the two source races below).
meta_literal() { echo "'{\"id\": \"m$1\", \"field_data\": [{\"name\": \"phone_number\", \"values\": [\"$1\"]}]}'"; }
renamed_source_race() {
  tap_create_db renamed_source || return 1
  start_sessions s A   # descriptor 3
  echo "SELECT FROM ingest_lead('meta_form', $(meta_literal 9000000071)); BEGIN; SELECT 'A began';" >&3
  tap_wait_for "A" 10 "$(session_state A "state = 'idle in transaction'")" 1
  tap_sql "UPDATE sources SET source_type = 'meta_form_2025' WHERE source_type = 'meta_form'"
  echo "SELECT FROM ingest_lead('meta_form', $(meta_literal 9000000072)); COMMIT;" >&3
  end_sessions
  tap_sql "SELECT s.source_type FROM lead_sources_history AS h JOIN sources AS s ON s.id = h.source_id
             JOIN leads_master AS l ON l.id = h.lead_id
            WHERE l.phone_number_normalized IN ('9000000071', '9000000072') ORDER BY l.phone_number_normalized"
}
tap_is "$(renamed_source_race 2>&1)" "meta_form_2025
meta_form" "a source renamed by another session's commit during an open transaction: the next lead goes to a new meta_form source"

# --------------------------------------------------------------------------------------
# Under REPEATABLE READ a call reads the sources row with its transaction's snapshot,
# which may predate a rename another session committed: that id serves the call but must
# not be remembered, or every later call of the connection uses the renamed row.
# --------------------------------------------------------------------------------------
repeatable_read_source_race() {
  tap_create_db rr_source || return 1
  tap_sql "SELECT FROM ingest_lead('meta_form', $(meta_literal 9000000081))" >/dev/null
  start_sessions rr A   # descriptor 3
  echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 'A began';" >&3
  tap_wait_for "A" 10 "$(session_state A "state = 'idle in transaction'")" 1
  tap_sql "UPDATE sources SET source_type = 'meta_form_2025' WHERE source_type = 'meta_form'" \
          "SELECT FROM ensure_source('Meta', 'meta_form')" >/dev/null
  echo "SELECT r.outcome FROM ingest_lead('meta_form', $(meta_literal 9000000081)) AS r; COMMIT;
        SELECT FROM ingest_lead('meta_form', $(meta_literal 9000000082));" >&3
  end_sessions
  cat "$TAP_TMP"/rr_A.out | grep -v 'A began'
  tap_sql "SELECT s.source_type FROM lead_sources_history AS h JOIN sources AS s ON s.id = h.source_id
             JOIN leads_master AS l ON l.id = h.lead_id WHERE l.phone_number_normalized = '9000000082'"
}
tap_is "$(repeatable_read_source_race 2>&1)" "duplicate_same_source
meta_form" "a source id read under REPEATABLE READ before another session's rename is not remembered for later calls"

# --------------------------------------------------------------------------------------
# A batch of more than one slice (10k leads, ingest.cpp) must still take its locks in the
# order every batch takes them: all its new leads in phone order, then all its history
# rows. Writing one slice's leads and rows before the next's deadlocked with a small
# batch: big batch A wrote (Px, Meta) in its first slice and, in its second, waited for
# the lead Py that small batch B had inserted while B waited for A's (Px, Meta) row.
# Deterministic: C holds the new lead Pz, first of A's second slice, so that A stops
# there; B runs; then C commits and A goes on to Py.
# --------------------------------------------------------------------------------------
slice_order_race() {
  local px=9100010000 pz=9200000001 py=9200000002
  tap_create_db slice_order || return 1
  tap_sql "SELECT FROM ingest_lead('knowlarity_call', '{\"uuid\": \"k-x\", \"customer_number\": \"$px\"}')" \
          "SELECT FROM ensure_source('Meta', 'meta_form')" >/dev/null
  start_sessions so C A B   # descriptors 3 to 5
  echo "BEGIN; SELECT FROM ingest_lead('knowlarity_call', '{\"uuid\": \"k-z\", \"customer_number\": \"$pz\"}');" >&3
  tap_wait_for "C" 10 "$(session_state C "state = 'idle in transaction'")" 1
  echo "SELECT 'A', ingest_leads('meta_form', (SELECT jsonb_agg(jsonb_build_object('id', 'a' || p,
          'field_data', jsonb_build_array(jsonb_build_object('name', 'phone_number', 'values', jsonb_build_array(p::text)))))
          FROM (SELECT 9100000000 + i AS p FROM generate_series(1, 10000) AS i UNION ALL VALUES ($pz), ($py)) AS a));" >&4
  tap_wait_for "A waiting for C's lead" 30 "$(session_state A "wait_event_type = 'Lock'")" 1
  echo "SELECT 'B', ingest_leads('meta_form', '[$(meta_literal $px | tr -d "'"), $(meta_literal $py | tr -d "'")]');" >&5
  tap_wait_for "B waiting or done" 10 "$(session_state B "(wait_event_type = 'Lock' OR state = 'idle')")" 1
  echo "COMMIT;" >&3
  end_sessions
  cat "$TAP_TMP"/so_A.out "$TAP_TMP"/so_B.out "$TAP_TMP"/so_*.err
  tap_sql "SELECT string_agg(s.source_type || '=' || s.total_leads_count || '/'
                             || (SELECT count(*) FROM lead_sources_history AS h WHERE h.source_id = s.id), ' '
                             ORDER BY s.source_type) FROM sources AS s"
}
tap_is "$(slice_order_race 2>&1)" 'A|{"rejected": 0, "insertedNew": 9999, "crossSourceHistory": 1, "duplicateSameSource": 2}
B|{"rejected": 0, "insertedNew": 1, "crossSourceHistory": 1, "duplicateSameSource": 0}
knowlarity_call=2/2 meta_form=10002/10002' \
  "a batch of two slices and a small batch sharing its phones do not deadlock, and count every row once"
