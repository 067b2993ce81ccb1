\ir lib/setup.sql
SELECT plan(17);

-- The inbox of leadsync-fetch serve: a Meta notification is committed before the webhook
-- is answered, then resolved (the lead read from Graph, ingested) exactly once in effect.
CREATE TEMP TABLE notified AS SELECT webhook_inbox_add('meta_form', '[
    {"external_id": "4440001", "notification": {"leadgen_id": 4440001, "page_id": 1}},
    {"external_id": "4440002", "notification": {"leadgen_id": 4440002, "page_id": 1}},
    {"external_id": "4440002", "notification": {"leadgen_id": 4440002, "page_id": 1}}]') AS added;
SELECT is((SELECT added FROM notified), 2, 'webhook_inbox_add adds each notified lead once, even twice in one call');
SELECT is(webhook_inbox_add('meta_form', '[{"external_id": "4440001", "notification": {}}]'), 0,
          'a notification delivered again adds nothing');
SELECT is((SELECT count(*) FROM webhook_inbox), 2::bigint, 'two rows in the inbox');

-- Claiming: due rows only, each to one claimant for the lease.
CREATE TEMP TABLE claim1 AS SELECT * FROM webhook_inbox_claim('meta_form', 1, '5 minutes');
SELECT is((SELECT array_agg(external_id || ':' || attempts) FROM claim1), ARRAY['4440001:1'],
          'a claim takes the oldest due row and counts the attempt');
SELECT is((SELECT array_agg(external_id) FROM webhook_inbox_claim('meta_form', 10, '5 minutes')), ARRAY['4440002'],
          'a second claim does not take a row under lease');
SELECT is((SELECT count(*) FROM webhook_inbox_claim('meta_form', 10, '5 minutes')), 0::bigint,
          'nothing is due while every row is under lease');
SELECT is((SELECT count(*) FROM webhook_inbox_claim('google_ads', 10, '5 minutes')), 0::bigint,
          'a claim takes only its own source''s rows');

-- A failure keeps the row with its error, due again at its retry time.
SELECT webhook_inbox_fail((SELECT id FROM claim1), 'Graph API error 190: token expired', '0 seconds');
SELECT is((SELECT last_error FROM webhook_inbox WHERE external_id = '4440001'), 'Graph API error 190: token expired',
          'webhook_inbox_fail records the error');
SELECT is(array_agg(s.source_type || ' ' || s.pending || ' ' || s.failing), ARRAY['meta_form 2 1'],
          'webhook_inbox_status counts the pending and the failing rows')
  FROM webhook_inbox_status() s;
SELECT is((SELECT array_agg(external_id || ':' || attempts) FROM webhook_inbox_claim('meta_form', 10, '0 seconds')),
          ARRAY['4440001:2'], 'a failed row is claimed again once due');

-- Resolving ingests and marks the row in one call, once.
SELECT is(webhook_inbox_resolve((SELECT id FROM claim1), pg_temp.meta_lead('9844400001', '4440001'))->>'insertedNew',
          '1', 'webhook_inbox_resolve ingests the lead');
SELECT ok((SELECT resolved_at IS NOT NULL AND last_error IS NULL FROM webhook_inbox WHERE external_id = '4440001'),
          'and marks the row resolved, its error cleared');
SELECT is(webhook_inbox_resolve((SELECT id FROM claim1), pg_temp.meta_lead('9844400009', '4440001')), NULL,
          'resolving a resolved row again does nothing');
SELECT is((SELECT count(*) FROM leads_master), 1::bigint, 'so no second lead was ingested');
SELECT is(pg_temp.total('meta_form'), 1::bigint, 'and the count moved once');
SELECT is((SELECT count(*) FROM webhook_inbox_claim('meta_form', 10, '0 seconds') WHERE external_id = '4440001'),
          0::bigint, 'a resolved row is never claimed again');

-- Like the ingest functions: no one but the owner and roles it grants.
SELECT is((SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p
            WHERE p.proname LIKE 'webhook_inbox%' AND has_function_privilege('public', p.oid, 'EXECUTE')),
          NULL, 'no inbox function is executable by PUBLIC');

SELECT * FROM finish();
ROLLBACK;
