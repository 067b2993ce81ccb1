\ir lib/setup.sql
SELECT plan(29);

-- NULL arguments: a clear error each.
SELECT throws_ok($$ SELECT ingest_lead(NULL, '{}') $$, '22004', 'leadsync: source_type must not be NULL',
                 'ingest_lead with a NULL source_type is an error that says so');
SELECT throws_ok($$ SELECT ingest_lead('meta_form', NULL) $$, '22004', 'leadsync: payload must not be NULL',
                 'ingest_lead with a NULL payload is an error that says so');
SELECT throws_ok($$ SELECT ingest_leads('meta_form', NULL) $$, '22004', 'leadsync: payloads must not be NULL',
                 'ingest_leads with NULL payloads is an error that says so');
SELECT throws_ok($$ SELECT ingest_leads(NULL, '[]') $$, '22004', 'leadsync: source_type must not be NULL',
                 'ingest_leads with a NULL source_type is an error that says so');

-- payloads that are not an array.
SELECT throws_ok($$ SELECT ingest_leads('meta_form', '{"data": []}') $$, '22023',
                 'leadsync: payloads must be a JSON array of lead payloads, not object',
                 'ingest_leads names the problem when payloads is an object');
SELECT throws_ok($$ SELECT ingest_leads('meta_form', '"x"') $$, '22023',
                 'leadsync: payloads must be a JSON array of lead payloads, not string',
                 'ingest_leads names the problem when payloads is a scalar');

-- Unknown and unusable source types.
SELECT throws_like($$ SELECT ingest_lead('tiktok_form', '{}') $$, '%unknown source_type "tiktok_form"%',
                   'an unknown source_type is an error naming it');
