\ir lib/setup.sql
SELECT plan(33);

-- The schema existing apps read.
SELECT has_table(t, format('table %s exists', t))
  FROM unnest(ARRAY['sources', 'leads_master', 'lead_sources_history', 'lead_rejects']) t;
SELECT columns_are('sources', ARRAY['id', 'display_name', 'source_type', 'total_leads_count',
                   'todays_leads_count', 'todays_count_date', 'field_map', 'created_at'],
                   'sources has its seed columns, the date of today''s count and the field_map');
SELECT columns_are('leads_master', ARRAY['id', 'full_name', 'phone_number_normalized', 'alternate_phone_number',
                   'source_id', 'external_lead_id', 'assigned_to', 'status', 'next_followup_at', 'total_attempts',
                   'is_qualified', 'raw_payload', 'created_at', 'platform_created_at'],
                   'leads_master has its seed columns, created_at and the platform''s event time');
SELECT columns_are('lead_sources_history', ARRAY['id', 'lead_id', 'source_id', 'external_id', 'raw_payload',
                   'is_primary', 'received_at', 'platform_created_at'],
                   'lead_sources_history has its seed columns and the platform''s event time');
SELECT is((SELECT array_agg(c::regclass::text ORDER BY c::regclass::text) FROM pg_extension e, unnest(e.extconfig) c
            WHERE e.extname = 'leadsync'),
          ARRAY['lead_rejects', 'lead_rejects_id_seq', 'lead_sources_history', 'lead_sources_history_id_seq',
                'leads_master', 'leads_master_id_seq', 'source_settings', 'sources', 'sources_id_seq', 'sync_runs',
                'sync_runs_id_seq', 'sync_state', 'webhook_inbox', 'webhook_inbox_id_seq'],
          'every table holding user data, and each id sequence, is registered for pg_dump');
SELECT is((SELECT count(*) FROM sources), 0::bigint, 'CREATE EXTENSION creates no source row itself');

-- ensure_source: create once, never rename.
SELECT is(ensure_source('Meta', 'meta_form'), ensure_source('Meta', 'meta_form'),
          'ensure_source returns the same id for the same source_type');
UPDATE sources SET display_name = 'Facebook Ads' WHERE source_type = 'meta_form';
SELECT is(ensure_source('Meta', 'meta_form'), pg_temp.source_id('meta_form'), 'after a rename the id is the same');
SELECT is((SELECT display_name FROM sources WHERE source_type = 'meta_form'), 'Facebook Ads',
          'ensure_source never renames: the admin''s name wins');
SELECT FROM ingest_lead('meta_form', pg_temp.meta_lead('9800000001', 'r-1'));
SELECT is((SELECT count(*) FROM sources), 1::bigint, 'ingest finds the renamed source by its source_type');

-- field_map validation, at registration time.
SELECT throws_like($$ SELECT ensure_source('Bad', 'bad', '{"phone": ["$.a.("]}') $$,
                   '%"phone" path "$.a.(" is not an SQL/JSON path%', 'a bad path is an error naming the path');
SELECT throws_like($$ SELECT ensure_source('Bad', 'bad', '{"name": ["$.n"]}') $$,
                   '%"phone" is required%', 'a field_map without phone is an error');
SELECT throws_like($$ SELECT ensure_source('Bad', 'bad', '{"phone": ["$.p"], "email": ["$.e"]}') $$,
                   '%only the keys phone, name, external_id and created_at%', 'an unknown key is an error');
SELECT throws_like($$ SELECT ensure_source('Bad', 'bad', '{"phone": "$.p"}') $$,
                   '%"phone" must be a non-empty array%', 'paths must come as a list');
SELECT throws_like($$ SELECT ensure_source('Bad', 'bad', '["$.p"]') $$,
                   '%must be a JSON object%', 'a field_map must be an object');
SELECT throws_like($$ SELECT ensure_source('Meta', 'meta_form', '{"phone": ["$.p"]}') $$,
                   '%"meta_form" is a built-in source%', 'built-in sources take no field_map');
SELECT is((SELECT count(*) FROM sources WHERE source_type = 'bad'), 0::bigint, 'a rejected field_map registers nothing');

-- A new field_map replaces the old one; strict-mode paths work too.
SELECT FROM ensure_source('Partner', 'partner_api', '{"phone": ["$.phone"]}');
SELECT FROM ensure_source('Partner', 'partner_api', '{"phone": ["strict $.contact.phone", "$.phone"]}');
SELECT is((ingest_lead('partner_api', '{"contact": {"phone": "9800000002"}}')).outcome, 'inserted_new',
          're-registering a source with a new field_map updates how its payloads are read');

