\ir lib/setup.sql
SELECT plan(10);

SELECT is(sync_window_start('meta_form'), now() - interval '24 hours',
          'with no saved window the first fetch looks back 24 hours');
SELECT is(sync_window_start('meta_form', interval '10 minutes', interval '2 hours'), now() - interval '2 hours',
          'the first lookback is configurable');

SELECT is(record_sync_success('meta_form', now() - interval '1 day', timestamptz '2026-11-25 10:00+00', '{"pages": 3}'),
          timestamptz '2026-11-25 10:00+00', 'a successful run saves where its window ended');
SELECT is(sync_window_start('meta_form'), timestamptz '2026-11-25 09:50+00',
          'the next run starts there minus the 10-minute overlap');
SELECT is(sync_window_start('meta_form', interval '30 minutes'), timestamptz '2026-11-25 09:30+00',
          'the overlap is configurable');

SELECT is(record_sync_success('meta_form', timestamptz '2026-11-20 00:00+00', timestamptz '2026-11-21 00:00+00', '{}'),
          timestamptz '2026-11-25 10:00+00', 'a backfill of an older range does not move the saved point back');
SELECT is(record_sync_success('meta_form', timestamptz '2026-11-25 12:00+00', timestamptz '2026-11-25 13:00+00', '{}'),
          timestamptz '2026-11-25 10:00+00', 'a run that starts after a gap does not skip the gap');

SELECT FROM record_sync_failure('meta_form', 'meta_form: form 1, page 2: HTTP 500 (gave up after 6 attempts)');
SELECT results_eq($$ SELECT source_type, synced_until, last_error IS NOT NULL FROM sync_status() $$,
                  $$ VALUES ('meta_form', timestamptz '2026-11-25 10:00+00', true) $$,
                  'a failed run records its error and leaves the saved point where it was');
SELECT is(record_sync_success('meta_form', timestamptz '2026-11-25 09:50+00', timestamptz '2026-11-25 11:00+00', '{}'),
          timestamptz '2026-11-25 11:00+00', 'a run that overlaps the saved point moves it forward');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
