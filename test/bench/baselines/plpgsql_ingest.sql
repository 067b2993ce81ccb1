-- BASELINE (not leadsync): the three-case ingest of ONE payload, written in PL/pgSQL
-- the way a careful author would, without the C extension. It writes the extension's own
-- tables (public.sources, leads_master, lead_sources_history, lead_rejects) with the same
-- guarantees:
--   * one lead per normalized phone: the UNIQUE index and INSERT ... ON CONFLICT DO NOTHING;
--     when a concurrent session inserted the phone first, the next statement (a fresh
--     READ COMMITTED snapshot) finds its lead;
--   * one history row per (lead, source): INSERT ... ON CONFLICT (lead_id, source_id) DO
--     NOTHING, is_primary only for the session that created the lead;
--   * counters: one UPDATE of the source row, only when a history row was written, with
--     the same midnight rollover as the extension; the row lock is taken last, so no
--     deadlock between single-lead transactions;
--   * rejects recorded once per distinct payload.
-- Extraction follows README's table for the three built-in sources (Meta field_data,
-- Knowlarity customer_number/caller_id, Google API rows and webhooks); normalization is
-- plain SQL (leadsync_baseline.normalize_phone_sql, baselines/normalize_sql.sql).
-- Not covered (the benchmark never sends them): custom field_map sources, and event times
-- in a form the regular expressions below do not accept are stored as NULL rather than
-- parsed (a careful author avoids an EXCEPTION block: it costs a subtransaction per lead).

CREATE FUNCTION leadsync_baseline.event_time(raw text) RETURNS timestamptz
    LANGUAGE sql STABLE
    RETURN CASE
        WHEN raw ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$'
            THEN raw::timestamptz   -- no offset: read in the session's TimeZone
        WHEN raw ~ '^\d{9,10}$' THEN to_timestamp(raw::bigint)
        WHEN raw ~ '^\d{12,13}$' THEN to_timestamp(raw::bigint / 1000.0)
    END;

CREATE FUNCTION leadsync_baseline.ingest_lead(source_type text, payload jsonb,
                                              OUT outcome text, OUT lead_id bigint, OUT reason text)
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    v_source_id  bigint;
    v_phones     text[];
    v_phone      text;
    v_name       text;
    v_external   text;
    v_created    timestamptz;
    v_new        boolean;
    v_received   timestamptz;
    v_sub        jsonb;
    v_today      date;
