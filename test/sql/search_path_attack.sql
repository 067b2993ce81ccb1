\ir lib/setup.sql
-- search_path attacks: functions, aggregates, operators and types planted in a schema
-- `evil` that comes first on the caller's search_path (and temp tables shadowing the
-- extension's tables) must not change what ingest_lead, ingest_leads, ensure_source,
-- reset_daily_counts, recount_sources, sync_window_start, record_sync_success,
-- record_sync_failure and sync_status do, whoever calls them: the same results and rows
-- as without them, and not one of the planted objects ever runs.
--
-- Every planted object records that it ran (in evil.trap, with the role it ran as) and
-- returns a wrong answer. The first tests show that each one is live: a query written
-- without qualified names runs it, and a careless SECURITY DEFINER function lets a
-- non-superuser run its code as the function's owner. Then one scenario of calls runs four
-- times on emptied tables: with a clean search_path (the reference), as a superuser with
-- evil before and after pg_catalog, and as a non-superuser who owns evil and may only
-- execute the ingest and fetch functions.
SELECT plan(20);

SET LOCAL TimeZone = 'UTC';
SET LOCAL leadsync.timezone = 'Asia/Kolkata';

-- ---------------------------------------------------------------------------
-- The attacker: owns schema evil, may call the ingest and fetch functions only.
-- ---------------------------------------------------------------------------
CREATE ROLE leadsync_test_attacker NOLOGIN;
GRANT USAGE ON SCHEMA public TO leadsync_test_attacker;
GRANT EXECUTE ON FUNCTION ingest_lead(text, jsonb), ingest_leads(text, jsonb),
  sync_window_start(text, interval, interval, text),
  record_sync_success(text, timestamptz, timestamptz, jsonb, text, text, timestamptz),
  record_sync_failure(text, text, text, text, timestamptz, timestamptz, timestamptz, jsonb),
  sync_status() TO leadsync_test_attacker;
CREATE SCHEMA evil AUTHORIZATION leadsync_test_attacker;

SET LOCAL ROLE leadsync_test_attacker;
CREATE TABLE evil.trap (what pg_catalog.text NOT NULL, by_role pg_catalog.text NOT NULL);
GRANT SELECT, INSERT, DELETE ON evil.trap TO PUBLIC;
CREATE FUNCTION evil.sprung(what pg_catalog.text) RETURNS void LANGUAGE sql
  AS $$ INSERT INTO evil.trap VALUES (what, current_user) $$;

-- evil.<name>(<args>): records '<name>(<args>)' and returns <wrong> (nothing for a set).
CREATE FUNCTION pg_temp.plant(name text, args text, returns text, wrong text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L', name, args, returns,
                 format('BEGIN PERFORM evil.sprung(%L); RETURN %s; END', name || '(' || args || ')', coalesce(wrong, '')));
END
$$;
SELECT FROM (VALUES
  ('lower', 'pg_catalog.text', 'pg_catalog.text', $q$'pwned'$q$),
  ('upper', 'pg_catalog.text', 'pg_catalog.text', $q$'PWNED'$q$),
  ('btrim', 'pg_catalog.text', 'pg_catalog.text', $q$'pwned'$q$),
  ('md5', 'pg_catalog.text', 'pg_catalog.text', $q$'00000000000000000000000000000000'$q$),
  ('now', '', 'pg_catalog.timestamptz', $q$'2000-01-01 00:00:00+00'$q$),
  ('unnest', 'anyarray', 'SETOF anyelement', NULL),
  ('unnest', 'pg_catalog.text[]', 'SETOF pg_catalog.text', NULL),
  ('unnest', 'pg_catalog.jsonb[]', 'SETOF pg_catalog.jsonb', NULL),
  ('unnest', 'pg_catalog.timestamptz[]', 'SETOF pg_catalog.timestamptz', NULL),
  ('unnest', 'pg_catalog.bool[]', 'SETOF pg_catalog.bool', NULL),
  ('jsonb_path_query_first', 'pg_catalog.jsonb, pg_catalog.jsonpath, pg_catalog.jsonb, pg_catalog.bool',
   'pg_catalog.jsonb', $q$'"0000000000"'$q$),
  ('date', 'pg_catalog.timestamp', 'pg_catalog.date', $q$'2000-01-01'$q$),
  ('timezone', 'pg_catalog.text, pg_catalog.timestamptz', 'pg_catalog.timestamp', $q$'2000-01-01 00:00'$q$),
  ('nextval', 'pg_catalog.regclass', 'pg_catalog.int8', '-1'),
  ('normalize_phone', 'pg_catalog.text', 'pg_catalog.text', $q$'0000000000'$q$),
  ('business_today', '', 'pg_catalog.date', $q$'2000-01-01'$q$),
  ('business_date', 'pg_catalog.timestamptz', 'pg_catalog.date', $q$'2000-01-01'$q$),
  ('business_timezone', '', 'pg_catalog.text', $q$'Pacific/Kiritimati'$q$),
  ('ensure_source', 'pg_catalog.text, pg_catalog.text, pg_catalog.jsonb DEFAULT NULL', 'pg_catalog.int8', '-1'),
  ('check_field_map', 'pg_catalog.text, pg_catalog.jsonb', 'void', NULL),
  ('count_step', 'pg_catalog.int8', 'pg_catalog.int8', '424242'),
  ('count_step', 'pg_catalog.int8, pg_catalog.int8', 'pg_catalog.int8', '424242'),
  ('op_eq', 'pg_catalog.text, pg_catalog.text', 'pg_catalog.bool', 'true'),
  ('op_eq', 'pg_catalog.int8, pg_catalog.int8', 'pg_catalog.bool', 'true'),
  ('op_eq', 'pg_catalog.date, pg_catalog.date', 'pg_catalog.bool', 'true'),
  ('op_eq', 'pg_catalog.jsonb, pg_catalog.jsonb', 'pg_catalog.bool', 'true'),
  ('op_eq', 'pg_catalog.timestamptz, pg_catalog.timestamptz', 'pg_catalog.bool', 'true'),
  ('op_ne', 'pg_catalog.int8, pg_catalog.int8', 'pg_catalog.bool', 'true'),
  ('op_plus', 'pg_catalog.int8, pg_catalog.int8', 'pg_catalog.int8', '1000000'),
  ('op_minus', 'pg_catalog.timestamptz, pg_catalog.interval', 'pg_catalog.timestamptz', $q$'2000-01-01 00:00:00+00'$q$),
  ('op_gt', 'pg_catalog.timestamptz, pg_catalog.timestamptz', 'pg_catalog.bool', 'true'),
  ('op_le', 'pg_catalog.timestamptz, pg_catalog.timestamptz', 'pg_catalog.bool', 'true'),
  ('op_concat', 'pg_catalog.text, pg_catalog.text', 'pg_catalog.text', $q$'pwned'$q$)
) AS planted(name, args, returns, wrong), pg_temp.plant(name, args, returns, wrong);
CREATE FUNCTION evil.domain_check(what pg_catalog.text) RETURNS pg_catalog.bool LANGUAGE plpgsql
  AS $$ BEGIN PERFORM evil.sprung(what); RETURN true; END $$;

CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_step, STYPE = pg_catalog.int8, INITCOND = '0');
CREATE AGGREGATE evil.count(pg_catalog.int8) (SFUNC = evil.count_step, STYPE = pg_catalog.int8, INITCOND = '0');
CREATE OPERATOR evil.= (FUNCTION = evil.op_eq, LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text);
CREATE OPERATOR evil.= (FUNCTION = evil.op_eq, LEFTARG = pg_catalog.int8, RIGHTARG = pg_catalog.int8);
CREATE OPERATOR evil.= (FUNCTION = evil.op_eq, LEFTARG = pg_catalog.date, RIGHTARG = pg_catalog.date);
CREATE OPERATOR evil.= (FUNCTION = evil.op_eq, LEFTARG = pg_catalog.jsonb, RIGHTARG = pg_catalog.jsonb);
CREATE OPERATOR evil.= (FUNCTION = evil.op_eq, LEFTARG = pg_catalog.timestamptz, RIGHTARG = pg_catalog.timestamptz);
CREATE OPERATOR evil.<> (FUNCTION = evil.op_ne, LEFTARG = pg_catalog.int8, RIGHTARG = pg_catalog.int8);
CREATE OPERATOR evil.+ (FUNCTION = evil.op_plus, LEFTARG = pg_catalog.int8, RIGHTARG = pg_catalog.int8);
CREATE OPERATOR evil.- (FUNCTION = evil.op_minus, LEFTARG = pg_catalog.timestamptz, RIGHTARG = pg_catalog.interval);
CREATE OPERATOR evil.> (FUNCTION = evil.op_gt, LEFTARG = pg_catalog.timestamptz, RIGHTARG = pg_catalog.timestamptz);
CREATE OPERATOR evil.<= (FUNCTION = evil.op_le, LEFTARG = pg_catalog.timestamptz, RIGHTARG = pg_catalog.timestamptz);
CREATE OPERATOR evil.|| (FUNCTION = evil.op_concat, LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text);
-- Types: an unqualified cast to text or jsonb would become a cast to these domains.
CREATE DOMAIN evil."text" AS pg_catalog.text CHECK (evil.domain_check('domain text'));
CREATE DOMAIN evil.jsonb AS pg_catalog.jsonb CHECK (evil.domain_check('domain jsonb'));
RESET ROLE;

