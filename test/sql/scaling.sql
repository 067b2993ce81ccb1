\ir lib/setup.sql
SELECT plan(11);

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

-- A batch is written in slices of 10k leads (ingest.cpp, kLeadsPerSlice); the three
-- cases, repeats within the batch, and each row's own payload must come out as in one
-- piece. 25,500 Knowlarity calls, sorted by phone into three slices: 12,000 phones the
-- Meta batch above made leads (1,000 of them already have a Knowlarity row: case B; the
-- rest case C), 13,000 new phones (case A, spanning the second and third slices), then
-- 500 of the new phones again with other ids (same-source repeats: the first one wins).
SELECT ingest_leads('knowlarity_call',
                    (SELECT jsonb_agg(pg_temp.knowlarity_call((9700005000 + i)::text, 'k-early-' || i))
                       FROM generate_series(1, 1000) i));
CREATE TEMP TABLE sliced AS
SELECT ingest_leads('knowlarity_call', jsonb_agg(c ORDER BY o)) AS result
  FROM (SELECT i AS o, pg_temp.knowlarity_call((9700000000 + i)::text, 'k-' || i) AS c
          FROM generate_series(1, 12000) i
        UNION ALL
        SELECT 12000 + i, pg_temp.knowlarity_call((9800000000 + i)::text, 'k-new-' || i)
          FROM generate_series(1, 13000) i
        UNION ALL
        SELECT 25000 + i, pg_temp.knowlarity_call((9800000000 + i * 26)::text, 'k-repeat-' || i)
          FROM generate_series(1, 500) i) AS calls;
-- (The checks below join 135k leads to their rows: planned on the statistics of earlier
-- files, which ANALYZE'd these tables empty, they would take minutes.)
ANALYZE leads_master, lead_sources_history;
SELECT is((SELECT result FROM sliced),
          '{"insertedNew": 13000, "crossSourceHistory": 11000, "duplicateSameSource": 1500, "rejected": 0}'::jsonb,
          'a batch of three slices: every case counted once');
SELECT is((SELECT count(*) FROM leads_master WHERE phone_number_normalized LIKE '98%'), 13000::bigint,
          'each new phone of any slice becomes one lead');
SELECT is((SELECT count(*) FROM lead_sources_history
            WHERE source_id = pg_temp.source_id('knowlarity_call') AND is_primary), 13000::bigint,
          'with its primary Knowlarity row');
SELECT is(pg_temp.total('knowlarity_call'), 25000::bigint,
          'the counters gain every slice''s rows (1,000 earlier, 11,000 case C, 13,000 new)');
SELECT is_empty($$
  SELECT h.external_id FROM lead_sources_history h JOIN leads_master l ON l.id = h.lead_id
   WHERE h.source_id = pg_temp.source_id('knowlarity_call')
     AND (h.external_id IS DISTINCT FROM h.raw_payload->>'uuid'
          OR normalize_phone(h.raw_payload->>'customer_number') IS DISTINCT FROM l.phone_number_normalized
          OR h.external_id LIKE 'k-repeat-%'
          OR (h.is_primary AND (l.external_lead_id, l.raw_payload) IS DISTINCT FROM (h.external_id, h.raw_payload)))
  $$, 'every row of every slice holds its own lead''s payload, and a repeat never wins');
SELECT is((SELECT count(*) FROM lead_sources_history
            WHERE source_id = pg_temp.source_id('knowlarity_call') AND external_id LIKE 'k-early-%'), 1000::bigint,
          'case B leaves the rows already there alone');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
