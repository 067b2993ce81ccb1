\ir lib/setup.sql
SELECT plan(5);

-- Times one ingest_leads call of `size` new Meta leads, in seconds.
CREATE FUNCTION pg_temp.ingest_seconds(first_phone bigint, size int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
  payloads jsonb;
  started timestamptz;
  result jsonb;
BEGIN
  SELECT jsonb_agg(pg_temp.meta_lead((first_phone + i)::text, 's' || (first_phone + i))) INTO payloads
    FROM generate_series(1, size) i;
  started := clock_timestamp();
  result := ingest_leads('meta_form', payloads);
  IF (result->>'insertedNew')::int <> size THEN
    RAISE EXCEPTION 'expected % new leads, got %', size, result;
  END IF;
  RETURN extract(epoch FROM clock_timestamp() - started);
END $$;

CREATE TEMP TABLE timings AS
SELECT pg_temp.ingest_seconds(9600000000, 10000) AS small, pg_temp.ingest_seconds(9700000000, 100000) AS large;

SELECT is((SELECT count(*) FROM leads_master), 110000::bigint, 'batches of 10k and 100k leads insert every lead');
SELECT is((SELECT total_leads_count FROM sources WHERE source_type = 'meta_form'), 110000::bigint,
          'and count every lead');
SELECT is((SELECT count(*) FROM lead_sources_history WHERE is_primary), 110000::bigint,
          'with a primary history row each');
-- Linear growth gives a ratio near 10; per-lead work that grows with the batch (such as
-- one counter update per lead) gives 100. The bound leaves room for a noisy machine.
SELECT cmp_ok(large / small, '<', 20::float8,
              format('100k leads take less than 20x the time of 10k (ratio %s)', round((large / small)::numeric, 1)))
  FROM timings;

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