-- ingest remembers each built-in source's id for the session. A row the remembered id
-- came from may be rolled back, renamed or deleted: the next lead must find the source
-- again (else its rows go to the wrong source, or fail on the foreign key).
SAVEPOINT fresh_source;
SELECT FROM ingest_lead('knowlarity_call', pg_temp.knowlarity_call('9822200001', 'rem-1'));
ROLLBACK TO SAVEPOINT fresh_source;
SELECT is((ingest_lead('knowlarity_call', pg_temp.knowlarity_call('9822200002', 'rem-2'))).outcome, 'inserted_new',
          'a built-in source created in a rolled-back savepoint is not remembered: the next lead creates it again');
-- A Google lead (the source remembered, where it may be), the google_ads row renamed,
-- then another Google lead: the source_type of the row that lead went to.
CREATE FUNCTION pg_temp.source_after_rename(renamed_to text, before_phone text, after_phone text) RETURNS text
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ingest_lead('google_ads', pg_temp.google_lead(before_phone, 'before-' || before_phone));
    UPDATE sources SET source_type = renamed_to WHERE source_type = 'google_ads';
    PERFORM ingest_lead('google_ads', pg_temp.google_lead(after_phone, 'after-' || after_phone));
    RETURN (SELECT s.source_type FROM lead_sources_history AS h JOIN sources AS s ON s.id = h.source_id
              JOIN leads_master AS l ON l.id = h.lead_id WHERE l.phone_number_normalized = after_phone);
END
$$;
SELECT is(pg_temp.source_after_rename('google_ads_2025', '9822200003', '9822200004'),
          'google_ads', 'after its row is renamed, a Google lead goes to a new google_ads source, not the renamed row');
DELETE FROM leads_master WHERE phone_number_normalized = '9822200004';
DELETE FROM sources WHERE source_type = 'google_ads';
SELECT is((ingest_lead('google_ads', pg_temp.google_lead('9822200005', 'rem-5'))).outcome, 'inserted_new',
          'after its row is deleted, the next Google lead creates the source again');
-- A trigger that does not fire in every session (here: only for replication) cannot
-- make this one forget, so nothing may be remembered while it is so.
ALTER TABLE sources ENABLE REPLICA TRIGGER sources_forget_remembered;
SELECT is(pg_temp.source_after_rename('google_ads_2026', '9822200006', '9822200007'),
          'google_ads', 'with the trigger enabled for replication only, a renamed source is not remembered');
ALTER TABLE sources ENABLE ALWAYS TRIGGER sources_forget_remembered;

-- recount_sources repairs counters after manual edits, and reports what it fixed.
SELECT FROM ingest_lead('knowlarity_call', pg_temp.knowlarity_call('9800000001', 'r-k'));
UPDATE sources SET total_leads_count = 40, todays_leads_count = 5 WHERE source_type = 'knowlarity_call';
SELECT results_eq($$ SELECT * FROM recount_sources() $$,
                  $$ VALUES ('knowlarity_call', 40::bigint, 2::bigint, 5::bigint, 2::bigint) $$,
                  'recount_sources returns each corrected source with its counts before and after');
SELECT is_empty($$ SELECT * FROM recount_sources() $$, 'a second recount finds nothing to correct');

-- ingest_lead looks rows up through the tables' unique indexes and remembers, per
-- session, which index that is: after DDL replaces an index, or the whole extension,
-- within the session, it must use the new one (else: "could not open relation").
SELECT is((ingest_lead('meta_form', pg_temp.meta_lead('9811100001', 'ddl-1'))).outcome, 'inserted_new',
          'a new phone before the indexes are replaced');
ALTER TABLE leads_master DROP CONSTRAINT leads_master_phone_number_normalized_key,
    ADD CONSTRAINT leads_master_phone_number_normalized_key UNIQUE (phone_number_normalized);
ALTER TABLE lead_sources_history DROP CONSTRAINT lead_sources_history_lead_id_source_id_key,
    ADD CONSTRAINT lead_sources_history_lead_id_source_id_key UNIQUE (lead_id, source_id);
SELECT is((ingest_lead('meta_form', pg_temp.meta_lead('9811100001', 'ddl-2'))).outcome, 'duplicate_same_source',
          'after both unique indexes are rebuilt in this session, a known phone and its row are found through them');
SELECT is((ingest_lead('google_ads', pg_temp.google_lead('9811100001', 'ddl-3'))).outcome, 'cross_source_history',
          'and another source of that phone gets its history row');
DROP EXTENSION leadsync;
CREATE EXTENSION leadsync;
SELECT is((ingest_lead('meta_form', pg_temp.meta_lead('9811100001', 'ddl-4'))).outcome, 'inserted_new',
          'after DROP and CREATE EXTENSION in this session, the phone is new in the new tables');
SELECT is((ingest_lead('meta_form', pg_temp.meta_lead('9811100001', 'ddl-5'))).outcome, 'duplicate_same_source',
          'and found in them the next time');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
