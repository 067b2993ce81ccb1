-- leadsync 0.2.0 -> 0.3.0: accounts (a window per account of a platform), the history of
-- sync runs, and the webhook inbox of leadsync-fetch serve. The same changes as
-- sql/install/.

\echo Use "ALTER EXTENSION leadsync UPDATE TO '0.3.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Accounts and sync windows. A sync is for one account of a platform (a Meta page, a
-- Google Ads customer, a Knowlarity number set): every account's leads go to the
-- platform's one sources row, but each account keeps its own window, so one account
-- failing never moves another's. The account 'default' is the one of every call that
-- names none.
-- ---------------------------------------------------------------------------

CREATE DOMAIN @extschema@.account_name AS text
    CONSTRAINT account_name_check CHECK (VALUE OPERATOR(pg_catalog.~) '^[a-z0-9_]{1,63}$');
COMMENT ON DOMAIN @extschema@.account_name IS
    'An account of a platform: lower-case letters, digits and _ (it names environment variables, upper-cased).';

-- Roles granted a function that is replaced below keep it on its replacement (the README
-- told fetcher roles to grant them): remembered here, granted again at the end.
DO $$
BEGIN
    PERFORM pg_catalog.set_config('leadsync_upgrade.grants', COALESCE((
        SELECT pg_catalog.jsonb_agg(pg_catalog.format('GRANT %s TO %s%s', t.target,
                   CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                        ELSE pg_catalog.quote_ident(r.rolname) END,
                   CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))::text
          FROM (VALUES
                  ('sync_window_start(text,interval,interval)',
                   'EXECUTE ON FUNCTION @extschema@.sync_window_start(text, interval, interval, text)'),
                  ('record_sync_success(text,timestamptz,timestamptz,jsonb)',
                   'EXECUTE ON FUNCTION @extschema@.record_sync_success(text, timestamptz, timestamptz, jsonb, text, text, timestamptz)'),
                  ('record_sync_failure(text,text)',
                   'EXECUTE ON FUNCTION @extschema@.record_sync_failure(text, text, text, text, timestamptz, timestamptz, timestamptz, jsonb)'),
                  ('sync_status()', 'EXECUTE ON FUNCTION @extschema@.sync_status()'),
                  ('sync_status()', 'SELECT ON TABLE @extschema@.sync_runs'),  -- leadsync-fetch history
                  ('configure_source(text,jsonb)', 'EXECUTE ON FUNCTION @extschema@.configure_source(text, jsonb, text)'),
                  ('sync_source(text,timestamptz,timestamptz)',
                   'EXECUTE ON FUNCTION @extschema@.sync_source(text, timestamptz, timestamptz, text)'),
                  ('sync_source(text,timestamptz,timestamptz)', 'EXECUTE ON PROCEDURE @extschema@.run_sync(text, text)'),
                  ('schedule_sync(text,text)', 'EXECUTE ON FUNCTION @extschema@.schedule_sync(text, text, text)'),
                  ('unschedule_sync(text)', 'EXECUTE ON FUNCTION @extschema@.unschedule_sync(text, text)'))
               AS t (old, target)
          JOIN pg_catalog.pg_proc AS p
            ON p.oid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure('@extschema@.' OPERATOR(pg_catalog.||) t.old)
         CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) AS a
          LEFT JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) a.grantee
         WHERE a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
           AND a.grantee OPERATOR(pg_catalog.<>) p.proowner), '[]'), true);
END
$$;

