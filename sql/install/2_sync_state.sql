-- leadsync install script, part 2 of 5 (sql/install/, joined in order by the Makefile):
-- accounts, saved windows, the history of sync runs and how late leads arrive.

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

CREATE TABLE @extschema@.sync_state (
    source_type     text NOT NULL,
    synced_until    timestamptz,
    last_success_at timestamptz,
    last_summary    jsonb,
    last_error      text,
    last_error_at   timestamptz,
    account         @extschema@.account_name NOT NULL DEFAULT 'default',
    CONSTRAINT sync_state_pkey PRIMARY KEY (source_type, account)
);
COMMENT ON TABLE @extschema@.sync_state IS
    'Per source and account: the end of the last fetch window whose every page was ingested, and the last outcome.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_state', '');

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
