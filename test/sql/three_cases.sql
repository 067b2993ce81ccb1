\ir lib/setup.sql
SELECT plan(36);

SELECT FROM pg_temp.register_crm();
SELECT is((SELECT count(*) FROM leads_master), 0::bigint, 'the test starts with no leads');

-- Case A for Meta: a new phone becomes a lead with the seed values and a primary history row.
SELECT is((ingest_lead('meta_form', pg_temp.meta_lead('+91 98765 43210', 'm-1'))).outcome,
          'inserted_new', 'Meta: a new phone is inserted_new');
SELECT results_eq(
  $$ SELECT full_name, phone_number_normalized, source_id, external_lead_id, assigned_to, status,
            total_attempts, is_qualified, alternate_phone_number, next_followup_at
       FROM leads_master $$,
  $$ VALUES ('Meta Person', '9876543210', pg_temp.source_id('meta_form'), 'm-1', NULL::text, 'New',
             0, false, NULL::text, NULL::timestamptz) $$,
  'Meta: the new lead has status New, no owner, no attempts, not qualified');
SELECT is((SELECT raw_payload->>'id' FROM leads_master), 'm-1', 'Meta: the raw payload is kept on the lead');
SELECT results_eq(
  $$ SELECT h.source_id, h.external_id, h.is_primary, h.raw_payload->>'id'
       FROM lead_sources_history h JOIN leads_master l ON l.id = h.lead_id $$,
  $$ VALUES (pg_temp.source_id('meta_form'), 'm-1', true, 'm-1') $$,
  'Meta: the primary source has its own history row with is_primary');
SELECT is(pg_temp.total('meta_form'), 1::bigint, 'Meta: case A adds one to the total');

-- Case B: the same source again changes nothing, whatever its payload's id.
SELECT results_eq(
  $$ SELECT outcome, lead_id FROM ingest_lead('meta_form', pg_temp.meta_lead('09876543210', 'm-2')) $$,
  $$ SELECT 'duplicate_same_source', id FROM leads_master $$,
  'Meta again: duplicate_same_source, with the existing lead''s id');
SELECT is((SELECT count(*) FROM lead_sources_history), 1::bigint, 'case B writes no history row');
SELECT is(pg_temp.total('meta_form'), 1::bigint, 'case B leaves the counts alone');

-- Case C for each other source, then B for a secondary source.
SELECT results_eq(
  $$ SELECT outcome, lead_id FROM ingest_lead('knowlarity_call', pg_temp.knowlarity_call('+919876543210', 'k-1')) $$,
  $$ SELECT 'cross_source_history', id FROM leads_master $$,
  'Knowlarity, same phone: cross_source_history on the existing lead');
SELECT is((ingest_lead('google_ads', pg_temp.google_lead('9876543210', 'g-1'))).outcome,
          'cross_source_history', 'Google, same phone: cross_source_history');
SELECT is((ingest_lead('website_form', pg_temp.crm_lead('+91 9876543210', 'w-1'))).outcome,
          'cross_source_history', 'a custom source, same phone: cross_source_history');
SELECT is((SELECT count(*) FROM leads_master), 1::bigint, 'case C never adds a lead');
SELECT results_eq(
  $$ SELECT s.source_type, h.external_id, h.is_primary FROM lead_sources_history h
       JOIN sources s ON s.id = h.source_id WHERE NOT h.is_primary ORDER BY s.source_type $$,
  $$ VALUES ('google_ads', 'g-1', false), ('knowlarity_call', 'k-1', false), ('website_form', 'w-1', false) $$,
  'case C adds one non-primary history row per other source, with its external id');
SELECT is((ingest_lead('knowlarity_call', pg_temp.knowlarity_call('+919876543210', 'k-2'))).outcome,
          'duplicate_same_source', 'a secondary source sending again is case B too');
SELECT results_eq(
  $$ SELECT source_type, total_leads_count FROM sources ORDER BY source_type $$,
  $$ VALUES ('google_ads', 1::bigint), ('knowlarity_call', 1), ('meta_form', 1), ('website_form', 1) $$,
  'case C adds one to the other source''s total; its repeat adds nothing');

-- Every source can be the primary one.
SELECT is((ingest_lead('knowlarity_call', pg_temp.knowlarity_call('8000000001', 'k-3'))).outcome,
          'inserted_new', 'Knowlarity: a new phone is inserted_new');
SELECT is((ingest_lead('google_ads', pg_temp.google_lead('8000000002', 'g-3'))).outcome,
          'inserted_new', 'Google: a new phone is inserted_new');
SELECT is((ingest_lead('website_form', pg_temp.crm_lead('8000000003', 'w-3'))).outcome,
          'inserted_new', 'a custom source: a new phone is inserted_new');
SELECT results_eq(
  $$ SELECT l.phone_number_normalized, s.source_type, l.external_lead_id, l.full_name
       FROM leads_master l JOIN sources s ON s.id = l.source_id
      WHERE l.phone_number_normalized LIKE '800000000_' ORDER BY 1 $$,
  $$ VALUES ('8000000001', 'knowlarity_call', 'k-3', NULL),
            ('8000000002', 'google_ads', 'g-3', 'Google Person'),
            ('8000000003', 'website_form', 'w-3', 'Web Person') $$,
  'each source''s lead records that source, its id and its name (Knowlarity sends none)');