-- What each planted object is called in evil.trap, and a query that runs it when evil
-- wins the name lookup.
CREATE TEMP TABLE planted (label text PRIMARY KEY, probe text NOT NULL);
INSERT INTO planted VALUES
  ('lower(pg_catalog.text)', $$ SELECT lower('X'::pg_catalog.text) $$),
  ('upper(pg_catalog.text)', $$ SELECT upper('x'::pg_catalog.text) $$),
  ('btrim(pg_catalog.text)', $$ SELECT btrim(' x '::pg_catalog.text) $$),
  ('md5(pg_catalog.text)', $$ SELECT md5('x'::pg_catalog.text) $$),
  ('now()', $$ SELECT now()::pg_catalog.text $$),
  ('unnest(anyarray)', $$ SELECT pg_catalog.count(*)::pg_catalog.text FROM unnest(ARRAY[1, 2]) $$),
  ('unnest(pg_catalog.text[])', $$ SELECT pg_catalog.count(*)::pg_catalog.text FROM unnest(ARRAY['a']::pg_catalog.text[]) $$),
  ('unnest(pg_catalog.jsonb[])', $$ SELECT pg_catalog.count(*)::pg_catalog.text FROM unnest(ARRAY['{}']::pg_catalog.jsonb[]) $$),
  ('unnest(pg_catalog.timestamptz[])',
   $$ SELECT pg_catalog.count(*)::pg_catalog.text FROM unnest(ARRAY['2020-01-01']::pg_catalog.timestamptz[]) $$),
  ('unnest(pg_catalog.bool[])', $$ SELECT pg_catalog.count(*)::pg_catalog.text FROM unnest(ARRAY[true]::pg_catalog.bool[]) $$),
  ('jsonb_path_query_first(pg_catalog.jsonb, pg_catalog.jsonpath, pg_catalog.jsonb, pg_catalog.bool)',
   $$ SELECT jsonb_path_query_first('{"a": 1}'::pg_catalog.jsonb, '$.a'::pg_catalog.jsonpath, '{}'::pg_catalog.jsonb, true)::pg_catalog.text $$),
  ('date(pg_catalog.timestamp)', $$ SELECT date('2020-01-01'::pg_catalog.timestamp)::pg_catalog.text $$),
  ('timezone(pg_catalog.text, pg_catalog.timestamptz)',
   $$ SELECT timezone('UTC'::pg_catalog.text, '2020-01-01 00:00+00'::pg_catalog.timestamptz)::pg_catalog.text $$),
  ('nextval(pg_catalog.regclass)', $$ SELECT nextval('public.sources_id_seq'::pg_catalog.regclass)::pg_catalog.text $$),
  ('normalize_phone(pg_catalog.text)', $$ SELECT normalize_phone('+919876543210'::pg_catalog.text) $$),
  ('business_today()', $$ SELECT business_today()::pg_catalog.text $$),
  ('business_date(pg_catalog.timestamptz)', $$ SELECT business_date('2020-01-01 00:00+00'::pg_catalog.timestamptz)::pg_catalog.text $$),
  ('business_timezone()', $$ SELECT business_timezone() $$),
  ('ensure_source(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb DEFAULT NULL)',
   $$ SELECT ensure_source('Probe'::pg_catalog.text, 'probe_form'::pg_catalog.text)::pg_catalog.text $$),
  ('check_field_map(pg_catalog.text, pg_catalog.jsonb)',
   $$ SELECT pg_catalog.concat(check_field_map('probe_form'::pg_catalog.text, '{"phone": ["$.p"]}'::pg_catalog.jsonb)) $$),
  ('count_step(pg_catalog.int8)', $$ SELECT count(*)::pg_catalog.text FROM (VALUES (1)) AS v(x) $$),
  ('count_step(pg_catalog.int8, pg_catalog.int8)', $$ SELECT count(x)::pg_catalog.text FROM (VALUES (1::pg_catalog.int8)) AS v(x) $$),
  ('op_eq(pg_catalog.text, pg_catalog.text)', $$ SELECT ('a'::pg_catalog.text = 'b'::pg_catalog.text)::pg_catalog.text $$),
  ('op_eq(pg_catalog.int8, pg_catalog.int8)', $$ SELECT (1::pg_catalog.int8 = 2::pg_catalog.int8)::pg_catalog.text $$),
  ('op_eq(pg_catalog.date, pg_catalog.date)', $$ SELECT ('2020-01-01'::pg_catalog.date = '2020-01-02'::pg_catalog.date)::pg_catalog.text $$),
  ('op_eq(pg_catalog.jsonb, pg_catalog.jsonb)',
   $$ SELECT ('{}'::pg_catalog.jsonb IS DISTINCT FROM '[]'::pg_catalog.jsonb)::pg_catalog.text $$),
  ('op_eq(pg_catalog.timestamptz, pg_catalog.timestamptz)',
   $$ SELECT ('2020-01-01 00:00+00'::pg_catalog.timestamptz = '2020-01-02 00:00+00'::pg_catalog.timestamptz)::pg_catalog.text $$),
  ('op_ne(pg_catalog.int8, pg_catalog.int8)', $$ SELECT (1::pg_catalog.int8 <> 1::pg_catalog.int8)::pg_catalog.text $$),
  ('op_plus(pg_catalog.int8, pg_catalog.int8)', $$ SELECT (1::pg_catalog.int8 + 1::pg_catalog.int8)::pg_catalog.text $$),
  ('op_minus(pg_catalog.timestamptz, pg_catalog.interval)',
   $$ SELECT ('2020-01-01 00:00+00'::pg_catalog.timestamptz - '1 day'::pg_catalog.interval)::pg_catalog.text $$),
  ('op_gt(pg_catalog.timestamptz, pg_catalog.timestamptz)',
   $$ SELECT ('2020-01-01 00:00+00'::pg_catalog.timestamptz > '2020-01-02 00:00+00'::pg_catalog.timestamptz)::pg_catalog.text $$),
  ('op_le(pg_catalog.timestamptz, pg_catalog.timestamptz)',
   $$ SELECT ('2020-01-02 00:00+00'::pg_catalog.timestamptz <= '2020-01-01 00:00+00'::pg_catalog.timestamptz)::pg_catalog.text $$),
  ('op_concat(pg_catalog.text, pg_catalog.text)', $$ SELECT 'a'::pg_catalog.text || 'b'::pg_catalog.text $$),
  ('domain text', $$ SELECT 'x'::text::pg_catalog.text $$),
  ('domain jsonb', $$ SELECT '{}'::jsonb::pg_catalog.text $$);

