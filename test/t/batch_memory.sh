#!/usr/bin/env bash
# An ingest_leads call's memory is bounded by its input, however many leads it writes:
# the batch is written in slices whose SQL values, arrays and statement results are
# freed before the next (ingest.cpp, kLeadsPerSlice). What stays for the whole call is
# the argument itself and, per lead, its extracted fields (about 200 bytes). Measured
# as the growth of the backend's private resident memory (RssAnon), sampled while one
# call of 200k new Meta leads runs. Before the slices it grew by 330 MB, 7.7 times the
# argument's 43 MB; now by about 93 MB.
set -u
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
source "$(dirname "$0")/lib/tap.sh"

tap_plan 3
tap_create_db batch_memory || tap_abort "cannot create the test database"

LEADS=200000
# Stored uncompressed, so that pg_column_size is the argument's size in memory.
tap_sql "CREATE TABLE batch (payloads jsonb)" "ALTER TABLE batch ALTER payloads SET STORAGE EXTERNAL" \
  "INSERT INTO batch
         SELECT jsonb_agg(jsonb_build_object(
                  'id', 'm' || i, 'created_time', '2026-11-25T08:49:14+0000',
                  'field_data', jsonb_build_array(
                      jsonb_build_object('name', 'full_name', 'values', jsonb_build_array('P' || i)),
                      jsonb_build_object('name', 'phone_number', 'values', jsonb_build_array((9100000000 + i)::text)))))
                AS payloads
           FROM generate_series(1, $LEADS) AS i" >/dev/null || tap_abort "cannot build the batch"
input_kb=$(tap_sql "SELECT pg_column_size(payloads) / 1024 FROM batch")

# The call, in a session that first waits two seconds so that its backend can be found and
# its memory read at rest.
out=$TAP_TMP/call.out
tap_bg caller tap_sql "SET application_name = 'leadsync_batch_memory'" "SELECT pg_sleep(2)" \
  "SELECT ingest_leads('meta_form', payloads) FROM batch" >"$out" 2>&1
tap_wait_for "the calling session" 10 \
  "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'leadsync_batch_memory'" 1 ||
  tap_abort "the calling session never started"
backend=$(tap_sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'leadsync_batch_memory'")
rss_anon_kb() { awk '$1 == "RssAnon:" { print $2 }' "/proc/$backend/status" 2>/dev/null; }
at_rest=$(rss_anon_kb)
# (still in its pg_sleep: else the reading is not at rest, and the test says so)
read_at_rest=false
[ "$(tap_sql "SELECT count(*) FROM pg_stat_activity WHERE pid = $backend AND query = 'SELECT pg_sleep(2)'")" = 1 ] &&
  read_at_rest=true
peak=$at_rest
while kill -0 "$caller" 2>/dev/null; do
  now=$(rss_anon_kb)
  [ -n "$now" ] && [ "$now" -gt "$peak" ] && peak=$now
  sleep 0.02
done
wait "$caller"
call_status=$?

tap_is "$call_status:$(grep -o '"insertedNew": [0-9]*' "$out")" "0:\"insertedNew\": $LEADS" \
  "one call of $LEADS new leads"
read_before_the_call() { [ -n "$at_rest" ] && $read_at_rest; }
tap_ok "the backend's memory was read at rest, before the call (${at_rest:-none} kB)" read_before_the_call
growth=$((peak - ${at_rest:-0}))
tap_ok "the call grew the backend's private memory by ${growth} kB: under 4 times its ${input_kb} kB argument" \
  [ "$growth" -lt $((4 * input_kb)) ]