SELECT is((SELECT count(*) FROM lead_sources_history h JOIN leads_master l ON l.id = h.lead_id
            WHERE h.is_primary AND h.source_id = l.source_id), (SELECT count(*) FROM leads_master),
          'every lead has exactly its own source''s primary history row');
SELECT is((ingest_lead('meta_form', pg_temp.meta_lead('8000000001', 'm-3'))).outcome,
          'cross_source_history', 'Meta after Knowlarity: cross_source_history');
SELECT is((SELECT s.source_type FROM leads_master l JOIN sources s ON s.id = l.source_id
            WHERE l.phone_number_normalized = '8000000001'),
          'knowlarity_call', 'the first source stays the lead''s source');

-- A lead's full source list is one query on lead_sources_history.
SELECT is((SELECT array_agg(s.source_type ORDER BY h.is_primary DESC, s.source_type)
             FROM lead_sources_history h JOIN sources s ON s.id = h.source_id
            WHERE h.lead_id = (SELECT id FROM leads_master WHERE phone_number_normalized = '9876543210')),
          ARRAY['meta_form', 'google_ads', 'knowlarity_call', 'website_form'],
          'all sources of a lead come from one query, the primary first');

-- Built-in sources are created on first use with their display names.
SELECT results_eq(
  $$ SELECT display_name, source_type FROM sources WHERE field_map IS NULL ORDER BY source_type $$,
  $$ VALUES ('Google', 'google_ads'), ('Knowlarity', 'knowlarity_call'), ('Meta', 'meta_form') $$,
  'built-in sources get their rows, named Meta, Knowlarity and Google, on first ingest');

-- The batch function: the same three cases, counted.
SELECT is(ingest_leads('meta_form', jsonb_build_array(
            pg_temp.meta_lead('7000000001', 'm-10'),   -- new
            pg_temp.meta_lead('9876543210', 'm-11'),   -- Meta already has it
            pg_temp.meta_lead('8000000002', 'm-12'),   -- Google's lead
            pg_temp.meta_lead('7000000001', 'm-13'),   -- again in the same batch
            '{"id": "m-14", "field_data": []}'::jsonb)),
          '{"insertedNew": 1, "duplicateSameSource": 2, "crossSourceHistory": 1, "rejected": 1}'::jsonb,
          'ingest_leads counts each outcome of a mixed batch');
SELECT is((SELECT external_lead_id FROM leads_master WHERE phone_number_normalized = '7000000001'),
          'm-10', 'a phone twice in one batch: the first in batch order becomes the lead');
SELECT is(pg_temp.total('meta_form'), 4::bigint, 'Meta''s total counts its new lead and its history rows');
SELECT is(ingest_leads('knowlarity_call', '[]'), '{"insertedNew": 0, "duplicateSameSource": 0, "crossSourceHistory": 0, "rejected": 0}'::jsonb,
          'an empty batch is fine and changes nothing');

-- Google's three payload shapes are all read.
SELECT is((ingest_lead('google_ads', '{"leadFormSubmissionData": {"id": "g-api",
            "submissionDateTime": "2026-10-20 14:45:02+05:30",
            "leadFormSubmissionFields": [{"fieldType": "PHONE_NUMBER", "fieldValue": "+916000000001"},
                                         {"fieldType": "FULL_NAME", "fieldValue": "Api Row"}]}}')).outcome,
          'inserted_new', 'Google: an API row is read');
SELECT is((ingest_lead('google_ads', '{"id": "g-unwrapped",
            "leadFormSubmissionFields": [{"fieldType": "PHONE_NUMBER", "fieldValue": "+916000000002"},
                                         {"fieldType": "FIRST_NAME", "fieldValue": "Un"},
                                         {"fieldType": "LAST_NAME", "fieldValue": "Wrapped"}]}')).outcome,
          'inserted_new', 'Google: the unwrapped submission object is read');
SELECT results_eq(
  $$ SELECT external_lead_id, full_name, platform_created_at FROM leads_master
      WHERE phone_number_normalized IN ('6000000001', '6000000002') ORDER BY 1 $$,
  $$ VALUES ('g-api', 'Api Row', '2026-10-20 09:15:02+00'::timestamptz),
            ('g-unwrapped', 'Un Wrapped', NULL) $$,
  'Google: id, name (or first + last) and submission time come from either shape');

-- Meta: phone from any of its phone fields; names from first + last.
SELECT is((ingest_lead('meta_form', '{"id": "m-20", "field_data": [
            {"name": "phone_number", "values": ["n/a"]},
            {"name": "mobile", "values": ["+91 60000 00003"]},
            {"name": "first_name", "values": ["Priya"]}, {"name": "last_name", "values": ["Nair"]}]}')).outcome,
          'inserted_new', 'Meta: the first phone field that normalizes is used');
SELECT is((SELECT full_name FROM leads_master WHERE phone_number_normalized = '6000000003'),
          'Priya Nair', 'Meta: first_name and last_name make the full name');

-- Knowlarity: caller_id when customer_number is missing.
SELECT FROM ingest_lead('knowlarity_call', '{"id": "k-9", "caller_id": "+916000000004"}');
SELECT is((SELECT external_lead_id FROM leads_master WHERE phone_number_normalized = '6000000004'),
          'k-9', 'Knowlarity: caller_id is the phone when customer_number is missing, id when uuid is');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
