#!/usr/bin/env bash
# DESIGN.md "Security": every table holding user data is registered for pg_dump, so a
# pg_dump of a database with leads, restored into a new database, has every lead,
# history row, reject and source count; the restored database goes on deduplicating
# against the restored leads and its sequences continue after the restored ids.
set -u
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
source "$(dirname "$0")/lib/tap.sh"

tap_plan 13
tap_create_db dump_src || tap_abort "cannot create the source database"
SRC=$TAP_DB
tap_new_empty_db DST dump_dst || tap_abort "cannot create the target database"
DUMP=$TAP_TMP/leads.dump

on_db() { # DB SQL...: tap_sql on another database
  local db=$1
  shift
  TAP_DB=$db tap_sql "$@"
}

# --------------------------------------------------------------------------------------
# The ingest script, run on the source and again on the restored database. Phones are
# 91000000NN: meta_form 1-50, knowlarity_call 26-76 (76 spelled in Devanagari digits),
# google_ads 60-90 step 3 (single calls), crm_partner (custom, field_map) 1-10 and
# 91-100; one to two rejects per source. 91 leads, 132 history rows (41 cross-source),
# 5 rejects. It prints the summed outcomes: inserted duplicate cross rejected.
# --------------------------------------------------------------------------------------
cat >"$TAP_TMP/ingest.sql" <<'SQL'
SET client_min_messages = warning;
\o /dev/null
CREATE TEMP TABLE r (label text, inserted int, duplicate int, crossed int, rejected int);
CREATE FUNCTION pg_temp.add(label text, res jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO r VALUES (label, (res ->> 'insertedNew')::int, (res ->> 'duplicateSameSource')::int,
                        (res ->> 'crossSourceHistory')::int, (res ->> 'rejected')::int) $$;

SELECT pg_temp.add('meta', ingest_leads('meta_form',
  (SELECT jsonb_agg(jsonb_build_object(
            'id', 'm' || i,
            'created_time', '2026-11-2' || (i % 6) || 'T08:49:14+0000',
            'field_data', jsonb_build_array(
                jsonb_build_object('name', 'phone_number', 'values', jsonb_build_array('+91' || (9100000000 + i))),
                jsonb_build_object('name', 'full_name', 'values',
                                   jsonb_build_array('Meta "Lead" ' || i || E'\nसत्यम् \\ O''Brien'))))
            ORDER BY i)
     FROM generate_series(1, 50) AS i)
  || '[{"id": "m-nophone", "field_data": [{"name": "full_name", "values": ["No Phone"]}]},
       {"id": "m-short", "field_data": [{"name": "phone_number", "values": ["12345"]}]}]'::jsonb));

SELECT pg_temp.add('knowlarity', ingest_leads('knowlarity_call',
  (SELECT jsonb_agg(jsonb_build_object(
            'uuid', 'k' || i,
            'customer_number', '+91-' || (9100000000 + i),
            'start_time', '2026-11-2' || (i % 6) || ' 10:00:00+05:30') ORDER BY i DESC)
     FROM generate_series(26, 75) AS i)
  || '[{"uuid": "k76", "customer_number": "+९१ ९१०० ०० ००७६", "start_time": "2026-11-25 11:30:00+05:30"},
       {"uuid": "k-bad", "customer_number": "anonymous"}]'::jsonb));

SELECT pg_temp.add('google', to_jsonb(res))
  FROM (SELECT (r.outcome = 'inserted_new')::int AS "insertedNew",
               (r.outcome = 'duplicate_same_source')::int AS "duplicateSameSource",
               (r.outcome = 'cross_source_history')::int AS "crossSourceHistory",
               (r.outcome = 'rejected')::int AS rejected
          FROM generate_series(60, 93, 3) AS i,
               LATERAL ingest_lead('google_ads', CASE WHEN i = 93 THEN '{"lead_id": "g-bad"}'::jsonb ELSE
                   jsonb_build_object('lead_id', 'g' || i,
                       'user_column_data', jsonb_build_array(
                           jsonb_build_object('column_id', 'FULL_NAME', 'string_value', 'Google Lead ' || i),
                           jsonb_build_object('column_id', 'PHONE_NUMBER', 'string_value', '0' || (9100000000 + i))),
                       'lead_submit_time', '2026-11-25T09:15:02Z') END) AS r) AS res;

SELECT ensure_source('CRM "Partner"', 'crm_partner',
  '{"phone": ["$.contact.mobile", "$.phone"], "name": ["$.name"], "external_id": ["$.ref"], "created_at": ["$.ts"]}') IS NOT NULL;
SELECT ensure_source('Empty Partner', 'empty_partner', '{"phone": ["$.p"]}') IS NOT NULL;
SELECT pg_temp.add('crm', ingest_leads('crm_partner',
  (SELECT jsonb_agg(CASE WHEN i % 2 = 0
                         THEN jsonb_build_object('ref', 'c' || i, 'contact', jsonb_build_object('mobile', '91 ' || (9100000000 + i)))
                         ELSE jsonb_build_object('ref', 'c' || i, 'phone', (9100000000 + i)::text, 'name', NULL,
                                                 'ts', '2026-11-24T10:00:00Z') END ORDER BY i)
     FROM (SELECT generate_series(1, 10) UNION ALL SELECT generate_series(91, 100)) AS s(i))
  || '[{"ref": "c-bad", "contact": {}}]'::jsonb));

\o
SELECT sum(inserted) || ' ' || sum(duplicate) || ' ' || sum(crossed) || ' ' || sum(rejected) FROM r;
SQL

# Each table's row count and a digest of all its rows, in id order.
table_digest() { # DB TABLE
  on_db "$1" "SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, E'\n' ORDER BY x.id)), '-') FROM $2 AS x" ||
    echo "query failed"
}
sequence_state() { # DB
  on_db "$1" "SELECT concat_ws(' ',
                (SELECT 'sources=' || last_value || '/' || is_called FROM sources_id_seq),
                (SELECT 'leads_master=' || last_value || '/' || is_called FROM leads_master_id_seq),
                (SELECT 'history=' || last_value || '/' || is_called FROM lead_sources_history_id_seq),
                (SELECT 'rejects=' || last_value || '/' || is_called FROM lead_rejects_id_seq))" || echo "query failed"
}
TABLES=(sources leads_master lead_sources_history lead_rejects)

# --------------------------------------------------------------------------------------
# Source database.
# --------------------------------------------------------------------------------------
first=$(tap_psql -f "$TAP_TMP/ingest.sql" 2>&1) || tap_abort "ingest into the source database failed: $first"
# The application works the leads too: its columns must survive as well.
tap_sql "UPDATE leads_master SET status = 'Contacted', assigned_to = 'agent 7', total_attempts = 2,
                 is_qualified = true, next_followup_at = '2026-12-01 10:00+05:30',
                 alternate_phone_number = '9800000000'
          WHERE phone_number_normalized = '9100000005'" >/dev/null || tap_abort "update failed"

tap_is "$first | $(tap_sql "SELECT (SELECT count(*) FROM sources) || ' ' || (SELECT count(*) FROM leads_master) || ' '
                    || (SELECT count(*) FROM lead_sources_history) || ' '
                    || (SELECT count(*) FROM lead_sources_history WHERE NOT is_primary) || ' '
                    || (SELECT count(*) FROM lead_rejects) || ' '
                    || (SELECT string_agg(total_leads_count::text, ',' ORDER BY id) FROM sources)")" \
  "91 0 41 5 | 5 91 132 41 5 50,51,11,20,0" \
  "source database: 91 leads, 132 history rows (41 cross-source), 5 rejects, 5 sources with counts"

declare -A before
for table in "${TABLES[@]}"; do before[$table]=$(table_digest "$SRC" "$table"); done
before_sequences=$(sequence_state "$SRC")
max_ids=$(tap_sql "SELECT (SELECT max(id) FROM sources) || ' ' || (SELECT max(id) FROM leads_master) || ' '
                          || (SELECT max(id) FROM lead_sources_history) || ' ' || (SELECT max(id) FROM lead_rejects)")

# --------------------------------------------------------------------------------------
# Dump, restore.
# --------------------------------------------------------------------------------------
dump_ok() {
  pg_dump -Fc -f "$DUMP" -d "$SRC" 2>"$TAP_TMP/dump.err" || { tap_diag "pg_dump exited $?"; return 1; }
  [ -s "$TAP_TMP/dump.err" ] && { tap_diag "pg_dump printed: $(cat "$TAP_TMP/dump.err")"; return 1; }
  return 0
}
tap_ok "pg_dump -Fc exited 0 and printed nothing" dump_ok

restore_ok() {
  pg_restore -d "$DST" "$DUMP" 2>"$TAP_TMP/restore.err" || { tap_diag "pg_restore exited $?"; return 1; }
  [ -s "$TAP_TMP/restore.err" ] && { tap_diag "pg_restore printed: $(head -n 20 "$TAP_TMP/restore.err")"; return 1; }
  return 0
}
tap_ok "pg_restore into a new database exited 0 and printed no error" restore_ok

# --------------------------------------------------------------------------------------
# Restored database: table by table.
# --------------------------------------------------------------------------------------
tap_is "$(table_digest "$DST" sources)" "${before[sources]}" \
  "sources restored: every row, counters and field_map identical"
tap_is "$(table_digest "$DST" leads_master)" "${before[leads_master]}" \
  "leads_master restored: every lead identical"
tap_is "$(table_digest "$DST" lead_sources_history)" "${before[lead_sources_history]}" \
  "lead_sources_history restored: every history row identical"
tap_is "$(table_digest "$DST" lead_rejects)" "${before[lead_rejects]}" \
  "lead_rejects restored: every reject identical"
tap_is "$(sequence_state "$DST")" "$before_sequences" "the id sequences are restored"
tap_is "$(on_db "$DST" "SELECT count(*) FROM recount_sources()")" 0 \
  "restored counts agree with the restored history (recount_sources() returns zero rows)"

# --------------------------------------------------------------------------------------
# The restored database goes on: the same payloads again change nothing ...
# --------------------------------------------------------------------------------------
again=$(TAP_DB=$DST tap_psql -f "$TAP_TMP/ingest.sql" 2>&1)
tap_is "$again" "0 132 0 5" \
  "ingesting the same payloads into the restored database: all duplicates (and the same rejects)"

changed=""
for table in "${TABLES[@]}"; do
  [ "$(table_digest "$DST" "$table")" = "${before[$table]}" ] || changed="$changed $table"
done
tap_is "${changed:-none}" "none" "... and changes no row of any table"

# ... and new payloads get fresh ids after the restored ones.
read -r max_source max_lead max_history max_reject <<<"$max_ids"
new_ids=$(on_db "$DST" \
  "SELECT ensure_source('Late Partner', 'late_partner', '{\"phone\": [\"\$.p\"]}')" \
  "SELECT (ingest_lead('meta_form', '{\"id\": \"m-new\", \"field_data\": [{\"name\": \"phone_number\",
           \"values\": [\"+919199999999\"]}]}')).lead_id" \
  "SELECT id FROM lead_sources_history WHERE external_id = 'm-new'" \
  "SELECT (ingest_lead('meta_form', '{\"id\": \"m-new-bad\"}')).outcome" \
  "SELECT max(id) FROM lead_rejects" 2>&1 | tr '\n' ' ')
read -r new_source new_lead new_history reject_outcome new_reject <<<"$new_ids"
tap_ok "a new lead gets fresh ids after the restored ones (lead $new_lead > $max_lead, history $new_history > $max_history)" \
  test "${new_lead:-0}" -gt "$max_lead" -a "${new_history:-0}" -gt "$max_history"
tap_ok "a new source and a new reject get fresh ids (source $new_source > $max_source, reject $new_reject > $max_reject)" \
  test "${new_source:-0}" -gt "$max_source" -a "$reject_outcome" = rejected -a "${new_reject:-0}" -gt "$max_reject"
