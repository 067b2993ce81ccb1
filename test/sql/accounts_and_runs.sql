\ir lib/setup.sql
SELECT plan(19);

-- --- accounts: each has its own window -------------------------------------------------------
SELECT is(record_sync_success('meta_form', now() - interval '1 day', timestamptz '2026-11-25 10:00+00', '{}',
                              'andheri'),
          timestamptz '2026-11-25 10:00+00', 'an account''s successful run saves its own window end');
SELECT is(sync_window_start('meta_form', interval '0', interval '24 hours', 'thane'), now() - interval '24 hours',
          'another account of the same source has no window yet: it looks back 24 hours');
SELECT is(sync_window_start('meta_form'), now() - interval '24 hours',
          'nor has the default account (a 0.2.0 call)');
SELECT is(record_sync_success('meta_form', now() - interval '1 day', timestamptz '2026-11-25 12:00+00', '{}',
                              'thane'),
          timestamptz '2026-11-25 12:00+00', 'the second account saves its window');
SELECT is(sync_window_start('meta_form', interval '0', interval '24 hours', 'andheri'), timestamptz '2026-11-25 10:00+00',
          'and the first account''s window did not move');
SELECT FROM record_sync_failure('meta_form', 'HTTP 500', 'andheri');
SELECT results_eq($$ SELECT account, synced_until, last_error FROM sync_status() WHERE source_type = 'meta_form' $$,
                  $$ VALUES ('andheri'::text, timestamptz '2026-11-25 10:00+00', 'HTTP 500'::text),
                            ('thane', timestamptz '2026-11-25 12:00+00', NULL) $$,
                  'sync_status has a row per account: a failure is recorded on its account only');
SELECT throws_ok($$ SELECT record_sync_success('meta_form', now() - interval '1 hour', now(), '{}', 'Thane Road') $$,
                 '23514', NULL, 'an account name other than a-z, 0-9 and _ is refused');

-- --- sync_runs: one row per recorded run, failed runs included ------------------------------------
SELECT is((SELECT count(*) FROM sync_runs), 3::bigint, 'each recorded run (two successes, a failure; not the refused one) is one row');
SELECT results_eq($$ SELECT account::text, path, error FROM sync_runs ORDER BY id $$,
                  $$ VALUES ('andheri'::text, 'fetcher'::text, NULL::text), ('thane', 'fetcher', NULL),
                            ('andheri', 'fetcher', 'HTTP 500') $$,
                  'with its account, its path (fetcher by default) and its error');
SELECT FROM record_sync_success('google_ads', timestamptz '2026-11-25 09:00+00', timestamptz '2026-11-25 10:00+00',
    '{"pages": 3, "fetched": 250, "insertedNew": 200, "duplicateSameSource": 30, "crossSourceHistory": 15, "rejected": 5}',
    '1234567890', 'in_database', timestamptz '2026-11-25 10:00:01+00');
SELECT results_eq($$ SELECT since, until, started_at, pages, fetched, inserted_new, duplicate_same_source,
                            cross_source_history, rejected FROM sync_runs WHERE source_type = 'google_ads' $$,
                  $$ VALUES (timestamptz '2026-11-25 09:00+00', timestamptz '2026-11-25 10:00+00',
                             timestamptz '2026-11-25 10:00:01+00', 3, 250::bigint, 200::bigint, 30::bigint,
                             15::bigint, 5::bigint) $$,
                  'a run''s window, start, pages, records fetched and four outcome counts come from its summary');
SELECT throws_ok($$ SELECT record_sync_run('meta_form', 'default', 'cron', now(), NULL, NULL, '{}', NULL) $$,
                 '23514', NULL, 'a path other than fetcher, in_database and webhook is refused');

-- Retention: each recorded run removes the runs older than leadsync.sync_runs_retention.
SELECT is(sync_runs_retention(), interval '90 days', 'runs are kept 90 days by default');
UPDATE sync_runs SET finished_at = now() - interval '91 days' WHERE account = 'thane';
UPDATE sync_runs SET finished_at = now() - interval '89 days' WHERE account = '1234567890';
SELECT FROM record_sync_success('knowlarity_call', now() - interval '1 hour', now(), '{}');
SELECT results_eq($$ SELECT account::text FROM sync_runs ORDER BY id $$,
                  $$ VALUES ('andheri'::text), ('andheri'), ('1234567890'), ('default') $$,
                  'the next run removed the run older than 90 days, and kept the one of 89 days');
SET LOCAL leadsync.sync_runs_retention = '36h';
SELECT is(sync_runs_retention(), interval '1 day 12 hours', 'the retention is a setting (36h here)');
SELECT FROM record_sync_failure('knowlarity_call', 'HTTP 403');
CREATE ROLE leadsync_test_recorder NOLOGIN;
SET LOCAL ROLE leadsync_test_recorder;
SELECT throws_ok($$ SET leadsync.sync_runs_retention = '1h' $$, '42501', NULL,
                 'only a superuser may change it: a role that records runs cannot shorten the history');
RESET ROLE;
SELECT is((SELECT count(*) FROM sync_runs WHERE finished_at < now() - interval '36 hours'), 0::bigint,
          'and the next run prunes to it');

-- --- how late leads arrive ------------------------------------------------------------------------
SET LOCAL leadsync.timezone = 'Asia/Kolkata';
SELECT FROM ingest_leads('meta_form', jsonb_build_array(
    pg_temp.meta_lead('9811100001', 'd1', timestamptz '2026-11-25 10:05+05:30'),
    pg_temp.meta_lead('9811100002', 'd2', timestamptz '2026-11-25 10:10+05:30'),
    pg_temp.meta_lead('9811100003', 'd3', timestamptz '2026-11-25 10:20+05:30'),
    pg_temp.meta_lead('9811100004', 'd4', timestamptz '2026-11-25 10:30+05:30')));
SELECT FROM ingest_lead('knowlarity_call', pg_temp.knowlarity_call('9811100001', 'k1', timestamptz '2026-11-25 10:00+05:30'));
-- Arrivals 1, 2, 3 and 10 minutes after the platform's time; Knowlarity's 1 hour after.
UPDATE lead_sources_history h SET received_at = h.platform_created_at + d.delay
  FROM (VALUES ('d1', interval '1 minute'), ('d2', interval '2 minutes'), ('d3', interval '3 minutes'),
               ('d4', interval '10 minutes'), ('k1', interval '1 hour')) AS d (external_id, delay)
 WHERE h.external_id = d.external_id;
SELECT results_eq($$ SELECT source_type, hour, leads, median_delay, p95_delay, max_delay FROM lead_arrival_delays
                      ORDER BY 1, 2 $$,
                  $$ VALUES ('knowlarity_call'::text, timestamptz '2026-11-25 11:00+05:30', 1::bigint,
                             interval '1 hour', interval '1 hour', interval '1 hour'),
                            ('meta_form', timestamptz '2026-11-25 10:00+05:30', 4::bigint,
                             interval '2 minutes 30 seconds', interval '8 minutes 57 seconds', interval '10 minutes') $$,
                  'lead_arrival_delays: per source and business hour, the leads and the median, p95 and max delay');
SELECT is((SELECT count(*) FROM lead_arrival_delays WHERE hour = timestamptz '2026-11-25 10:00+05:30'), 1::bigint,
          'the hours are those of leadsync.timezone');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
