\ir lib/setup.sql
SELECT plan(9);

SELECT FROM pg_temp.register_crm();

-- Everything leadsync writes, as one fingerprint: replays must leave it unchanged.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
  SELECT md5(concat_ws('|',
    (SELECT string_agg(concat_ws(',', id, source_type, total_leads_count, todays_leads_count, todays_count_date), ';' ORDER BY id) FROM sources),
    (SELECT string_agg(concat_ws(',', id, phone_number_normalized, source_id, external_lead_id, full_name, raw_payload::text), ';' ORDER BY id) FROM leads_master),
    (SELECT string_agg(concat_ws(',', id, lead_id, source_id, external_id, is_primary, raw_payload::text), ';' ORDER BY id) FROM lead_sources_history),
    (SELECT string_agg(concat_ws(',', id, source_id, reason, raw_payload::text), ';' ORDER BY id) FROM lead_rejects)))
$$;

-- One batch per source, overlapping each other, with a reject in each.
CREATE TEMP TABLE batches (source_type text, payloads jsonb);
INSERT INTO batches
SELECT 'meta_form', jsonb_agg(pg_temp.meta_lead((9100000000 + i)::text, 'm' || i)) || '[{"id": "bad"}]'
  FROM generate_series(1, 300) i
UNION ALL
SELECT 'knowlarity_call', jsonb_agg(pg_temp.knowlarity_call('+91' || (9100000000 + i), 'k' || i)) || '["not an object"]'
  FROM generate_series(200, 500) i
UNION ALL
SELECT 'google_ads', jsonb_agg(pg_temp.google_lead('0' || (9100000000 + i), 'g' || i) ORDER BY i DESC) || '[{"lead_id": "x", "user_column_data": [{"column_id": "PHONE_NUMBER", "string_value": "12"}]}]'
  FROM generate_series(100, 400) i
UNION ALL
SELECT 'website_form', jsonb_agg(pg_temp.crm_lead((9100000000 + i)::text, 'w' || i)) || '[{"ref": "no phone"}]'
  FROM generate_series(450, 600) i;

SELECT is(sum((ingest_leads(source_type, payloads)->>'insertedNew')::int), 600::bigint,
          'the first pass inserts one lead per distinct phone')
  FROM batches;
SELECT is((SELECT count(*) FROM lead_rejects), 4::bigint, 'the first pass records each bad payload once');

CREATE TEMP TABLE first_pass AS SELECT pg_temp.fingerprint() AS fingerprint;

SELECT is(pg_temp.fingerprint(), (SELECT fingerprint FROM first_pass),
          'replaying every batch changes no row and no count');

-- Replays report everything as a same-source duplicate.
SELECT results_eq(
  $$ SELECT source_type, ingest_leads(source_type, payloads) FROM batches ORDER BY source_type $$,
  $$ VALUES ('google_ads', '{"insertedNew": 0, "duplicateSameSource": 301, "crossSourceHistory": 0, "rejected": 1}'::jsonb),
            ('knowlarity_call', '{"insertedNew": 0, "duplicateSameSource": 301, "crossSourceHistory": 0, "rejected": 1}'),
            ('meta_form', '{"insertedNew": 0, "duplicateSameSource": 300, "crossSourceHistory": 0, "rejected": 1}'),
            ('website_form', '{"insertedNew": 0, "duplicateSameSource": 151, "crossSourceHistory": 0, "rejected": 1}') $$,
  'a replayed batch reports only duplicates and its rejects');
SELECT is(pg_temp.fingerprint(), (SELECT fingerprint FROM first_pass), 'and a second replay changes nothing either');

-- A whole day of Meta fetches: every 15 minutes, the last 24 hours of leads (96 overlapping
-- windows over 48 hours of leads, one lead every 10 minutes).
CREATE TEMP TABLE day_leads AS
SELECT i, pg_temp.meta_lead((9200000000 + i)::text, 'day' || i, now() - interval '48 hours' + i * interval '10 minutes') AS payload,
       now() - interval '48 hours' + i * interval '10 minutes' AS created
  FROM generate_series(1, 288) i;
CREATE TEMP TABLE fetches AS
SELECT f, now() - interval '24 hours' + f * interval '15 minutes' AS fetched_at FROM generate_series(1, 96) f;
CREATE TEMP TABLE fetch_results AS
SELECT f, ingest_leads('meta_form', (SELECT coalesce(jsonb_agg(payload ORDER BY i), '[]') FROM day_leads
                                      WHERE created > fetched_at - interval '24 hours' AND created <= fetched_at)) AS result
  FROM fetches ORDER BY f;
SELECT is((SELECT sum((result->>'insertedNew')::int) FROM fetch_results),
          (SELECT count(*) FROM day_leads WHERE created > (SELECT min(fetched_at) FROM fetches) - interval '24 hours'
                                                AND created <= (SELECT max(fetched_at) FROM fetches)),
          'a day of overlapping 24-hour lookbacks inserts each lead exactly once');
SELECT is((SELECT count(*) FROM leads_master WHERE external_lead_id LIKE 'day%'),
          (SELECT sum((result->>'insertedNew')::int) FROM fetch_results),
          'the leads in the table are exactly those reported as inserted');

CREATE TEMP TABLE after_day AS SELECT pg_temp.fingerprint() AS fingerprint;
SELECT FROM fetches, LATERAL ingest_leads('meta_form', (SELECT coalesce(jsonb_agg(payload ORDER BY i), '[]') FROM day_leads
                                      WHERE created > fetched_at - interval '24 hours' AND created <= fetched_at));
SELECT is(pg_temp.fingerprint(), (SELECT fingerprint FROM after_day), 'replaying the whole day changes nothing');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
