\ir lib/setup.sql
SELECT plan(14);

SET LOCAL leadsync.timezone = 'Asia/Kolkata';
SELECT is(business_timezone(), 'Asia/Kolkata', 'leadsync.timezone sets the business time zone');
SELECT is(business_today(), (now() AT TIME ZONE 'Asia/Kolkata')::date, 'today is today''s date in that zone');

-- An event of yesterday (business zone) counts in the total, not today.
SELECT FROM ingest_lead('meta_form', pg_temp.meta_lead('9300000001', 'y-1',
              (business_today() - 1 + time '12:00') AT TIME ZONE 'Asia/Kolkata'));
SELECT results_eq($$ SELECT total_leads_count, todays_leads_count FROM sources WHERE source_type = 'meta_form' $$,
                  $$ VALUES (1::bigint, 0::bigint) $$,
                  'a lead from yesterday counts in the total, not in today''s count');

-- 23:30 UTC of yesterday is 05:00 today in Asia/Kolkata: today's lead there.
SELECT FROM ingest_lead('meta_form', pg_temp.meta_lead('9300000002', 'y-2',
              (business_today() - 1 + time '23:30') AT TIME ZONE 'UTC'));
SELECT results_eq($$ SELECT total_leads_count, todays_leads_count FROM sources WHERE source_type = 'meta_form' $$,
                  $$ VALUES (2::bigint, 1::bigint) $$,
                  'a lead at 23:30 UTC counts as the next day for Asia/Kolkata');
SELECT is(business_date((business_today() - 1 + time '23:30') AT TIME ZONE 'UTC'), business_today(),
          'business_date puts 23:30 UTC on the next Kolkata date');
SET LOCAL leadsync.timezone = 'UTC';
SELECT is(business_date((current_date - 1 + time '23:30') AT TIME ZONE 'UTC'), current_date - 1,
          'with leadsync.timezone = UTC the same instant stays on its UTC date');
SET LOCAL leadsync.timezone = 'Asia/Kolkata';

-- No event time in the payload: the receive time decides.
SELECT FROM ingest_lead('knowlarity_call', '{"uuid": "k-no-time", "customer_number": "9300000003"}');
SELECT results_eq($$ SELECT total_leads_count, todays_leads_count FROM sources WHERE source_type = 'knowlarity_call' $$,
                  $$ VALUES (1::bigint, 1::bigint) $$,
                  'a payload without an event time counts as received today');

-- Rollover at the business midnight, without reset_daily_counts(): move Meta's leads and
-- its stored count one day back, as if midnight had just passed.
UPDATE lead_sources_history SET platform_created_at = platform_created_at - interval '1 day'
 WHERE source_id = pg_temp.source_id('meta_form');
UPDATE sources SET todays_count_date = business_today() - 1 WHERE source_type = 'meta_form';
SELECT is((SELECT todays_leads_count FROM source_counts WHERE source_type = 'meta_form'), 0::bigint,
          'after midnight source_counts reads yesterday''s count as 0 at once');
SELECT FROM ingest_lead('meta_form', pg_temp.meta_lead('9300000004', 'y-4'));
SELECT results_eq($$ SELECT todays_leads_count, todays_count_date FROM sources WHERE source_type = 'meta_form' $$,
                  $$ VALUES (1::bigint, business_today()) $$,
                  'the first lead after midnight starts today''s count at 1, not on top of yesterday''s');
SELECT FROM ingest_lead('meta_form', pg_temp.meta_lead('9300000005', 'y-5'));
SELECT is((SELECT todays_leads_count FROM sources WHERE source_type = 'meta_form'), 2::bigint,
          'later leads of the same day add to it');

-- reset_daily_counts zeroes only counts of an earlier day.
UPDATE lead_sources_history SET received_at = received_at - interval '2 days'
 WHERE source_id = pg_temp.source_id('knowlarity_call');
UPDATE sources SET todays_count_date = business_today() - 2 WHERE source_type = 'knowlarity_call';
SELECT is(reset_daily_counts(), 1, 'reset_daily_counts resets the one source whose count is stale');
SELECT results_eq($$ SELECT source_type, todays_leads_count FROM sources ORDER BY source_type $$,
                  $$ VALUES ('knowlarity_call', 0::bigint), ('meta_form', 2::bigint) $$,
                  'and leaves today''s counts alone');

-- Event times without an offset are read in the business zone.
SELECT FROM ensure_source('Naive', 'naive_times', '{"phone": ["$.p"], "created_at": ["$.t"]}');
SELECT FROM ingest_lead('naive_times', '{"p": "9300000006", "t": "2026-01-01 00:30"}');
SELECT is((SELECT platform_created_at FROM leads_master WHERE phone_number_normalized = '9300000006'),
          '2025-12-31 19:00:00+00'::timestamptz, 'a time without offset is read in leadsync.timezone');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;