CREATE FUNCTION pg_temp.error_hint(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE hint text;
BEGIN
  EXECUTE statement;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
  RETURN hint;
END $$;
SELECT matches(pg_temp.error_hint($$ SELECT ingest_lead('tiktok_form', '{}') $$),
               'ensure_source\(''Display Name'', ''tiktok_form'', ''\{"phone"',
               'its hint shows how to register the source with ensure_source');
SELECT FROM ensure_source('Walk-in', 'walk_in');
SELECT throws_like($$ SELECT ingest_lead('walk_in', '{}') $$, '%"walk_in" has no field_map%',
                   'a custom source without a field_map is an error that says so');

-- JSON scalars and arrays where a lead object is expected: rejects, each with its reason.
SELECT is(ingest_leads('meta_form', '[null, true, 42, "lead", [], {"id": "ok", "field_data": [{"name": "phone", "values": ["9500000001"]}]}]'),
          '{"insertedNew": 1, "duplicateSameSource": 0, "crossSourceHistory": 0, "rejected": 5}'::jsonb,
          'non-objects in a batch are rejected; the good lead beside them is still inserted');
SELECT results_eq($$ SELECT reason, raw_payload FROM lead_rejects ORDER BY id $$,
                  $$ VALUES ('payload is not a JSON object (got null)', 'null'::jsonb),
                            ('payload is not a JSON object (got boolean)', 'true'),
                            ('payload is not a JSON object (got number)', '42'),
                            ('payload is not a JSON object (got string)', '"lead"'),
                            ('payload is not a JSON object (got array)', '[]') $$,
                  'each reject keeps its payload and says why');
SELECT results_eq($$ SELECT outcome, lead_id, reason FROM ingest_lead('google_ads', '[1, 2]') $$,
                  $$ VALUES ('rejected', NULL::bigint, 'payload is not a JSON object (got array)') $$,
                  'ingest_lead reports a reject with no lead and the reason');

-- Missing and short phones.
SELECT results_eq($$ SELECT outcome, reason FROM ingest_lead('meta_form', '{"id": "np", "field_data": [{"name": "email", "values": ["a@b.c"]}]}') $$,
                  $$ VALUES ('rejected', 'no phone field') $$, 'a payload without a phone field is rejected');
SELECT results_eq($$ SELECT outcome, reason FROM ingest_lead('knowlarity_call', '{"uuid": "short", "customer_number": "+91 98765"}') $$,
                  $$ VALUES ('rejected', 'phone "+91 98765" has fewer than 10 digits') $$,
                  'a phone with fewer than 10 digits is rejected, quoting it');
SELECT results_eq($$ SELECT outcome, reason FROM ingest_lead('knowlarity_call',
                      jsonb_build_object('uuid', 'emoji', 'customer_number', '😀📞' || chr(7) || '☎')) $$,
                  $$ VALUES ('rejected', 'phone "😀📞?☎" has fewer than 10 digits') $$,
                  'a phone of emoji and control characters is rejected; the reason shows no control character');
SELECT is((SELECT count(*) FROM leads_master), 1::bigint, 'rejects write no lead');
SELECT is((SELECT count(*) FROM lead_sources_history), 1::bigint, 'rejects write no history row');
SELECT is((SELECT total_leads_count FROM sources WHERE source_type = 'meta_form'), 1::bigint, 'rejects do not count');

-- The same bad payload again is not recorded twice.
SELECT FROM ingest_lead('knowlarity_call', '{"uuid": "short", "customer_number": "+91 98765"}');
SELECT is((SELECT count(*) FROM lead_rejects WHERE raw_payload->>'uuid' = 'short'), 1::bigint,
          'a reject sent again is recorded once');

-- 1 MB strings.
SELECT is((ingest_lead('meta_form', jsonb_build_object('id', 'big-name', 'field_data', jsonb_build_array(
             jsonb_build_object('name', 'full_name', 'values', jsonb_build_array(repeat('N', 1000000))),
             jsonb_build_object('name', 'phone', 'values', jsonb_build_array('9500000002')))))).outcome,
          'inserted_new', 'a 1 MB name is accepted');
SELECT is((SELECT length(full_name) FROM leads_master WHERE phone_number_normalized = '9500000002'), 1000000,
          'and stored whole');
SELECT is((SELECT phone_number_normalized FROM leads_master WHERE id =
            (SELECT max(id) FROM leads_master)), '9500000002', 'ids stay consistent');
SELECT results_eq($$ SELECT outcome, length(reason) < 100 FROM ingest_lead('meta_form', jsonb_build_object('id', 'big-phone',
                      'field_data', jsonb_build_array(jsonb_build_object('name', 'phone', 'values',
                      jsonb_build_array(repeat('x', 1000000)))))) $$,
                  $$ VALUES ('rejected', true) $$,
                  'a 1 MB phone of letters is rejected with a short reason');
SELECT is((ingest_lead('meta_form', jsonb_build_object('id', 'big-digits', 'field_data', jsonb_build_array(
             jsonb_build_object('name', 'phone', 'values', jsonb_build_array(repeat('7', 1000000) || '9500000003')))))).outcome,
          'inserted_new', 'a 1 MB phone of digits keeps its last ten');

-- An unreadable event time does not lose the lead: the receive time stands in.
SELECT results_eq($$ SELECT (ingest_lead('meta_form', '{"id": "bad-time", "created_time": "yesterday-ish",
                      "field_data": [{"name": "phone", "values": ["9500000004"]}]}')).outcome $$,
                  $$ VALUES ('inserted_new') $$, 'an unreadable created_time still makes a lead');
SELECT is((SELECT platform_created_at FROM leads_master WHERE phone_number_normalized = '9500000004'), NULL,
          'with no platform time recorded');

-- Google's "send test data": a reject that says so, never a lead, never counted.
SELECT results_eq($$ SELECT (r).outcome, (r).reason FROM (SELECT ingest_lead('google_ads',
                      pg_temp.google_lead('9500000005', 'g-test') || '{"is_test": true}') AS r) AS x $$,
                  $$ VALUES ('rejected', 'test lead') $$, 'a Google test lead is rejected as a test lead');
SELECT is((SELECT count(*) FROM leads_master WHERE phone_number_normalized = '9500000005'), 0::bigint,
          'and becomes no lead');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
