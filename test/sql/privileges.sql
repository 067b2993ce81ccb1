\ir lib/setup.sql
SELECT plan(20);

-- Runs `statement` as `role_name`; returns 'ok' or the SQLSTATE it failed with.
CREATE FUNCTION pg_temp.run_as(role_name text, statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  state text := 'ok';
BEGIN
  EXECUTE format('SET LOCAL ROLE %I', role_name);
  BEGIN
    EXECUTE statement;
  EXCEPTION WHEN OTHERS THEN
    state := SQLSTATE;
  END;
  RESET ROLE;
  RETURN state;
END
$$;

CREATE ROLE leadsync_test_nobody NOLOGIN;
CREATE ROLE leadsync_test_ingester NOLOGIN;
GRANT USAGE ON SCHEMA public TO leadsync_test_nobody, leadsync_test_ingester;
GRANT EXECUTE ON FUNCTION ingest_lead(text, jsonb), ingest_leads(text, jsonb) TO leadsync_test_ingester;

SELECT is(pg_temp.run_as('leadsync_test_nobody', $$ SELECT ingest_lead('meta_form', '{}') $$), '42501',
          'EXECUTE on ingest_lead is not granted to PUBLIC');
SELECT is(pg_temp.run_as('leadsync_test_nobody', $$ SELECT ingest_leads('meta_form', '[]') $$), '42501',
          'EXECUTE on ingest_leads is not granted to PUBLIC');
SELECT is(pg_temp.run_as('leadsync_test_nobody', $$ SELECT ensure_source('X', 'x') $$), '42501',
          'EXECUTE on ensure_source is not granted to PUBLIC');
SELECT is(pg_temp.run_as('leadsync_test_nobody', $$ SELECT recount_sources() $$), '42501',
          'EXECUTE on recount_sources is not granted to PUBLIC');
SELECT is(pg_temp.run_as('leadsync_test_nobody', $$ SELECT reset_daily_counts() $$), '42501',
          'EXECUTE on reset_daily_counts is not granted to PUBLIC');
SELECT is(pg_temp.run_as('leadsync_test_nobody', $$ SELECT normalize_phone('9876543210') $$), 'ok',
          'normalize_phone, which touches no table, stays callable by anyone');

-- A role with USAGE on the schema and EXECUTE on the two ingest functions only.
SELECT is(pg_temp.run_as('leadsync_test_ingester',
            $$ SELECT ingest_lead('meta_form', '{"id": "p-1", "field_data": [{"name": "phone", "values": ["9400000001"]}]}') $$),
          'ok', 'the ingest role can call ingest_lead');
SELECT is(pg_temp.run_as('leadsync_test_ingester',
            $$ SELECT ingest_leads('google_ads', '[{"lead_id": "p-2", "user_column_data": [{"column_id": "PHONE_NUMBER", "string_value": "9400000001"}]}, 7]') $$),
          'ok', 'the ingest role can call ingest_leads');
SELECT results_eq($$ SELECT source_type, total_leads_count FROM sources ORDER BY 1 $$,
                  $$ VALUES ('google_ads', 1::bigint), ('meta_form', 1::bigint) $$,
                  'what the ingest role sent was ingested, sources created and counted');
SELECT is((SELECT count(*) FROM lead_rejects), 1::bigint, 'and its bad payload was recorded as a reject');

SELECT is(pg_temp.run_as('leadsync_test_ingester', 'SELECT * FROM ' || t), '42501',
          format('the ingest role cannot SELECT from %s', t))
  FROM unnest(ARRAY['leads_master', 'lead_sources_history', 'sources', 'lead_rejects']) t;
SELECT is(pg_temp.run_as('leadsync_test_ingester', $$ UPDATE leads_master SET status = 'Won' $$), '42501',
          'the ingest role cannot UPDATE leads_master');
SELECT is(pg_temp.run_as('leadsync_test_ingester', $$ DELETE FROM lead_sources_history $$), '42501',
          'the ingest role cannot DELETE from lead_sources_history');
SELECT is(pg_temp.run_as('leadsync_test_ingester', $$ UPDATE sources SET total_leads_count = 0 $$), '42501',
          'the ingest role cannot UPDATE sources');
SELECT is(pg_temp.run_as('leadsync_test_ingester', $$ SELECT recount_sources() $$), '42501',
          'the ingest role cannot call the admin functions');

SELECT is_empty($$ SELECT p.oid::regprocedure FROM pg_proc p
                    JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
                    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'leadsync'
                   WHERE p.prosecdef AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false) $$,
                'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