-- Every function that gains an account (or a return column) is replaced (first: the old ones
-- depend on sync_state's key); calls written for 0.2.0 still work, for the account 'default'.
DROP FUNCTION @extschema@.sync_window_start(text, interval, interval);
DROP FUNCTION @extschema@.record_sync_success(text, timestamptz, timestamptz, jsonb);
DROP FUNCTION @extschema@.record_sync_failure(text, text);
DROP FUNCTION @extschema@.sync_status();
DROP FUNCTION @extschema@.configure_source(text, jsonb);
DROP FUNCTION @extschema@.sync_source(text, timestamptz, timestamptz);
DROP FUNCTION @extschema@.schedule_sync(text, text);
DROP FUNCTION @extschema@.unschedule_sync(text);
DROP FUNCTION @extschema@.sync_job_name(text);

-- The saved windows and settings of 0.2.0 become the default account's.
ALTER TABLE @extschema@.sync_state ADD COLUMN account @extschema@.account_name NOT NULL DEFAULT 'default';
ALTER TABLE @extschema@.sync_state DROP CONSTRAINT sync_state_pkey,
    ADD CONSTRAINT sync_state_pkey PRIMARY KEY (source_type, account);
COMMENT ON TABLE @extschema@.sync_state IS
    'Per source and account: the end of the last fetch window whose every page was ingested, and the last outcome.';
ALTER TABLE @extschema@.source_settings ADD COLUMN account @extschema@.account_name NOT NULL DEFAULT 'default';
ALTER TABLE @extschema@.source_settings DROP CONSTRAINT source_settings_pkey,
    ADD CONSTRAINT source_settings_pkey PRIMARY KEY (source_type, account);
COMMENT ON TABLE @extschema@.source_settings IS
    'Settings (including API secrets) of sync_source per source and account, by leadsync-fetch''s variable names; an account''s settings override the default account''s. Readable by the extension owner and superusers only.';

CREATE FUNCTION @extschema@.sync_window_start(source_type text, overlap interval DEFAULT '10 minutes',
                                              first_lookback interval DEFAULT '24 hours',
                                              account text DEFAULT 'default')
    RETURNS timestamptz
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT COALESCE(
            (SELECT st.synced_until OPERATOR(pg_catalog.-) overlap FROM @extschema@.sync_state AS st
              WHERE st.source_type OPERATOR(pg_catalog.=) sync_window_start.source_type
                AND st.account OPERATOR(pg_catalog.=) sync_window_start.account),
            pg_catalog.now() OPERATOR(pg_catalog.-) first_lookback);
    END;
COMMENT ON FUNCTION @extschema@.sync_window_start(text, interval, interval, text) IS
    'Where the next fetch of an account starts: its saved window end minus overlap, or now minus first_lookback.';

-- ---------------------------------------------------------------------------
-- Sync runs: one row per run of every path (leadsync-fetch, sync_source, the webhook
-- resolver), failed runs included, kept for leadsync.sync_runs_retention.
-- ---------------------------------------------------------------------------

CREATE TABLE @extschema@.sync_runs (
    id                    bigserial PRIMARY KEY,
    source_type           text NOT NULL,
    account               @extschema@.account_name NOT NULL,
    path                  text NOT NULL
        CONSTRAINT sync_runs_path_check CHECK (path OPERATOR(pg_catalog.=) ANY ('{fetcher,in_database,webhook}')),
    since                 timestamptz,
    until                 timestamptz,
    started_at            timestamptz NOT NULL,
    finished_at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    pages                 integer NOT NULL DEFAULT 0,
    fetched               bigint NOT NULL DEFAULT 0,
    inserted_new          bigint NOT NULL DEFAULT 0,
    duplicate_same_source bigint NOT NULL DEFAULT 0,
    cross_source_history  bigint NOT NULL DEFAULT 0,
    rejected              bigint NOT NULL DEFAULT 0,
    error                 text
);
CREATE INDEX sync_runs_finished_at ON @extschema@.sync_runs (finished_at);
CREATE INDEX sync_runs_source_account ON @extschema@.sync_runs (source_type, account, finished_at);
COMMENT ON TABLE @extschema@.sync_runs IS
    'Every sync run: its path, window, times, pages, records fetched, the four outcome counts and its error (redacted).';
COMMENT ON COLUMN @extschema@.sync_runs.path IS
    'fetcher (leadsync-fetch), in_database (sync_source) or webhook (a Meta notification resolved by leadsync-fetch serve).';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_runs_id_seq', '');

CREATE FUNCTION @extschema@.sync_runs_retention() RETURNS interval
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'leadsync_sync_runs_retention';
COMMENT ON FUNCTION @extschema@.sync_runs_retention() IS
    'The setting leadsync.sync_runs_retention (default 90 days) as an interval.';

-- Records one run and removes the runs older than the retention. summary is a run's
-- summary line ({"pages", "fetched", "insertedNew", ...}); a missing count is 0.
CREATE FUNCTION @extschema@.record_sync_run(source_type text, account text, path text, started_at timestamptz,
                                            since timestamptz, until timestamptz, summary jsonb, error text)
    RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        -- Rows another run is removing are skipped, never waited for: pruning takes no lock
        -- a concurrent run could be waiting on (a run holds its source's row meanwhile).
        DELETE FROM @extschema@.sync_runs AS r
         WHERE r.id OPERATOR(pg_catalog.=) ANY (ARRAY(
                   SELECT o.id FROM @extschema@.sync_runs AS o
                    WHERE o.finished_at OPERATOR(pg_catalog.<)
                          (pg_catalog.now() OPERATOR(pg_catalog.-) @extschema@.sync_runs_retention())
                    ORDER BY o.finished_at
                    LIMIT 10000
                      FOR UPDATE SKIP LOCKED));
        INSERT INTO @extschema@.sync_runs (source_type, account, path, since, until, started_at, pages, fetched,
                                           inserted_new, duplicate_same_source, cross_source_history, rejected,
                                           error)
        SELECT record_sync_run.source_type, record_sync_run.account, record_sync_run.path, record_sync_run.since,
               record_sync_run.until, COALESCE(record_sync_run.started_at, pg_catalog.now()),
               COALESCE((record_sync_run.summary OPERATOR(pg_catalog.->>) 'pages')::integer, 0),
               COALESCE((record_sync_run.summary OPERATOR(pg_catalog.->>) 'fetched')::bigint, 0),
               COALESCE((record_sync_run.summary OPERATOR(pg_catalog.->>) 'insertedNew')::bigint, 0),
               COALESCE((record_sync_run.summary OPERATOR(pg_catalog.->>) 'duplicateSameSource')::bigint, 0),
               COALESCE((record_sync_run.summary OPERATOR(pg_catalog.->>) 'crossSourceHistory')::bigint, 0),
               COALESCE((record_sync_run.summary OPERATOR(pg_catalog.->>) 'rejected')::bigint, 0),
               record_sync_run.error
        RETURNING id;
    END;
COMMENT ON FUNCTION @extschema@.record_sync_run(text, text, text, timestamptz, timestamptz, timestamptz, jsonb, text) IS
    'Records one sync run in sync_runs, and removes the runs older than leadsync.sync_runs_retention.';

CREATE FUNCTION @extschema@.record_sync_success(source_type text, since timestamptz, until timestamptz,
                                                summary jsonb, account text DEFAULT 'default',
                                                path text DEFAULT 'fetcher', started_at timestamptz DEFAULT NULL)
    RETURNS timestamptz
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT @extschema@.record_sync_run(record_sync_success.source_type, record_sync_success.account,
                                           record_sync_success.path, record_sync_success.started_at,
                                           record_sync_success.since, record_sync_success.until,
                                           record_sync_success.summary, NULL);
        -- The saved point moves only forward, and only over a window that joins it:
        -- a backfill of an older range, or a run that starts after a gap, leaves it.
        INSERT INTO @extschema@.sync_state AS st (source_type, account, synced_until, last_success_at, last_summary)
            VALUES (record_sync_success.source_type, record_sync_success.account, record_sync_success.until,
                    pg_catalog.now(), record_sync_success.summary)
            ON CONFLICT ON CONSTRAINT sync_state_pkey DO UPDATE
            SET synced_until = CASE
                    WHEN st.synced_until IS NULL
                      OR (excluded.synced_until OPERATOR(pg_catalog.>) st.synced_until
                          AND record_sync_success.since OPERATOR(pg_catalog.<=) st.synced_until)
                    THEN excluded.synced_until ELSE st.synced_until END,
                last_success_at = excluded.last_success_at,
                last_summary = excluded.last_summary
            RETURNING st.synced_until;
    END;
COMMENT ON FUNCTION @extschema@.record_sync_success(text, timestamptz, timestamptz, jsonb, text, text, timestamptz) IS
    'Records a run whose every page was ingested (its window and a sync_runs row); returns the saved window end.';

CREATE FUNCTION @extschema@.record_sync_failure(source_type text, error text, account text DEFAULT 'default',
                                                path text DEFAULT 'fetcher', started_at timestamptz DEFAULT NULL,
                                                since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
                                                summary jsonb DEFAULT NULL)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT @extschema@.record_sync_run(record_sync_failure.source_type, record_sync_failure.account,
                                           record_sync_failure.path, record_sync_failure.started_at,
                                           record_sync_failure.since, record_sync_failure.until,
                                           record_sync_failure.summary, record_sync_failure.error);
        INSERT INTO @extschema@.sync_state AS st (source_type, account, last_error, last_error_at)
            VALUES (record_sync_failure.source_type, record_sync_failure.account, record_sync_failure.error,
                    pg_catalog.now())
            ON CONFLICT ON CONSTRAINT sync_state_pkey DO UPDATE
            SET last_error = excluded.last_error, last_error_at = excluded.last_error_at;
    END;
COMMENT ON FUNCTION @extschema@.record_sync_failure(text, text, text, text, timestamptz, timestamptz, timestamptz, jsonb) IS
    'Records a failed run (its error and a sync_runs row); the saved window end is left where it was.';

CREATE FUNCTION @extschema@.sync_status()
    RETURNS TABLE (display_name text, source_type text, total_leads_count bigint, todays_leads_count bigint,
                   synced_until timestamptz, last_success_at timestamptz, last_error text,
                   last_error_at timestamptz, account text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT c.display_name, COALESCE(c.source_type, st.source_type), c.total_leads_count,
               c.todays_leads_count, st.synced_until, st.last_success_at, st.last_error, st.last_error_at,
               st.account
          FROM @extschema@.source_counts AS c
          FULL JOIN @extschema@.sync_state AS st ON st.source_type OPERATOR(pg_catalog.=) c.source_type
         ORDER BY 2, 9;
    END;
COMMENT ON FUNCTION @extschema@.sync_status() IS
    'Each source''s counts with each account''s last successful sync and last error, for leadsync-fetch status.';

-- How late leads arrive: per source and hour of the business day, the history rows
-- received and the delay from each lead's platform time to its arrival.
CREATE VIEW @extschema@.lead_arrival_delays AS
    SELECT s.source_type,
           pg_catalog.date_trunc('hour', h.received_at, @extschema@.business_timezone()) AS hour,
           pg_catalog.count(*) AS leads,
           pg_catalog.percentile_cont(0.5) WITHIN GROUP (
               ORDER BY h.received_at OPERATOR(pg_catalog.-) h.platform_created_at) AS median_delay,
           pg_catalog.percentile_cont(0.95) WITHIN GROUP (
               ORDER BY h.received_at OPERATOR(pg_catalog.-) h.platform_created_at) AS p95_delay,
           pg_catalog.max(h.received_at OPERATOR(pg_catalog.-) h.platform_created_at) AS max_delay
      FROM @extschema@.lead_sources_history AS h
      JOIN @extschema@.sources AS s ON s.id OPERATOR(pg_catalog.=) h.source_id
     GROUP BY 1, 2;
COMMENT ON VIEW @extschema@.lead_arrival_delays IS
    'Per source and hour (in leadsync.timezone) leads received, and the median, p95 and max delay from platform time to arrival.';

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


-- ---------------------------------------------------------------------------
-- Webhook inbox. Meta's leadgen webhook carries only a lead's id: leadsync-fetch serve
-- commits the notification here before it answers the webhook, then resolves it (reads
-- the lead from the platform and ingests it) in the background. A row is resolved once
-- in effect: webhook_inbox_resolve ingests (idempotent) and marks it in one
-- transaction; a resolver that dies leaves it pending, claimable again when its lease
-- ends.
-- ---------------------------------------------------------------------------

CREATE TABLE @extschema@.webhook_inbox (
    id              bigserial PRIMARY KEY,
    source_type     text NOT NULL,
    external_id     text NOT NULL,
    notification    jsonb NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_error      text,
    resolved_at     timestamptz,
    UNIQUE (source_type, external_id)
);
CREATE INDEX webhook_inbox_due ON @extschema@.webhook_inbox (source_type, next_attempt_at)
    WHERE resolved_at IS NULL;
COMMENT ON TABLE @extschema@.webhook_inbox IS
    'Webhook notifications committed before they were answered, until their lead is read and ingested.';
COMMENT ON COLUMN @extschema@.webhook_inbox.next_attempt_at IS
    'When the row may be claimed: after a failure, the retry time; while claimed, the end of the lease.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhook_inbox', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhook_inbox_id_seq', '');

CREATE FUNCTION @extschema@.webhook_inbox_add(source_type text, notifications jsonb) RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        -- A notification delivered again (platforms redeliver) is already here: nothing.
        WITH added AS (
            INSERT INTO @extschema@.webhook_inbox (source_type, external_id, notification)
            SELECT webhook_inbox_add.source_type, n.value OPERATOR(pg_catalog.->>) 'external_id',
                   n.value OPERATOR(pg_catalog.->) 'notification'
              FROM pg_catalog.jsonb_array_elements(webhook_inbox_add.notifications) AS n
            ON CONFLICT (source_type, external_id) DO NOTHING
            RETURNING 1)
        SELECT pg_catalog.count(*)::integer FROM added;
    END;
COMMENT ON FUNCTION @extschema@.webhook_inbox_add(text, jsonb) IS
    'Commits notifications [{"external_id", "notification"}] to the inbox; returns how many were new.';

CREATE FUNCTION @extschema@.webhook_inbox_claim(source_type text, max_items integer, lease interval)
    RETURNS TABLE (id bigint, external_id text, notification jsonb, attempts integer)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        UPDATE @extschema@.webhook_inbox AS i
           SET attempts = i.attempts OPERATOR(pg_catalog.+) 1,
               next_attempt_at = pg_catalog.now() OPERATOR(pg_catalog.+) webhook_inbox_claim.lease
         WHERE i.id OPERATOR(pg_catalog.=) ANY (ARRAY(
                   SELECT d.id FROM @extschema@.webhook_inbox AS d
                    WHERE d.source_type OPERATOR(pg_catalog.=) webhook_inbox_claim.source_type
                      AND d.resolved_at IS NULL
                      AND d.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()
                    ORDER BY d.next_attempt_at, d.id
                    LIMIT webhook_inbox_claim.max_items
                      FOR UPDATE SKIP LOCKED))
        RETURNING i.id, i.external_id, i.notification, i.attempts;
    END;
COMMENT ON FUNCTION @extschema@.webhook_inbox_claim(text, integer, interval) IS
    'Claims up to max_items due rows of a source for lease; concurrent resolvers never claim the same row.';

CREATE FUNCTION @extschema@.webhook_inbox_resolve(id bigint, lead jsonb, account text DEFAULT 'default',
                                                  started_at timestamptz DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    item_source text;
    counts jsonb;
BEGIN
    -- The row lock makes two resolvers of one row (a lease that ran out) take turns: the
    -- second finds it resolved and ingests nothing.
    SELECT i.source_type INTO item_source FROM @extschema@.webhook_inbox AS i
     WHERE i.id = webhook_inbox_resolve.id AND i.resolved_at IS NULL
       FOR UPDATE;
    IF FOUND THEN
        counts := @extschema@.ingest_leads(item_source, jsonb_build_array(webhook_inbox_resolve.lead));
        UPDATE @extschema@.webhook_inbox AS i SET resolved_at = now(), last_error = NULL
         WHERE i.id = webhook_inbox_resolve.id;
    ELSE
        SELECT i.source_type INTO item_source FROM @extschema@.webhook_inbox AS i
         WHERE i.id = webhook_inbox_resolve.id;
    END IF;
    -- One run per lead read: the read of a row resolved meanwhile is a run with no counts.
    PERFORM @extschema@.record_sync_run(COALESCE(item_source, 'meta_form'), webhook_inbox_resolve.account,
                                        'webhook', webhook_inbox_resolve.started_at, NULL, NULL,
                                        COALESCE(counts, '{}') || '{"pages": 1, "fetched": 1}', NULL);
    RETURN counts;
END;
$$;
COMMENT ON FUNCTION @extschema@.webhook_inbox_resolve(bigint, jsonb, text, timestamptz) IS
    'Ingests the lead of an inbox row and marks it resolved, atomically, recording the run; NULL when it was already resolved.';

CREATE FUNCTION @extschema@.webhook_inbox_fail(id bigint, error text, retry_in interval,
                                               account text DEFAULT 'default', started_at timestamptz DEFAULT NULL)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        UPDATE @extschema@.webhook_inbox AS i
           SET last_error = webhook_inbox_fail.error,
               next_attempt_at = pg_catalog.now() OPERATOR(pg_catalog.+) webhook_inbox_fail.retry_in
         WHERE i.id OPERATOR(pg_catalog.=) webhook_inbox_fail.id AND i.resolved_at IS NULL;
        SELECT @extschema@.record_sync_run(
                   COALESCE((SELECT i.source_type FROM @extschema@.webhook_inbox AS i
                              WHERE i.id OPERATOR(pg_catalog.=) webhook_inbox_fail.id), 'meta_form'),
                   webhook_inbox_fail.account, 'webhook', webhook_inbox_fail.started_at, NULL, NULL, NULL,
                   webhook_inbox_fail.error);
    END;
COMMENT ON FUNCTION @extschema@.webhook_inbox_fail(bigint, text, interval, text, timestamptz) IS
    'Records why an inbox row could not be resolved (a failed run) and when to try it again.';

CREATE FUNCTION @extschema@.webhook_inbox_status()
    RETURNS TABLE (source_type text, pending bigint, failing bigint, oldest_pending_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT i.source_type, pg_catalog.count(*), pg_catalog.count(i.last_error), pg_catalog.min(i.received_at)
          FROM @extschema@.webhook_inbox AS i
         WHERE i.resolved_at IS NULL
         GROUP BY i.source_type
         ORDER BY 1;
    END;
COMMENT ON FUNCTION @extschema@.webhook_inbox_status() IS
    'Per source: inbox rows not yet resolved, how many of them have failed, and the oldest one''s arrival.';

REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_add(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_claim(text, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_resolve(bigint, jsonb, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_fail(bigint, text, interval, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.sync_window_start(text, interval, interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.record_sync_run(text, text, text, timestamptz, timestamptz, timestamptz, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.record_sync_success(text, timestamptz, timestamptz, jsonb, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.record_sync_failure(text, text, text, text, timestamptz, timestamptz, timestamptz, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.sync_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.configure_source(text, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.sync_source(text, timestamptz, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE @extschema@.run_sync(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.schedule_sync(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.unschedule_sync(text, text) FROM PUBLIC;

-- The grants remembered before the old functions were dropped, on their replacements.
DO $$
DECLARE
    statement text;
BEGIN
    FOR statement IN SELECT g FROM pg_catalog.jsonb_array_elements_text(
                         pg_catalog.current_setting('leadsync_upgrade.grants')::pg_catalog.jsonb) AS g LOOP
        EXECUTE statement;
    END LOOP;
END
$$;