BEGIN
    SELECT s.id INTO v_source_id FROM public.sources AS s WHERE s.source_type = ingest_lead.source_type;
    IF v_source_id IS NULL THEN
        v_source_id := public.ensure_source(CASE ingest_lead.source_type WHEN 'meta_form' THEN 'Meta'
            WHEN 'knowlarity_call' THEN 'Knowlarity' WHEN 'google_ads' THEN 'Google' END, ingest_lead.source_type);
    END IF;

    -- Extraction: candidate phones in order of preference, the name, the id, the time.
    IF jsonb_typeof(payload) IS DISTINCT FROM 'object' THEN
        reason := format('payload is not a JSON object (got %s)', jsonb_typeof(payload));
    ELSIF ingest_lead.source_type = 'meta_form' THEN
        SELECT array_agg(v.value ORDER BY array_position(ARRAY['phone_number', 'phone', 'mobile_phone', 'mobile',
                                                                'phone_number_with_country_code'], lower(f->>'name')), v.n),
               coalesce(max(f->'values'->>0) FILTER (WHERE lower(f->>'name') = 'full_name'),
                        max(f->'values'->>0) FILTER (WHERE lower(f->>'name') = 'name'),
                        nullif(concat_ws(' ', max(f->'values'->>0) FILTER (WHERE lower(f->>'name') = 'first_name'),
                                              max(f->'values'->>0) FILTER (WHERE lower(f->>'name') = 'last_name')), ''))
          INTO v_phones, v_name
          FROM jsonb_array_elements(CASE jsonb_typeof(payload->'field_data') WHEN 'array'
                                         THEN payload->'field_data' ELSE '[]' END) AS f
          LEFT JOIN LATERAL jsonb_array_elements_text(
                    CASE WHEN lower(f->>'name') IN ('phone_number', 'phone', 'mobile_phone', 'mobile',
                                                    'phone_number_with_country_code')
                          AND jsonb_typeof(f->'values') = 'array' THEN f->'values' ELSE '[]' END)
                    WITH ORDINALITY AS v(value, n) ON true;
        v_phones := array_remove(v_phones, NULL);
        v_external := payload->>'id';
        v_created := leadsync_baseline.event_time(payload->>'created_time');
    ELSIF ingest_lead.source_type = 'knowlarity_call' THEN
        v_phones := array_remove(ARRAY[payload->>'customer_number', payload->>'caller_id'], NULL);
        v_external := coalesce(payload->>'uuid', payload->>'id');
        v_created := leadsync_baseline.event_time(payload->>'start_time');
    ELSIF ingest_lead.source_type = 'google_ads' THEN
        v_sub := coalesce(payload->'leadFormSubmissionData', payload->'lead_form_submission_data', payload);
        IF v_sub ? 'leadFormSubmissionFields' OR v_sub ? 'lead_form_submission_fields' THEN
            SELECT array_agg(coalesce(f->>'fieldValue', f->>'field_value'))
                       FILTER (WHERE coalesce(f->>'fieldType', f->>'field_type') = 'PHONE_NUMBER'),
                   coalesce(max(coalesce(f->>'fieldValue', f->>'field_value'))
                                FILTER (WHERE coalesce(f->>'fieldType', f->>'field_type') = 'FULL_NAME'),
                            nullif(concat_ws(' ',
                                max(coalesce(f->>'fieldValue', f->>'field_value'))
                                    FILTER (WHERE coalesce(f->>'fieldType', f->>'field_type') = 'FIRST_NAME'),
                                max(coalesce(f->>'fieldValue', f->>'field_value'))
                                    FILTER (WHERE coalesce(f->>'fieldType', f->>'field_type') = 'LAST_NAME')), ''))
              INTO v_phones, v_name
              FROM jsonb_array_elements(coalesce(v_sub->'leadFormSubmissionFields', v_sub->'lead_form_submission_fields')) AS f;
            v_external := coalesce(v_sub->>'id', v_sub->>'resourceName', v_sub->>'resource_name');
            v_created := leadsync_baseline.event_time(coalesce(v_sub->>'submissionDateTime', v_sub->>'submission_date_time'));
        ELSE
            SELECT array_agg(f->>'string_value') FILTER (WHERE f->>'column_id' = 'PHONE_NUMBER'),
                   coalesce(max(f->>'string_value') FILTER (WHERE f->>'column_id' = 'FULL_NAME'),
                            nullif(concat_ws(' ', max(f->>'string_value') FILTER (WHERE f->>'column_id' = 'FIRST_NAME'),
                                                  max(f->>'string_value') FILTER (WHERE f->>'column_id' = 'LAST_NAME')), ''))
              INTO v_phones, v_name
              FROM jsonb_array_elements(CASE jsonb_typeof(v_sub->'user_column_data') WHEN 'array'
                                             THEN v_sub->'user_column_data' ELSE '[]' END) AS f;
            v_external := v_sub->>'lead_id';
            v_created := leadsync_baseline.event_time(v_sub->>'lead_submit_time');
        END IF;
    ELSE
        RAISE EXCEPTION 'leadsync_baseline.ingest_lead: unknown source_type "%"', ingest_lead.source_type;
    END IF;

    IF reason IS NULL THEN
        IF coalesce(cardinality(v_phones), 0) = 0 THEN
            reason := 'no phone field';
        ELSE
            SELECT n INTO v_phone FROM unnest(v_phones) AS p, leadsync_baseline.normalize_phone_sql(p) AS n
             WHERE n IS NOT NULL LIMIT 1;
            IF v_phone IS NULL THEN
                reason := format('phone "%s" has fewer than 10 digits', left(v_phones[1], 40));
            END IF;
        END IF;
    END IF;
    IF reason IS NOT NULL THEN
        INSERT INTO public.lead_rejects (source_id, reason, raw_payload, payload_md5)
            VALUES (v_source_id, reason, payload, md5(payload::text))
            ON CONFLICT ON CONSTRAINT lead_rejects_source_id_payload_md5_key DO NOTHING;
        outcome := 'rejected';
        RETURN;
    END IF;

    -- Case A: a new phone becomes a lead.
    INSERT INTO public.leads_master AS l
            (phone_number_normalized, full_name, external_lead_id, raw_payload, platform_created_at, source_id)
        VALUES (v_phone, nullif(btrim(v_name), ''), v_external, payload, v_created, v_source_id)
        ON CONFLICT ON CONSTRAINT leads_master_phone_number_normalized_key DO NOTHING
        RETURNING l.id INTO lead_id;
    v_new := lead_id IS NOT NULL;
    IF NOT v_new THEN
        SELECT l.id INTO lead_id FROM public.leads_master AS l WHERE l.phone_number_normalized = v_phone;
    END IF;

    -- Cases B and C: this source's history row, unless it already has one.
    INSERT INTO public.lead_sources_history AS h
            (lead_id, source_id, external_id, raw_payload, is_primary, platform_created_at)
        VALUES (lead_id, v_source_id, v_external, payload, v_new, v_created)
        ON CONFLICT ON CONSTRAINT lead_sources_history_lead_id_source_id_key DO NOTHING
        RETURNING h.received_at INTO v_received;
    IF v_received IS NULL THEN
        outcome := 'duplicate_same_source';
        RETURN;
    END IF;
    outcome := CASE WHEN v_new THEN 'inserted_new' ELSE 'cross_source_history' END;

    -- The source's counters, with the extension's midnight rollover.
    v_today := public.business_today();
    UPDATE public.sources AS s
       SET total_leads_count = s.total_leads_count + 1,
           todays_leads_count = CASE WHEN s.todays_count_date = v_today THEN s.todays_leads_count ELSE 0 END
                                + CASE WHEN public.business_date(coalesce(v_created, v_received)) = v_today
                                       THEN 1 ELSE 0 END,
           todays_count_date = v_today
     WHERE s.id = v_source_id;
END
$$;
