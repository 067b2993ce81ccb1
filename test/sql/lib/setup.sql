-- Included by every pgTAP file: quiet psql, one transaction, and helpers that build
-- platform payloads and check DESIGN.md's counter invariant. Each test rolls back.
\set ECHO none
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
\set ON_ERROR_STOP true
SET client_min_messages = warning;
BEGIN;

-- Payloads in each platform's own shape.
CREATE FUNCTION pg_temp.meta_lead(phone text, id text, created timestamptz DEFAULT now(),
                                  full_name text DEFAULT 'Meta Person') RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'id', id,
    'created_time', to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+0000"'),
    'field_data', jsonb_build_array(
        jsonb_build_object('name', 'full_name', 'values', jsonb_build_array(full_name)),
        jsonb_build_object('name', 'phone_number', 'values', jsonb_build_array(phone))))
$$;

CREATE FUNCTION pg_temp.knowlarity_call(phone text, uuid text, started timestamptz DEFAULT now())
RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'uuid', uuid, 'customer_number', phone, 'knowlarity_number', '+919873762618',
    'start_time', to_char(started AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI:SS"+05:30"'))
$$;

CREATE FUNCTION pg_temp.google_lead(phone text, lead_id text, submitted timestamptz DEFAULT now())
RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'lead_id', lead_id,
    'lead_submit_time', to_char(submitted AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'user_column_data', jsonb_build_array(
        jsonb_build_object('column_id', 'FULL_NAME', 'string_value', 'Google Person'),
        jsonb_build_object('column_id', 'PHONE_NUMBER', 'string_value', phone)))
$$;

-- A custom source whose payloads look like {"contact": {"mobile": ...}, "ref": ..., "at": ...}.
CREATE FUNCTION pg_temp.register_crm() RETURNS bigint LANGUAGE sql AS $$
  SELECT ensure_source('Website', 'website_form',
    '{"phone": ["$.contact.mobile", "$.contact.phone"], "name": ["$.contact.name"],
      "external_id": ["$.ref"], "created_at": ["$.at"]}')
$$;

CREATE FUNCTION pg_temp.crm_lead(phone text, ref text, at timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('ref', ref, 'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                            'contact', jsonb_build_object('mobile', phone, 'name', 'Web Person'))
$$;

-- Sources whose counters disagree with lead_sources_history (DESIGN.md's invariant,
-- and today's count by the business date of each row's event time).
CREATE FUNCTION pg_temp.counter_mismatches()
RETURNS TABLE (source_type text, total bigint, history_rows bigint, today bigint, history_today bigint)
LANGUAGE sql AS $$
  SELECT c.source_type, c.total_leads_count, h.total, c.todays_leads_count, h.today
    FROM source_counts c
    CROSS JOIN LATERAL (
      SELECT count(*) AS total,
             count(*) FILTER (WHERE business_date(coalesce(x.platform_created_at, x.received_at))
                                    = business_today()) AS today
        FROM lead_sources_history x WHERE x.source_id = c.id) h
   WHERE c.total_leads_count <> h.total OR c.todays_leads_count <> h.today
$$;

CREATE FUNCTION pg_temp.source_id(source_type text) RETURNS bigint LANGUAGE sql AS $$
  SELECT id FROM sources s WHERE s.source_type = $1
$$;

CREATE FUNCTION pg_temp.total(source_type text) RETURNS bigint LANGUAGE sql AS $$
  SELECT total_leads_count FROM sources s WHERE s.source_type = $1
$$;
