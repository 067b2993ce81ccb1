-- leadsync install script, part 3 of 5: syncs inside PostgreSQL, scheduled with pg_cron.

-- ---------------------------------------------------------------------------
-- Syncs inside PostgreSQL: the same platform adapters as leadsync-fetch, with the
-- same setting names, run by sync_source and scheduled with pg_cron.
-- ---------------------------------------------------------------------------

CREATE TABLE @extschema@.source_settings (
    source_type text NOT NULL,
    settings    jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    account     @extschema@.account_name NOT NULL DEFAULT 'default',
    CONSTRAINT source_settings_pkey PRIMARY KEY (source_type, account)
);
COMMENT ON TABLE @extschema@.source_settings IS
    'Settings (including API secrets) of sync_source per source and account, by leadsync-fetch''s variable names; an account''s settings override the default account''s. Readable by the extension owner and superusers only.';
-- Row level security with no policy: a role granted SELECT (for example by GRANT SELECT
-- ON ALL TABLES IN SCHEMA ...) still sees no row. The owner and superusers bypass it.
ALTER TABLE @extschema@.source_settings ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.source_settings', '');

CREATE FUNCTION @extschema@.configure_source(source_type text, settings jsonb, account text DEFAULT 'default')
    RETURNS void
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- An error raised inside must not log the call, whose text holds the secrets.
    SET log_min_error_statement = panic
    AS 'MODULE_PATHNAME', 'leadsync_configure_source';
COMMENT ON FUNCTION @extschema@.configure_source(text, jsonb, text) IS
    'Stores settings of sync_source for a source''s account (merged; a null value removes one; NULL removes all).';

CREATE FUNCTION @extschema@.sync_source(source_type text, since timestamptz DEFAULT NULL,
                                        until timestamptz DEFAULT NULL, account text DEFAULT 'default')
    RETURNS jsonb
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'leadsync_sync_source';
COMMENT ON FUNCTION @extschema@.sync_source(text, timestamptz, timestamptz, text) IS
    'Fetches one window of a platform account in this backend, ingests it and records the run; returns leadsync-fetch''s summary (with "error" when the platform failed).';

-- What a scheduled job runs: sync_source, its record committed, then an error when the
-- platform failed, so cron.job_run_details shows the run as failed with the reason.
-- A procedure with no SET and SECURITY INVOKER, as transaction control requires.
CREATE PROCEDURE @extschema@.run_sync(source_type text, account text DEFAULT 'default')
    LANGUAGE plpgsql
    AS $$
DECLARE
    summary pg_catalog.jsonb;
BEGIN
    summary := @extschema@.sync_source(run_sync.source_type, NULL, NULL, run_sync.account);
    COMMIT;
    IF summary OPERATOR(pg_catalog.?) 'error' THEN
        RAISE EXCEPTION 'leadsync: sync of % (account %) failed: %', run_sync.source_type, run_sync.account,
                        summary OPERATOR(pg_catalog.->>) 'error'
            USING ERRCODE = 'external_routine_exception';
    END IF;
END
$$;
COMMENT ON PROCEDURE @extschema@.run_sync(text, text) IS
    'sync_source for a scheduled job: commits the run and its record, then raises when the platform failed.';

-- pg_cron's functions, or an error that says how to get them.
CREATE FUNCTION @extschema@.require_pg_cron() RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF pg_catalog.to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
        RAISE EXCEPTION 'leadsync: pg_cron is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Add pg_cron to shared_preload_libraries and set cron.database_name to this '
                         'database in postgresql.conf, restart PostgreSQL, then CREATE EXTENSION pg_cron.';
    END IF;
END
$$;

CREATE FUNCTION @extschema@.sync_job_name(source_type text, account text DEFAULT 'default') RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN 'leadsync-sync-' OPERATOR(pg_catalog.||) source_type OPERATOR(pg_catalog.||)
           CASE WHEN account OPERATOR(pg_catalog.=) 'default' THEN ''
                ELSE '-' OPERATOR(pg_catalog.||) account END;

CREATE FUNCTION @extschema@.schedule_sync(source_type text, schedule text DEFAULT '*/15 * * * *',
                                          account text DEFAULT 'default')
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM @extschema@.require_pg_cron();
    IF source_type NOT IN ('meta_form', 'knowlarity_call', 'google_ads') THEN
        RAISE EXCEPTION 'leadsync: schedule_sync cannot fetch "%"', source_type
            USING HINT = 'It fetches meta_form, knowlarity_call and google_ads.';
    END IF;
    IF account IS NULL THEN
        RAISE EXCEPTION 'leadsync: schedule_sync: account must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM account::@extschema@.account_name;  -- a bad name fails here, not in every run
    -- pg_cron runs the job as the role calling this, in this database.
    RETURN cron.schedule(@extschema@.sync_job_name(source_type, account), schedule,
                         pg_catalog.format('CALL %s.run_sync(%L, %L)',
                                           pg_catalog.quote_ident('@extschema@'), source_type, account));
END
$$;
COMMENT ON FUNCTION @extschema@.schedule_sync(text, text, text) IS
    'Schedules run_sync(source_type, account) with pg_cron under a stable job name; returns the job id.';

CREATE FUNCTION @extschema@.unschedule_sync(source_type text, account text DEFAULT 'default') RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM @extschema@.require_pg_cron();
    RETURN cron.unschedule(@extschema@.sync_job_name(source_type, account));
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule_sync(text, text) IS 'Removes the pg_cron job of schedule_sync.';

CREATE FUNCTION @extschema@.schedule_daily_reset() RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- pg_cron 1.4 reads schedules in GMT: the next business midnight, in UTC.
    next_midnight timestamptz := ((@extschema@.business_today() OPERATOR(pg_catalog.+) 1)::timestamp)
                                 AT TIME ZONE @extschema@.business_timezone();
    utc timestamp := next_midnight AT TIME ZONE 'UTC';
BEGIN
    PERFORM @extschema@.require_pg_cron();
    RETURN cron.schedule('leadsync-daily-reset',
                         pg_catalog.format('%s %s * * *', pg_catalog.date_part('minute', utc),
                                           pg_catalog.date_part('hour', utc)),
                         pg_catalog.format('SELECT %s.reset_daily_counts()', pg_catalog.quote_ident('@extschema@')));
END
$$;
COMMENT ON FUNCTION @extschema@.schedule_daily_reset() IS
    'Schedules reset_daily_counts() at midnight of leadsync.timezone (as a fixed UTC time: see the README on daylight saving).';
