\ir lib/setup.sql
SELECT plan(4);

-- A batch looks its phones up by unique key. Its statements are planned once per
-- session, at first use; planned while the tables held a few rows, a plan would scan
-- them whole for every key, and keep doing so as they grow (ingest.cpp, execute). Here
-- the statistics say the tables are empty and a first small batch plans the statements;
-- no later batch may then scan leads_master or lead_sources_history. Counted in this
-- transaction's statistics, per table.
ANALYZE leads_master, lead_sources_history;
SELECT is(ingest_leads('meta_form', (SELECT jsonb_agg(pg_temp.meta_lead((9100000000 + i)::text, 'm-' || i))
                                       FROM generate_series(1, 100) AS i))->'insertedNew',
          '100', 'a first batch of 100 new leads, planned on empty tables');

CREATE FUNCTION pg_temp.whole_table_scans() RETURNS bigint LANGUAGE sql AS $$
  SELECT sum(seq_scan) FROM pg_stat_xact_user_tables WHERE relname IN ('leads_master', 'lead_sources_history')
$$;
CREATE TEMP TABLE scans_before AS SELECT pg_temp.whole_table_scans() AS n;

-- 12,000 new Meta leads (two slices), then the same phones from Knowlarity: every one
-- looked up by phone, and given a history row on its lead.
SELECT is(ingest_leads('meta_form', (SELECT jsonb_agg(pg_temp.meta_lead((9200000000 + i)::text, 'm-' || i))
                                       FROM generate_series(1, 12000) AS i))->'insertedNew',
          '12000', 'then 12,000 new leads in one call');
SELECT is(ingest_leads('knowlarity_call', (SELECT jsonb_agg(pg_temp.knowlarity_call((9200000000 + i)::text, 'k-' || i))
                                             FROM generate_series(1, 12000) AS i))->'crossSourceHistory',
          '12000', 'and the same 12,000 phones from another source');
SELECT is(pg_temp.whole_table_scans() - (SELECT n FROM scans_before), 0::bigint,
          'neither call scanned leads_master or lead_sources_history whole');

SELECT * FROM finish();
ROLLBACK;