-- Temp tables named like the extension's: for an unqualified table name they come first.
CREATE TEMP TABLE shadow_names (name text);
INSERT INTO shadow_names VALUES ('sources'), ('leads_master'), ('lead_sources_history'), ('lead_rejects'), ('sync_state');
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT name FROM pg_temp.shadow_names LOOP
    EXECUTE format('CREATE TEMP TABLE %I (LIKE public.%I)', t, t);
    EXECUTE format('GRANT ALL ON pg_temp.%I TO PUBLIC', t);
  END LOOP;
END
$$;
CREATE FUNCTION pg_temp.shadow_rows() RETURNS bigint LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM pg_temp.sources) + (SELECT count(*) FROM pg_temp.leads_master)
       + (SELECT count(*) FROM pg_temp.lead_sources_history) + (SELECT count(*) FROM pg_temp.lead_rejects)
       + (SELECT count(*) FROM pg_temp.sync_state)
$$;

-- Runs `statement` with `path` as search_path (and as `role_name` when given); returns its
-- one text value, or 'ERROR <sqlstate>: <message>'. The caller's settings are back after.
CREATE FUNCTION pg_temp.run_with(statement text, path text, role_name text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  saved_path text := pg_catalog.current_setting('search_path');
  result text;
BEGIN
  BEGIN
    IF role_name IS NOT NULL THEN
      PERFORM pg_catalog.set_config('role', role_name, true);
    END IF;
    PERFORM pg_catalog.set_config('search_path', path, true);
    EXECUTE statement INTO result;
    PERFORM pg_catalog.set_config('search_path', saved_path, true);
    PERFORM pg_catalog.set_config('role', 'none', true);
  EXCEPTION WHEN OTHERS THEN
    -- The block's settings were rolled back with it.
    result := 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
  END;
  RETURN result;
END
$$;

-- Runs each probe with `path` (as `role_name`); returns the labels whose object ran.
CREATE FUNCTION pg_temp.live_objects(path text, role_name text DEFAULT NULL) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  p record;
  live text[] := '{}';
BEGIN
  FOR p IN SELECT * FROM pg_temp.planted ORDER BY label LOOP
    DELETE FROM evil.trap;
    PERFORM pg_temp.run_with(p.probe, path, role_name);
    IF EXISTS (SELECT FROM evil.trap WHERE what = p.label) THEN
      live := live || p.label;
    END IF;
  END LOOP;
  DELETE FROM evil.trap;
  RETURN live;
END
$$;

-- ---------------------------------------------------------------------------
-- 1-4. The traps are live.
-- ---------------------------------------------------------------------------
SELECT is(pg_temp.live_objects('evil, pg_catalog, public'), (SELECT array_agg(label ORDER BY label) FROM planted),
          'with evil first on search_path, every planted function, aggregate, operator and type is what an unqualified name runs');
SELECT is(pg_temp.live_objects('evil, public', 'leadsync_test_attacker'),
          ARRAY['business_date(pg_catalog.timestamptz)', 'business_timezone()', 'business_today()',
                'check_field_map(pg_catalog.text, pg_catalog.jsonb)', 'count_step(pg_catalog.int8, pg_catalog.int8)',
                'ensure_source(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb DEFAULT NULL)',
                'normalize_phone(pg_catalog.text)', 'unnest(pg_catalog.bool[])', 'unnest(pg_catalog.jsonb[])',
                'unnest(pg_catalog.text[])', 'unnest(pg_catalog.timestamptz[])'],
          'with pg_catalog implicitly first, the extension''s own names and the closer overloads of unnest and count still run evil''s code');

-- A careless SECURITY DEFINER function (no pinned search_path, unqualified names) that
-- the attacker may execute: the attacker's code runs with the owner's privileges.
CREATE FUNCTION public.leadsync_test_careless(phone text) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO lead_rejects (id, source_id, reason, raw_payload, payload_md5, received_at)
    VALUES (0, 0, 'careless', '{}', md5(phone), now());
  RETURN (SELECT count(*) FROM public.leads_master WHERE phone_number_normalized = normalize_phone(lower(phone)));
END
$$;
GRANT EXECUTE ON FUNCTION public.leadsync_test_careless(text) TO leadsync_test_attacker;
SELECT FROM pg_temp.run_with('SELECT public.leadsync_test_careless(''9876543210'')::pg_catalog.text',
                             'evil, pg_catalog, public', 'leadsync_test_attacker');
SELECT isnt_empty($$ SELECT * FROM evil.trap WHERE by_role <> 'leadsync_test_attacker' $$,
                  'a careless SECURITY DEFINER function runs the attacker''s code as its owner (the check below can fail)');
SELECT is(pg_temp.shadow_rows(), 1::bigint,
          'and writes into a temp table shadowing lead_rejects (the check below can fail)');
DROP FUNCTION public.leadsync_test_careless(text);

-- ---------------------------------------------------------------------------
-- The scenario: every call of the extension's entry points that a caller can make.
-- kind: 'call' runs with the run's search_path and role; 'admin' likewise, but as the
-- superuser in the attacker's run (which may not execute them); 'setup' always as the
-- superuser with a clean search_path. expected: SQL giving the right answer, evaluated
-- on the final rows with a clean search_path (lead and source ids differ between runs).
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE steps (step int PRIMARY KEY, kind text NOT NULL, statement text NOT NULL, expected text NOT NULL);
CREATE FUNCTION pg_temp.lead_result(outcome text, phone text) RETURNS text LANGUAGE sql AS $$
  SELECT format('(%s,%s,)', outcome, (SELECT id FROM public.leads_master m WHERE m.phone_number_normalized = phone))
$$;
CREATE FUNCTION pg_temp.iso(t timestamptz) RETURNS text LANGUAGE sql AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
INSERT INTO steps VALUES
  (1, 'admin', $$ SELECT public.ensure_source('Website'::pg_catalog.text, 'website_form'::pg_catalog.text,
        '{"phone": ["$.contact.mobile", "$.contact.phone"], "name": ["$.contact.name"], "external_id": ["$.ref"],
          "created_at": ["$.at"]}'::pg_catalog.jsonb)::pg_catalog.text $$,
   $$ SELECT id::text FROM public.sources WHERE source_type = 'website_form' $$),
  (2, 'call', $$ SELECT public.ingest_lead('meta_form'::pg_catalog.text, '{"id": "m-1", "created_time": "2026-01-15T10:30:00+0000",
        "field_data": [{"name": "full_name", "values": ["Asha Rao"]},
                       {"name": "phone_number", "values": ["+91 98765 43210"]}]}'::pg_catalog.jsonb)::pg_catalog.text $$,
   $$ SELECT pg_temp.lead_result('inserted_new', '9876543210') $$),
  (3, 'call', $$ SELECT public.ingest_lead('meta_form'::pg_catalog.text, '{"id": "m-1", "created_time": "2026-01-15T10:30:00+0000",
        "field_data": [{"name": "full_name", "values": ["Asha Rao"]},
                       {"name": "phone_number", "values": ["+91 98765 43210"]}]}'::pg_catalog.jsonb)::pg_catalog.text $$,
   $$ SELECT pg_temp.lead_result('duplicate_same_source', '9876543210') $$),
  (4, 'call', format($$ SELECT public.ingest_lead('knowlarity_call'::pg_catalog.text,
        '{"uuid": "k-1", "customer_number": "09876543210", "start_time": "%s"}'::pg_catalog.jsonb)::pg_catalog.text $$,
        pg_temp.iso(now())),
   $$ SELECT pg_temp.lead_result('cross_source_history', '9876543210') $$),
  (5, 'call', $$ SELECT public.ingest_lead('google_ads'::pg_catalog.text,
        '{"lead_id": "g-0", "user_column_data": []}'::pg_catalog.jsonb)::pg_catalog.text $$,
   $$ SELECT '(rejected,,"no phone field")' $$),
  (6, 'call', format($$ SELECT public.ingest_leads('google_ads'::pg_catalog.text, '[
        {"lead_id": "g-1", "lead_submit_time": "%s", "user_column_data": [
          {"column_id": "FULL_NAME", "string_value": "Ravi Iyer"}, {"column_id": "PHONE_NUMBER", "string_value": "+91-91234-56780"}]},
        {"lead_id": "g-2", "user_column_data": [{"column_id": "PHONE_NUMBER", "string_value": "+919876543210"}]},
        {"lead_id": "g-3", "user_column_data": [{"column_id": "PHONE_NUMBER", "string_value": "n/a"}]},
        7,
        {"lead_id": "g-1 again", "user_column_data": [{"column_id": "PHONE_NUMBER", "string_value": "9123456780"}]}
      ]'::pg_catalog.jsonb)::pg_catalog.text $$, pg_temp.iso(now())),
   $$ SELECT '{"insertedNew": 1, "duplicateSameSource": 1, "crossSourceHistory": 1, "rejected": 2}'::jsonb::text $$),
  (7, 'call', format($$ SELECT public.ingest_lead('website_form'::pg_catalog.text, '{"ref": "w-1", "at": "%s",
        "contact": {"mobile": "+91 90000 11111", "name": "Web Person"}}'::pg_catalog.jsonb)::pg_catalog.text $$, pg_temp.iso(now())),
   $$ SELECT pg_temp.lead_result('inserted_new', '9000011111') $$),
  (8, 'call', $$ SELECT public.ingest_leads('website_form'::pg_catalog.text,
        '[{"ref": "w-2", "contact": {"phone": "9123456780"}}, {"ref": "w-3", "contact": {}}]'::pg_catalog.jsonb)::pg_catalog.text $$,
   $$ SELECT '{"insertedNew": 0, "duplicateSameSource": 0, "crossSourceHistory": 1, "rejected": 1}'::jsonb::text $$),
  (9, 'admin', $$ SELECT public.ensure_source('Website renamed'::pg_catalog.text, 'website_form'::pg_catalog.text,
        '{"phone": ["$.mobile"]}'::pg_catalog.jsonb)::pg_catalog.text $$,
   $$ SELECT id::text FROM public.sources WHERE source_type = 'website_form' $$),
  (10, 'admin', $$ SELECT public.ensure_source('Not Meta'::pg_catalog.text, 'meta_form'::pg_catalog.text)::pg_catalog.text $$,
   $$ SELECT id::text FROM public.sources WHERE source_type = 'meta_form' $$),
  (11, 'setup', $$ WITH u AS (UPDATE public.sources SET todays_count_date = '2000-01-01'
                               WHERE source_type = 'knowlarity_call' RETURNING 1) SELECT count(*)::text FROM u $$,
   $$ SELECT '1' $$),
  (12, 'admin', $$ SELECT public.reset_daily_counts()::pg_catalog.text $$, $$ SELECT '1' $$),
  (13, 'setup', $$ WITH u AS (UPDATE public.sources SET total_leads_count = 99
                               WHERE source_type = 'meta_form' RETURNING 1) SELECT count(*)::text FROM u $$,
   $$ SELECT '1' $$),
  (14, 'admin', $$ SELECT pg_catalog.string_agg(r::pg_catalog.text, ';' ORDER BY r.source_type) FROM public.recount_sources() AS r $$,
   $$ SELECT '(knowlarity_call,1,1,0,1);(meta_form,99,1,0,0)' $$),
  (15, 'call', $$ SELECT (public.sync_window_start('knowlarity_call'::pg_catalog.text, '10 minutes'::pg_catalog.interval,
        '24 hours'::pg_catalog.interval) OPERATOR(pg_catalog.=)
        (pg_catalog.now() OPERATOR(pg_catalog.-) '24 hours'::pg_catalog.interval))::pg_catalog.text $$,
   $$ SELECT 'true' $$),
  (16, 'call', $$ SELECT public.record_sync_success('meta_form'::pg_catalog.text, '2026-01-01 00:00+00'::pg_catalog.timestamptz,
        '2026-01-01 01:00+00'::pg_catalog.timestamptz, '{"pages": 1}'::pg_catalog.jsonb)::pg_catalog.text $$,
   $$ SELECT '2026-01-01 01:00:00+00' $$),
  (17, 'call', $$ SELECT public.record_sync_success('meta_form'::pg_catalog.text, '2026-01-01 00:50+00'::pg_catalog.timestamptz,
        '2026-01-01 02:00+00'::pg_catalog.timestamptz, '{"pages": 2}'::pg_catalog.jsonb)::pg_catalog.text $$,
   $$ SELECT '2026-01-01 02:00:00+00' $$),
  (18, 'call', $$ SELECT public.record_sync_success('meta_form'::pg_catalog.text, '2025-12-01 00:00+00'::pg_catalog.timestamptz,
        '2025-12-02 00:00+00'::pg_catalog.timestamptz, '{"pages": 3}'::pg_catalog.jsonb)::pg_catalog.text $$,
   $$ SELECT '2026-01-01 02:00:00+00' $$),
  (19, 'call', $$ SELECT public.sync_window_start('meta_form'::pg_catalog.text, '10 minutes'::pg_catalog.interval,
        '24 hours'::pg_catalog.interval)::pg_catalog.text $$,
   $$ SELECT '2026-01-01 01:50:00+00' $$),
  (20, 'call', $$ SELECT pg_catalog.concat('recorded', public.record_sync_failure('google_ads'::pg_catalog.text,
        'HTTP 500'::pg_catalog.text)) $$,
   $$ SELECT 'recorded' $$),
  (21, 'call', $$ SELECT pg_catalog.string_agg(pg_catalog.format('%s|%s|%s|%s|%s|%s', s.display_name, s.source_type,
        s.total_leads_count, s.todays_leads_count, s.synced_until, s.last_error), ';' ORDER BY s.source_type)
        FROM public.sync_status() AS s $$,
   $$ SELECT 'Google|google_ads|2|2||HTTP 500;Knowlarity|knowlarity_call|1|1||;Meta|meta_form|1|0|2026-01-01 02:00:00+00|;Website|website_form|2|2||' $$);

-- Every row of the lead tables without ids and receive times, one line each; event
-- times and count dates of today read 'today'; a raw payload is its md5, last.
CREATE FUNCTION pg_temp.day(t timestamptz) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN public.business_date(t) = public.business_today() THEN 'today' ELSE t::text END
$$;
CREATE FUNCTION pg_temp.content() RETURNS SETOF text LANGUAGE sql AS $$
  SELECT line FROM (
    SELECT format('lead|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', m.phone_number_normalized, m.full_name, s.source_type,
                  m.external_lead_id, m.status, m.assigned_to, m.total_attempts, m.is_qualified, m.next_followup_at,
                  pg_temp.day(m.platform_created_at), md5(m.raw_payload::text))
      FROM public.leads_master m JOIN public.sources s ON s.id = m.source_id
    UNION ALL
    SELECT format('history|%s|%s|%s|%s|%s|%s', m.phone_number_normalized, s.source_type, h.external_id, h.is_primary,
                  pg_temp.day(h.platform_created_at), md5(h.raw_payload::text))
      FROM public.lead_sources_history h JOIN public.leads_master m ON m.id = h.lead_id
      JOIN public.sources s ON s.id = h.source_id
    UNION ALL
    SELECT format('reject|%s|%s|%s', s.source_type, r.reason, r.payload_md5 = md5(r.raw_payload::text))
      FROM public.lead_rejects r JOIN public.sources s ON s.id = r.source_id
    UNION ALL
    SELECT format('source|%s|%s|%s|%s|%s|%s', s.source_type, s.display_name, s.total_leads_count, s.todays_leads_count,
                  CASE WHEN s.todays_count_date = public.business_today() THEN 'today' ELSE s.todays_count_date::text END,
                  s.field_map)
      FROM public.sources s
    UNION ALL
    SELECT format('sync|%s|%s|%s|%s|%s|%s', st.source_type, st.synced_until, st.last_summary, st.last_error,
                  st.last_success_at IS NOT NULL, st.last_error_at IS NOT NULL)
      FROM public.sync_state st) AS lines(line)
  ORDER BY line COLLATE "C"
$$;

CREATE TEMP TABLE got (run text, step int, result text, expected text, PRIMARY KEY (run, step));
CREATE TEMP TABLE contents (run text, line text);
CREATE TEMP TABLE leftovers (run text PRIMARY KEY, trap_rows bigint, trap text, shadow_rows bigint);

-- One run of the scenario on emptied tables, with `path` (and `role_name` for 'call' steps).
CREATE FUNCTION pg_temp.run_scenario(run_name text, path text, role_name text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  s record;
  outcome text;
  shadow text;
BEGIN
  TRUNCATE public.lead_sources_history, public.lead_rejects, public.leads_master, public.sources, public.sync_state;
  DELETE FROM evil.trap;
  FOR shadow IN SELECT name FROM pg_temp.shadow_names LOOP
    EXECUTE format('DELETE FROM pg_temp.%I', shadow);
  END LOOP;
  FOR s IN SELECT * FROM pg_temp.steps ORDER BY step LOOP
    IF s.kind = 'setup' THEN
      outcome := pg_temp.run_with(s.statement, 'public');
    ELSIF s.kind = 'admin' THEN
      outcome := pg_temp.run_with(s.statement, CASE WHEN role_name IS NULL THEN path ELSE 'public' END);
    ELSE
      outcome := pg_temp.run_with(s.statement, path, role_name);
    END IF;
    INSERT INTO pg_temp.got VALUES (run_name, s.step, outcome, NULL);
  END LOOP;
  FOR s IN SELECT * FROM pg_temp.steps LOOP
    EXECUTE s.expected INTO outcome;
    UPDATE pg_temp.got g SET expected = outcome WHERE g.run = run_name AND g.step = s.step;
  END LOOP;
  INSERT INTO pg_temp.contents SELECT run_name, c FROM pg_temp.content() AS c;
  INSERT INTO pg_temp.leftovers
    SELECT run_name, count(*), string_agg(DISTINCT what || ' as ' || by_role, ', '), pg_temp.shadow_rows() FROM evil.trap;
END
$$;

CREATE FUNCTION pg_temp.wrong_results(run_name text) RETURNS TABLE (step int, result text, expected text) LANGUAGE sql AS $$
  SELECT g.step, g.result, g.expected FROM pg_temp.got g
   WHERE g.run = run_name AND g.result IS DISTINCT FROM g.expected ORDER BY g.step
$$;

-- ---------------------------------------------------------------------------
-- 5-7. The reference run, with a clean search_path.
-- ---------------------------------------------------------------------------
SELECT FROM pg_temp.run_scenario('clean', 'public');
SELECT is_empty($$ SELECT * FROM pg_temp.wrong_results('clean') $$,
                'clean search_path: every call returns what it should');
SELECT results_eq(
  $$ SELECT l FROM (SELECT regexp_replace(line, '\|[0-9a-f]{32}$', '') FROM pg_temp.contents WHERE run = 'clean') AS c(l)
      ORDER BY l COLLATE "C" $$,
  $$ VALUES
    ('history|9000011111|website_form|w-1|t|today'),
    ('history|9123456780|google_ads|g-1|t|today'),
    ('history|9123456780|website_form|w-2|f|'),
    ('history|9876543210|google_ads|g-2|f|'),
    ('history|9876543210|knowlarity_call|k-1|f|today'),
    ('history|9876543210|meta_form|m-1|t|2026-01-15 10:30:00+00'),
    ('lead|9000011111|Web Person|website_form|w-1|New||0|f||today'),
    ('lead|9123456780|Ravi Iyer|google_ads|g-1|New||0|f||today'),
    ('lead|9876543210|Asha Rao|meta_form|m-1|New||0|f||2026-01-15 10:30:00+00'),
    ('reject|google_ads|no phone field|t'),
    ('reject|google_ads|payload is not a JSON object (got number)|t'),
    ('reject|google_ads|phone "n/a" has fewer than 10 digits|t'),
    ('reject|website_form|no phone field|t'),
    ('source|google_ads|Google|2|2|today|'),
    ('source|knowlarity_call|Knowlarity|1|1|today|'),
    ('source|meta_form|Meta|1|0|today|'),
    ('source|website_form|Website|2|2|today|{"phone": ["$.mobile"]}'),
    ('sync|google_ads|||HTTP 500|f|t'),
    ('sync|meta_form|2026-01-01 02:00:00+00|{"pages": 3}||t|f') $$,
  'clean search_path: exactly the leads, history rows, rejects, counters and sync state the calls should leave');
SELECT is((SELECT trap_rows FROM leftovers WHERE run = 'clean'), 0::bigint,
          'clean search_path: nothing planted in evil runs');

-- ---------------------------------------------------------------------------
-- 8-19. The same scenario with evil on the search_path.
-- ---------------------------------------------------------------------------
SELECT FROM pg_temp.run_scenario('evil first', 'evil, pg_catalog, public');
SELECT FROM pg_temp.run_scenario('evil after pg_catalog', 'evil, public');
SELECT FROM pg_temp.run_scenario('attacker', 'evil, pg_catalog, public', 'leadsync_test_attacker');

SELECT is_empty(format($$ SELECT * FROM pg_temp.wrong_results(%L) $$, run),
                format('%s: every call returns what it should', description))
  FROM (VALUES (1, 'evil first', 'superuser, search_path evil, pg_catalog, public'),
               (2, 'evil after pg_catalog', 'superuser, search_path evil, public'),
               (3, 'attacker', 'non-superuser owning evil, search_path evil, pg_catalog, public')) AS r(n, run, description)
 ORDER BY n;
SELECT results_eq(format($$ SELECT line FROM pg_temp.contents WHERE run = %L ORDER BY line COLLATE "C" $$, run),
                  $$ SELECT line FROM pg_temp.contents WHERE run = 'clean' ORDER BY line COLLATE "C" $$,
                  format('%s: the tables hold exactly what the clean run left', description))
  FROM (VALUES (1, 'evil first', 'superuser, search_path evil, pg_catalog, public'),
               (2, 'evil after pg_catalog', 'superuser, search_path evil, public'),
               (3, 'attacker', 'non-superuser owning evil, search_path evil, pg_catalog, public')) AS r(n, run, description)
 ORDER BY n;
SELECT is((SELECT coalesce(trap, 'nothing') FROM leftovers WHERE leftovers.run = r.run), 'nothing',
          format('%s: no planted function, aggregate, operator or type ever ran', description))
  FROM (VALUES (1, 'evil first', 'superuser, search_path evil, pg_catalog, public'),
               (2, 'evil after pg_catalog', 'superuser, search_path evil, public'),
               (3, 'attacker', 'non-superuser owning evil, search_path evil, pg_catalog, public')) AS r(n, run, description)
 ORDER BY n;
SELECT is((SELECT shadow_rows FROM leftovers WHERE leftovers.run = r.run), 0::bigint,
          format('%s: nothing went into the temp tables named like the extension''s', description))
  FROM (VALUES (1, 'evil first', 'superuser, search_path evil, pg_catalog, public'),
               (2, 'evil after pg_catalog', 'superuser, search_path evil, public'),
               (3, 'attacker', 'non-superuser owning evil, search_path evil, pg_catalog, public')) AS r(n, run, description)
 ORDER BY n;

-- 20. And the counters agree with the history rows (DESIGN.md's invariant).
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT name FROM pg_temp.shadow_names LOOP
    EXECUTE format('DROP TABLE pg_temp.%I', t);
  END LOOP;
END
$$;
SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'after the attacker''s run every source''s counters match its history rows');

SELECT * FROM finish();
ROLLBACK;
