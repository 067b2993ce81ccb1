#!/usr/bin/env bash
# A batch streams its rows from the arrays it builds: an ingest_leads call never copies
# its payloads into temporary files, however small work_mem is. (A statement reading its
# arrays through ROWS FROM or WITH ORDINALITY copies every row into a tuplestore first,
# which spills to disk past work_mem: 98 MB for a call of 100k Meta leads.) Checked with
# log_temp_files, whose LOG lines reach the client at client_min_messages = log. What a
# call may still spill is the history statement's count of rows written, 11 bytes a row
# of a slice of 10k leads (110 kB: within the default work_mem).
set -u
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
source "$(dirname "$0")/lib/tap.sh"

tap_plan 9
tap_create_db temp_files || tap_abort "cannot create the test database"

# batch SOURCE_TYPE PAYLOAD_SQL: one ingest_leads call of 3000 payloads (PAYLOAD_SQL, of
# i = 1..3000; about 1 MB, 16 times work_mem below), every temporary file logged to the
# client. Prints the call's result and its LOG lines.
batch() {
  tap_sql "CREATE TEMP TABLE b AS SELECT jsonb_agg($2) AS payloads FROM generate_series(1, 3000) AS i" \
    "SET work_mem = '64kB'" "SET log_temp_files = 0" "SET client_min_messages = log" \
    "SELECT ingest_leads('$1', b.payloads) FROM b" 2>&1
}
meta() { # FIRST_PHONE
  echo "jsonb_build_object('id', 'm' || i, 'created_time', '2026-11-25T08:49:14+0000',
          'field_data', jsonb_build_array(
              jsonb_build_object('name', 'full_name', 'values', jsonb_build_array('Person ' || i)),
              jsonb_build_object('name', 'phone_number', 'values', jsonb_build_array(($1 + i)::text)),
              jsonb_build_object('name', 'notes', 'values', jsonb_build_array(repeat('x', 200)))))"
}
knowlarity() { # FIRST_PHONE
  echo "jsonb_build_object('uuid', 'k' || i, 'customer_number', ($1 + i)::text,
          'start_time', '2026-11-25 14:19:14+05:30', 'notes', repeat('x', 200))"
}
# The bytes of temporary files a call's LOG lines report.
temp_bytes() { sed -n 's/.*temporary file: .*, size \([0-9]*\)$/\1/p' <<<"$1" | awk '{ s += $1 } END { print s + 0 }'; }
under_64k() { [ "$(temp_bytes "$1")" -lt 65536 ] || { tap_diag "$(grep 'temporary file' <<<"$1")"; return 1; }; }

outcome() { grep '^{' <<<"$1" | jq -c '[.insertedNew, .duplicateSameSource, .crossSourceHistory, .rejected]'; }

# The LOG lines do reach the client: a sort of 20000 md5 strings spills, and says so.
out=$(tap_sql "SET work_mem = '64kB'" "SET log_temp_files = 0" "SET client_min_messages = log" \
  "SELECT count(*) FROM (SELECT md5(i::text) FROM generate_series(1, 20000) AS i ORDER BY 1 OFFSET 0) AS s" 2>&1)
tap_ok "a sort past work_mem logs its temporary file to the client" [ "$(temp_bytes "$out")" -gt 65536 ]

out=$(batch meta_form "$(meta 9100000000)")
tap_is "$(outcome "$out")" '[3000,0,0,0]' "3000 new leads in one call"
tap_ok "a call of new leads spills no payload (under 64 kB of temporary files)" under_64k "$out"
out=$(batch meta_form "$(meta 9100000000)")
tap_is "$(outcome "$out")" '[0,3000,0,0]' "the same call again: 3000 duplicates"
tap_ok "nor the same call again (all duplicates)" under_64k "$out"
out=$(batch knowlarity_call "$(knowlarity 9100001500)")
tap_is "$(outcome "$out")" '[1500,0,1500,0]' "a Knowlarity call of 1500 known phones and 1500 new ones"
tap_ok "nor a call of half cross-source rows, half new leads" under_64k "$out"
out=$(batch google_ads "$(meta 9100000000)")   # Meta's shape has no Google phone field
tap_is "$(outcome "$out")" '[0,0,0,3000]' "a Google call of payloads in Meta's shape: 3000 rejects"
tap_ok "nor a call of 3000 rejected payloads" under_64k "$out"
