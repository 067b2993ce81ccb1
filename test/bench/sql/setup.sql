-- The benchmark's own objects: a timer, payload generators, the data sets and a reset.
-- Loaded by run.sh into the throwaway database, after CREATE EXTENSION leadsync (public)
-- and before baselines/*.sql. Nothing here is timed.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE SCHEMA leadsync_bench;
CREATE SCHEMA leadsync_baseline;   -- every BASELINE lives here (baselines/*.sql)

-- Milliseconds one statement takes in this session, measured inside the server, so a
-- leadsync call and its baseline are timed the same way (client and network excluded).
CREATE FUNCTION leadsync_bench.time_ms(statement text) RETURNS float8
    LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    EXECUTE statement;
    RETURN 1000 * extract(epoch FROM clock_timestamp() - started);
END
$$;

-- Phone spellings the platforms send (as the fake server does): +91..., "+91 98450 12345",
-- plain 10 digits, 0-prefixed, 91-prefixed, dashed.
CREATE FUNCTION leadsync_bench.spell_phone(phone bigint, style int) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN CASE style % 6
        WHEN 0 THEN '+91' || phone
        WHEN 1 THEN '+91 ' || substr(phone::text, 1, 5) || ' ' || substr(phone::text, 6)
        WHEN 2 THEN phone::text
        WHEN 3 THEN '0' || phone
        WHEN 4 THEN '91' || phone
        ELSE '+91-' || substr(phone::text, 1, 5) || '-' || substr(phone::text, 6)
    END;

-- One payload of each platform, shaped like the fake server's (test/fake_platforms).
CREATE FUNCTION leadsync_bench.meta_lead(phone bigint, id bigint, created timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE
    RETURN jsonb_build_object(
        'id', (9200000000000001 + 2 * id)::text,
        'created_time', to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+0000"'),
        'ad_id', '120240681241586835', 'form_id', '9129141777631707', 'campaign_id', '120269074391500081',
        'is_organic', false, 'platform', 'fb',
        'field_data', jsonb_build_array(
            jsonb_build_object('name', 'full_name', 'values', jsonb_build_array('Person ' || id)),
            jsonb_build_object('name', 'phone_number', 'values',
                               jsonb_build_array(leadsync_bench.spell_phone(phone, (id % 6)::int))),
            jsonb_build_object('name', 'email', 'values', jsonb_build_array('person' || id || '@example.com')),
            jsonb_build_object('name', 'preferred_loan_amount', 'values', jsonb_build_array('25_to_50_lakh'))));

CREATE FUNCTION leadsync_bench.knowlarity_call(phone bigint, id bigint, started timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE
    RETURN jsonb_build_object(
        'uuid', md5(id::text)::uuid::text,
        'customer_number', '+91' || phone, 'caller_id', '+91' || phone,
        'knowlarity_number', '+919873762618', 'agent_number', 'Call Missed', 'destination', '',
        'business_call_type', 'Missed Call',
        'start_time', to_char(started AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI:SS"+05:30"'),
        'call_duration', 0, 'call_recording', '', 'extension', '');

CREATE FUNCTION leadsync_bench.google_lead(phone bigint, id bigint, submitted timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE
    RETURN jsonb_build_object(
        'resourceName', 'customers/1234567890/leadFormSubmissionData/' || id,
        'id', (1555000000000 + id)::text,
        'submissionDateTime', to_char(submitted AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS"+00:00"'),
        'leadFormSubmissionFields', jsonb_build_array(
            jsonb_build_object('fieldType', 'FULL_NAME', 'fieldValue', 'Google Person ' || id),
            jsonb_build_object('fieldType', 'PHONE_NUMBER', 'fieldValue',
                               leadsync_bench.spell_phone(phone, (3 + id % 3)::int))));

CREATE FUNCTION leadsync_bench.payload(source_type text, phone bigint, id bigint, at timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE
    RETURN CASE source_type
        WHEN 'meta_form' THEN leadsync_bench.meta_lead(phone, id, at)
        WHEN 'knowlarity_call' THEN leadsync_bench.knowlarity_call(phone, id, at)
        ELSE leadsync_bench.google_lead(phone, id, at) END;

-- Data sets, filled by run.sh at the sizes of the mode.
CREATE TABLE leadsync_bench.phones (p text NOT NULL);
CREATE TABLE leadsync_bench.batches (name text PRIMARY KEY, source_type text NOT NULL, payloads jsonb NOT NULL);
CREATE TABLE leadsync_bench.writer_batches (
    writer int, seq int, source_type text NOT NULL, payloads jsonb NOT NULL, PRIMARY KEY (writer, seq));
CREATE TABLE leadsync_bench.extracted_meta (
    phone text, full_name text, external_id text, payload jsonb, created_at timestamptz);
-- The lead numbers of baselines/webhook_ingest_lead.pgbench.
CREATE SEQUENCE leadsync_bench.webhook_lead_seq;
-- Leads already in the database before a run: another phone range than any benchmark's.
CREATE TABLE leadsync_bench.seed_leads (LIKE public.leads_master);
CREATE TABLE leadsync_bench.seed_history (LIKE public.lead_sources_history);

-- n Meta leads with phones first_phone, first_phone + step, ...; event times spread over
-- the last 48 hours, so about half are "today's".
CREATE FUNCTION leadsync_bench.meta_batch(first_phone bigint, n int, step int DEFAULT 1) RETURNS jsonb
    LANGUAGE sql STABLE
    RETURN (SELECT jsonb_agg(leadsync_bench.meta_lead(first_phone + i * step, first_phone + i,
                                                      now() - (i % 172800) * interval '1 second') ORDER BY i)
              FROM generate_series(0, n - 1) AS i);

-- The smallest Meta lead leadsync accepts with a name and an id (~190 bytes as jsonb), for
-- the scaling benchmark: a jsonb value is limited to 256 MB, so 1M leads of the realistic
-- shape above (~490 bytes each) cannot be one ingest_leads argument; 1M of these can.
CREATE FUNCTION leadsync_bench.meta_compact_batch(first_phone bigint, n int) RETURNS jsonb
    LANGUAGE sql STABLE
    RETURN (SELECT jsonb_agg(jsonb_build_object(
                       'id', (9300000000000001 + 2 * i)::text,
                       'created_time', to_char((now() - (i % 172800) * interval '1 second') AT TIME ZONE 'UTC',
                                               'YYYY-MM-DD"T"HH24:MI:SS"+0000"'),
                       'field_data', jsonb_build_array(
                           jsonb_build_object('name', 'full_name', 'values', jsonb_build_array('P' || i)),
                           jsonb_build_object('name', 'phone_number', 'values',
                                              jsonb_build_array('+91' || (first_phone + i))))) ORDER BY i)
              FROM generate_series(0, n - 1) AS i);

-- Built-in sources exist before any run, so their ids are fixed for pgbench.
SELECT public.ensure_source('Meta', 'meta_form'), public.ensure_source('Knowlarity', 'knowlarity_call'),
       public.ensure_source('Google', 'google_ads');

-- Back to the state every run starts from: no lead, no count, then the seed leads (if
-- any) with their primary history rows and counts, and fresh planner statistics.
CREATE PROCEDURE leadsync_bench.reset(seeded boolean)
    LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE public.lead_sources_history, public.lead_rejects, public.leads_master, public.webhook_inbox,
             leadsync_baseline.bare_leads;
    UPDATE public.sources SET total_leads_count = 0, todays_leads_count = 0, todays_count_date = NULL;
    IF seeded THEN
        INSERT INTO public.leads_master SELECT * FROM leadsync_bench.seed_leads;
        INSERT INTO public.lead_sources_history SELECT * FROM leadsync_bench.seed_history;
        UPDATE public.sources AS s
           SET total_leads_count = c.total, todays_leads_count = c.today, todays_count_date = public.business_today()
          FROM (SELECT h.source_id, count(*) AS total,
                       count(*) FILTER (WHERE public.business_date(coalesce(h.platform_created_at, h.received_at))
                                              = public.business_today()) AS today
                  FROM public.lead_sources_history AS h GROUP BY h.source_id) AS c
         WHERE s.id = c.source_id;
    END IF;
    COMMIT;
    ANALYZE public.leads_master, public.lead_sources_history, public.lead_rejects, public.sources,
            leadsync_baseline.bare_leads;
    CHECKPOINT;
END
$$;

-- DESIGN.md's invariant, and one lead per phone: the rows that break them (none expected).
CREATE FUNCTION leadsync_bench.invariant_violations() RETURNS bigint
    LANGUAGE sql STABLE
    RETURN (SELECT count(*) FROM public.sources AS s
             WHERE s.total_leads_count <> (SELECT count(*) FROM public.lead_sources_history AS h
                                            WHERE h.source_id = s.id))
         + (SELECT count(*) FROM public.leads_master AS l
             WHERE NOT EXISTS (SELECT FROM public.lead_sources_history AS h
                                WHERE h.lead_id = l.id AND h.is_primary));
