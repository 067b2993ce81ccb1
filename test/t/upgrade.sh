#!/usr/bin/env bash
# The upgrade path: from the oldest released version (sql/released/) through every
# upgrade script to the current one, with data in the tables. Nothing may be lost, the
# counts must hold, and the upgraded schema must equal a fresh install's.
set -u
source "$(dirname "$0")/lib/tap.sh"
ROOT=${LEADSYNC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}

tap_plan 9
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/extension/leadsync.control")
oldest=$(ls "$ROOT"/sql/released/leadsync--*.sql | sed 's/.*leadsync--\(.*\)\.sql/\1/' | sort -V | head -n 1)

# A released version's schema is frozen: the install script (sql/install/*.sql, joined)
# may differ from it only after EXTVERSION moved on (with an upgrade script).
if [ -f "$ROOT/sql/released/leadsync--$current.sql" ]; then
  tap_ok "sql/install/*.sql is still exactly release $current (a change needs a new version and an upgrade script)" \
    cmp -s <(cat "$ROOT"/sql/install/*.sql) "$ROOT/sql/released/leadsync--$current.sql"
else
  tap_ok "version $current is unreleased; an upgrade script leads to it from the last release" \
    test -n "$(ls "$ROOT"/sql/leadsync--*--"$current".sql 2>/dev/null)"
fi

# Everything leadsync stores, as one fingerprint (ids included: an upgrade keeps them).
fingerprint() {
  tap_sql "SELECT md5(concat_ws('|',
    (SELECT string_agg(concat_ws(',', id, display_name, source_type, total_leads_count, todays_leads_count,
                                 todays_count_date, field_map), ';' ORDER BY id) FROM sources),
    (SELECT string_agg(l::text, ';' ORDER BY id) FROM leads_master l),
    (SELECT string_agg(h::text, ';' ORDER BY id) FROM lead_sources_history h),
    (SELECT string_agg(r::text, ';' ORDER BY id) FROM lead_rejects r),
    (SELECT string_agg(concat_ws(',', source_type, synced_until, last_success_at, last_summary, last_error,
                                 last_error_at), ';' ORDER BY source_type) FROM sync_state),
    (SELECT string_agg(concat_ws(',', source_type, settings), ';' ORDER BY source_type) FROM source_settings)))"
}

tap_new_empty_db UPGRADED upgraded || tap_abort "cannot create a database"
TAP_DB=$UPGRADED
tap_sql "CREATE EXTENSION leadsync VERSION '$oldest'" >/dev/null
tap_sql "SELECT ensure_source('Website', 'website_form', '{\"phone\": [\"$.phone\"]}')" \
  "SELECT ingest_leads('meta_form', (SELECT jsonb_agg(jsonb_build_object('id', 'u' || i,
     'field_data', jsonb_build_array(jsonb_build_object('name', 'phone', 'values', jsonb_build_array((7700000000 + i)::text)))))
     FROM generate_series(1, 500) i))" \
  "SELECT ingest_leads('knowlarity_call', (SELECT jsonb_agg(jsonb_build_object('uuid', 'k' || i, 'customer_number', (7700000000 + i)::text))
     FROM generate_series(250, 750) i) || '[\"not a lead\"]')" \
  "SELECT ingest_lead('website_form', '{\"phone\": \"7700000999\"}')" \
  "SELECT record_sync_success('meta_form', now() - interval '1 day', now(), '{}')" \
  "SELECT record_sync_failure('knowlarity_call', 'HTTP 403')" \
  "INSERT INTO source_settings (source_type, settings) VALUES ('meta_form', '{\"META_PAGE_ID\": \"111\"}')" >/dev/null
before=$(fingerprint)
tap_sql "ALTER EXTENSION leadsync UPDATE" >/dev/null
tap_is "$(tap_sql "SELECT extversion FROM pg_extension WHERE extname = 'leadsync'")" "$current" \
  "ALTER EXTENSION leadsync UPDATE walks from release $oldest to $current"
tap_is "$(fingerprint)" "$before" "every source, lead, history row, reject and saved window survived the upgrade"
tap_is "$(tap_sql "SELECT count(*) FROM recount_sources()")" 0 "the counts still match the history rows"
tap_is "$(tap_sql "SELECT (SELECT string_agg(source_type || ':' || account, ' ' ORDER BY source_type) FROM sync_state)
                   || ' / ' || (SELECT string_agg(source_type || ':' || account, ' ') FROM source_settings)
                   || ' / ' || (SELECT sync_window_start('meta_form', interval '0') = synced_until FROM sync_state
                                 WHERE source_type = 'meta_form')")" \
  "knowlarity_call:default meta_form:default / meta_form:default / true" \
  "the saved windows, errors and settings became the default account's, and a 0.2.0 call reads them"
tap_is "$(tap_sql "SELECT ingest_leads('google_ads', '[{\"lead_id\": \"g\", \"user_column_data\": [{\"column_id\": \"PHONE_NUMBER\", \"string_value\": \"7700000001\"}]}]')->>'crossSourceHistory'")" \
  1 "ingest works after the upgrade"

# schema_of DB: everything the extension defines, from the catalogs (pg_dump would print
# only CREATE EXTENSION): members, columns, constraints, indexes, triggers, functions,
# privileges, storage options.
schema_of() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'leadsync'),
members AS (SELECT classid, objid, objsubid FROM pg_depend, ext
             WHERE refclassid = 'pg_extension'::regclass AND refobjid = ext.oid AND deptype = 'e')
SELECT 'member ' || pg_describe_object(classid, objid, objsubid) FROM members
UNION ALL
SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM members m JOIN pg_attribute a ON m.classid = 'pg_class'::regclass AND a.attrelid = m.objid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || c.conrelid::regclass || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
  FROM members m JOIN pg_constraint c ON m.classid = 'pg_class'::regclass AND c.conrelid = m.objid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
UNION ALL
SELECT 'table ' || c.oid::regclass || ' acl=' || coalesce(c.relacl::text, '') || ' rls=' || c.relrowsecurity
       || ' options=' || coalesce(c.reloptions::text, '')
  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
  FROM members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'function ' || pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, '')
  FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT 'config ' || c::regclass FROM ext, pg_extension e, unnest(e.extconfig) c WHERE e.oid = ext.oid
ORDER BY 1;
SQL
}
tap_new_empty_db FRESH fresh || tap_abort "cannot create a database"
TAP_DB=$FRESH tap_sql "CREATE EXTENSION leadsync" >/dev/null
# (An error in schema_of must not pass as two equal empty schemas.)
if schema_of "$FRESH" >"$TAP_TMP/fresh.schema" && schema_of "$UPGRADED" >"$TAP_TMP/upgraded.schema" &&
    grep -q '^trigger ' "$TAP_TMP/fresh.schema" &&
    diff "$TAP_TMP/fresh.schema" "$TAP_TMP/upgraded.schema" >"$TAP_TMP/schema.diff"; then
  tap_pass "the upgraded schema equals a fresh install of $current"
else
  tap_fail "the upgraded schema equals a fresh install of $current"
  tap_diag "$(head -n 30 "$TAP_TMP/schema.diff")"
fi

# A fetcher role granted what the README of the old version said, in a database of its own
# (an ACL left behind would differ from a fresh install's).
tap_new_empty_db GRANTS grants || tap_abort "cannot create a database"
FETCHER_ROLE=leadsync_upgrade_fetcher_$$
TAP_DB=$GRANTS tap_sql "CREATE EXTENSION leadsync VERSION '$oldest'" "CREATE ROLE $FETCHER_ROLE NOLOGIN" \
  "GRANT EXECUTE ON FUNCTION ingest_leads(text, jsonb), sync_window_start(text, interval, interval),
     record_sync_success(text, timestamptz, timestamptz, jsonb), record_sync_failure(text, text), sync_status()
     TO $FETCHER_ROLE" "ALTER EXTENSION leadsync UPDATE" >/dev/null
TAP_DB=$GRANTS
tap_is "$(tap_sql "SELECT has_function_privilege('$FETCHER_ROLE', 'sync_window_start(text, interval, interval, text)', 'EXECUTE')
  AND has_function_privilege('$FETCHER_ROLE', 'record_sync_success(text, timestamptz, timestamptz, jsonb, text, text, timestamptz)', 'EXECUTE')
  AND has_function_privilege('$FETCHER_ROLE', 'record_sync_failure(text, text, text, text, timestamptz, timestamptz, timestamptz, jsonb)', 'EXECUTE')
  AND has_function_privilege('$FETCHER_ROLE', 'sync_status()', 'EXECUTE')
  AND has_table_privilege('$FETCHER_ROLE', 'sync_runs', 'SELECT')
  AND NOT has_function_privilege('$FETCHER_ROLE', 'sync_source(text, timestamptz, timestamptz, text)', 'EXECUTE')")" t \
  "a role granted the replaced functions keeps them on their replacements (and sync_runs for history), nothing more"
tap_sql "DROP OWNED BY $FETCHER_ROLE" "DROP ROLE $FETCHER_ROLE" >/dev/null
TAP_DB=$UPGRADED

# Between `make install` and ALTER EXTENSION UPDATE, the new library runs on the oldest
# schema, which has no trigger to make backends forget the source ids they remember: there
# a source renamed within the session must still be found again, not remembered.
tap_new_empty_db OLD_SCHEMA old_schema || tap_abort "cannot create a database"
meta_lead() { echo "SELECT FROM ingest_lead('meta_form', '{\"id\": \"$1\", \"field_data\": [{\"name\": \"phone\", \"values\": [\"$1\"]}]}')"; }
TAP_DB=$OLD_SCHEMA tap_sql "CREATE EXTENSION leadsync VERSION '$oldest'" "$(meta_lead 7700002001)" \
  "UPDATE sources SET source_type = 'meta_form_2025' WHERE source_type = 'meta_form'" "$(meta_lead 7700002002)" >/dev/null
tap_is "$(TAP_DB=$OLD_SCHEMA tap_sql "SELECT string_agg(s.source_type, ' ' ORDER BY l.phone_number_normalized)
            FROM lead_sources_history AS h JOIN sources AS s ON s.id = h.source_id JOIN leads_master AS l ON l.id = h.lead_id")" \
  "meta_form_2025 meta_form" "on release $oldest's schema, the library remembers no source: a renamed one is found again"
