-- leadsync install script. The Makefile copies it to leadsync--<version>.sql.
-- Every name is schema-qualified and operators are written OPERATOR(pg_catalog.x),
-- so objects planted earlier on a caller's search_path cannot change what runs here.

\echo Use "CREATE EXTENSION leadsync" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Tables. Names and seed columns are fixed: existing apps read them.
-- ---------------------------------------------------------------------------

CREATE TABLE @extschema@.sources (
    id                 bigserial PRIMARY KEY,
    display_name       text NOT NULL,
    source_type        text NOT NULL UNIQUE,
    total_leads_count  bigint NOT NULL DEFAULT 0,
    todays_leads_count bigint NOT NULL DEFAULT 0,
    todays_count_date  date,
    field_map          jsonb,
    created_at         timestamptz NOT NULL DEFAULT pg_catalog.now()
) WITH (fillfactor = 10);
-- Every ingest rewrites its source's row (the counters), leaving a dead version on the
-- page each time. With fillfactor 10, PostgreSQL prunes the page once a handful of
-- versions pile up instead of about eighty, so each read of a source row (the counter
-- update, every foreign-key check) walks a short chain.
COMMENT ON TABLE @extschema@.sources IS
    'One row per lead source. display_name is the UI''s "Source", source_type its "Sub Source".';
COMMENT ON COLUMN @extschema@.sources.total_leads_count IS
    'Number of lead_sources_history rows of this source (one per lead it sent).';
COMMENT ON COLUMN @extschema@.sources.todays_leads_count IS
    'How many of those leads have their event on todays_count_date in leadsync.timezone.';
COMMENT ON COLUMN @extschema@.sources.todays_count_date IS
    'The business date todays_leads_count belongs to; a count of an earlier date reads as 0 (see source_counts).';
COMMENT ON COLUMN @extschema@.sources.field_map IS
    'For custom sources: SQL/JSON paths to phone, name, external_id and created_at. NULL for built-in sources.';

CREATE TABLE @extschema@.leads_master (
    id                      bigserial PRIMARY KEY,
    full_name               text,
    phone_number_normalized text NOT NULL UNIQUE,
    alternate_phone_number  text,
    source_id               bigint NOT NULL REFERENCES @extschema@.sources (id),
    external_lead_id        text,
    assigned_to             text,
    status                  text NOT NULL DEFAULT 'New',
    next_followup_at        timestamptz,
    total_attempts          integer NOT NULL DEFAULT 0,
    is_qualified            boolean NOT NULL DEFAULT false,
    raw_payload             jsonb,
    created_at              timestamptz NOT NULL DEFAULT pg_catalog.now(),
    platform_created_at     timestamptz
);
COMMENT ON TABLE @extschema@.leads_master IS
    'One lead per normalized phone number; source_id is the source that sent it first.';
COMMENT ON COLUMN @extschema@.leads_master.platform_created_at IS
    'The platform''s own event time (Meta created_time, Knowlarity start_time, Google submission time).';

CREATE TABLE @extschema@.lead_sources_history (
    id                  bigserial PRIMARY KEY,
    lead_id             bigint NOT NULL REFERENCES @extschema@.leads_master (id) ON DELETE CASCADE,
    source_id           bigint NOT NULL REFERENCES @extschema@.sources (id),
    external_id         text,
    raw_payload         jsonb,
    is_primary          boolean NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    platform_created_at timestamptz,
    UNIQUE (lead_id, source_id)
);
CREATE UNIQUE INDEX lead_sources_history_one_primary
    ON @extschema@.lead_sources_history (lead_id) WHERE is_primary;
CREATE INDEX lead_sources_history_source_id ON @extschema@.lead_sources_history (source_id);
COMMENT ON TABLE @extschema@.lead_sources_history IS
    'Every source that sent each lead, one row per (lead, source); the first source''s row has is_primary.';

CREATE TABLE @extschema@.lead_rejects (
    id          bigserial PRIMARY KEY,
    source_id   bigint NOT NULL REFERENCES @extschema@.sources (id),
    reason      text NOT NULL,
    raw_payload jsonb NOT NULL,
    payload_md5 text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (source_id, payload_md5)
);
COMMENT ON TABLE @extschema@.lead_rejects IS
    'Payloads that could not become a lead, with the reason; a payload sent again is not recorded twice.';

-- pg_dump keeps the rows of extension tables only when they are registered.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sources', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sources_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.leads_master', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.leads_master_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.lead_sources_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.lead_sources_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.lead_rejects', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.lead_rejects_id_seq', '');

-- ---------------------------------------------------------------------------
-- Phone normalization and the business day.
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.normalize_phone(phone text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'leadsync_normalize_phone';
COMMENT ON FUNCTION @extschema@.normalize_phone(text) IS
    'The last 10 decimal digits (ASCII or any Unicode decimal digit) of a phone number; NULL when fewer.';

CREATE FUNCTION @extschema@.business_timezone() RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'leadsync_business_timezone';
COMMENT ON FUNCTION @extschema@.business_timezone() IS
    'The time zone of the business day: the setting leadsync.timezone, or the session''s TimeZone when empty.';

CREATE FUNCTION @extschema@.business_date(instant timestamptz) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN pg_catalog.date(pg_catalog.timezone(@extschema@.business_timezone(), instant));
COMMENT ON FUNCTION @extschema@.business_date(timestamptz) IS
    'The date of an instant in the business time zone.';

CREATE FUNCTION @extschema@.business_today() RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN @extschema@.business_date(pg_catalog.now());
COMMENT ON FUNCTION @extschema@.business_today() IS
    'Today''s date in the business time zone (as of the start of the transaction).';

-- Exact counts at any instant, also right after midnight before any lead or reset.
CREATE VIEW @extschema@.source_counts AS
    SELECT s.id, s.display_name, s.source_type, s.total_leads_count,
           CASE WHEN s.todays_count_date OPERATOR(pg_catalog.=) @extschema@.business_today()
                THEN s.todays_leads_count ELSE 0 END AS todays_leads_count
      FROM @extschema@.sources AS s;
COMMENT ON VIEW @extschema@.source_counts IS
    'sources'' counters with today''s count rolled over at the business midnight as it happens.';

-- ---------------------------------------------------------------------------
-- Sources.
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.check_field_map(source_type text, field_map jsonb) RETURNS void
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'leadsync_check_field_map';
COMMENT ON FUNCTION @extschema@.check_field_map(text, jsonb) IS
    'Raises an error naming the problem when field_map is not a valid map for source_type.';

CREATE FUNCTION @extschema@.ensure_source(display_name text, source_type text, field_map jsonb DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    found_id bigint;
BEGIN
    IF display_name IS NULL OR source_type IS NULL THEN
        RAISE EXCEPTION 'leadsync.ensure_source: display_name and source_type must not be NULL';
    END IF;
    PERFORM @extschema@.check_field_map(source_type, field_map);
    IF field_map IS NULL THEN
        -- DO NOTHING locks no existing row: ingest calls this for a built-in source's
        -- first lead, and a row lock taken here, before the batch's phones, could
        -- deadlock with a concurrent batch of the same source.
        INSERT INTO @extschema@.sources AS s (display_name, source_type)
            VALUES (ensure_source.display_name, ensure_source.source_type)
            ON CONFLICT ON CONSTRAINT sources_source_type_key DO NOTHING
            RETURNING s.id INTO found_id;
    ELSE
        INSERT INTO @extschema@.sources AS s (display_name, source_type, field_map)
            VALUES (ensure_source.display_name, ensure_source.source_type, ensure_source.field_map)
            ON CONFLICT ON CONSTRAINT sources_source_type_key DO UPDATE
                SET field_map = excluded.field_map
                WHERE excluded.field_map IS DISTINCT FROM s.field_map
            RETURNING s.id INTO found_id;
    END IF;
    IF found_id IS NULL THEN
        SELECT s.id INTO found_id FROM @extschema@.sources AS s
         WHERE s.source_type OPERATOR(pg_catalog.=) ensure_source.source_type;
    END IF;
    RETURN found_id;
END
$$;
COMMENT ON FUNCTION @extschema@.ensure_source(text, text, jsonb) IS
    'The id of the source with this source_type, created if missing; never renames. A field_map registers or updates a custom source.';

-- ingest_lead and ingest_leads remember the id of each built-in source for the life of
-- the backend. Renaming, re-keying, deleting or truncating sources makes every backend
-- forget them (a relcache invalidation of the table, sent at commit). Row triggers,
-- since logical replication's apply worker fires no statement trigger but TRUNCATE's;
-- ENABLE ALWAYS, so that they fire under session_replication_role = replica too. Ingest
-- remembers nothing while either is missing or not enabled ALWAYS.
CREATE FUNCTION @extschema@.forget_remembered_sources() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'leadsync_forget_remembered_sources';
REVOKE ALL ON FUNCTION @extschema@.forget_remembered_sources() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.forget_remembered_sources() IS
    'Trigger of sources: makes every backend forget the source ids ingest remembers.';
CREATE TRIGGER sources_forget_remembered
    AFTER UPDATE OF id, source_type OR DELETE ON @extschema@.sources
    FOR EACH ROW EXECUTE FUNCTION @extschema@.forget_remembered_sources();
CREATE TRIGGER sources_forget_remembered_on_truncate
    AFTER TRUNCATE ON @extschema@.sources
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.forget_remembered_sources();
ALTER TABLE @extschema@.sources ENABLE ALWAYS TRIGGER sources_forget_remembered;
ALTER TABLE @extschema@.sources ENABLE ALWAYS TRIGGER sources_forget_remembered_on_truncate;

-- ---------------------------------------------------------------------------
-- Ingest.
-- ---------------------------------------------------------------------------

CREATE TYPE @extschema@.ingest_result AS (
    outcome text,   -- inserted_new, duplicate_same_source, cross_source_history or rejected
    lead_id bigint, -- NULL only when rejected
    reason  text    -- why it was rejected, else NULL
);

CREATE FUNCTION @extschema@.ingest_lead(source_type text, payload jsonb)
    RETURNS @extschema@.ingest_result
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'leadsync_ingest_lead';
COMMENT ON FUNCTION @extschema@.ingest_lead(text, jsonb) IS
    'Ingests one raw platform payload with the three-case dedup; atomic and idempotent.';

CREATE FUNCTION @extschema@.ingest_leads(source_type text, payloads jsonb) RETURNS jsonb
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'leadsync_ingest_leads';
COMMENT ON FUNCTION @extschema@.ingest_leads(text, jsonb) IS
    'Ingests a JSON array of raw payloads in one atomic call; returns the count of each outcome.';

-- ---------------------------------------------------------------------------
-- Counters.
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.reset_daily_counts() RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        WITH reset AS (
            UPDATE @extschema@.sources AS s
               SET todays_leads_count = 0, todays_count_date = @extschema@.business_today()
             WHERE s.todays_count_date IS DISTINCT FROM @extschema@.business_today()
            RETURNING 1)
        SELECT pg_catalog.count(*)::integer FROM reset;
    END;
COMMENT ON FUNCTION @extschema@.reset_daily_counts() IS
    'Zeroes todays_leads_count of every source whose count is not of today; returns how many it reset.';

CREATE FUNCTION @extschema@.recount_sources()
    RETURNS TABLE (source_type text, total_before bigint, total_after bigint,
                   today_before bigint, today_after bigint)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- Lock first, count after: an ingest that commits before the lock is seen by the
    -- count, one that has not yet updated its counters adds to ours after we commit.
    PERFORM FROM @extschema@.sources AS s ORDER BY s.id FOR UPDATE;
    RETURN QUERY
    WITH actual AS (
        SELECT s.id,
               pg_catalog.count(h.id) AS total,
               pg_catalog.count(h.id) FILTER (WHERE @extschema@.business_date(
                   COALESCE(h.platform_created_at, h.received_at))
                   OPERATOR(pg_catalog.=) @extschema@.business_today()) AS today
          FROM @extschema@.sources AS s
          LEFT JOIN @extschema@.lead_sources_history AS h ON h.source_id OPERATOR(pg_catalog.=) s.id
         GROUP BY s.id),
    before AS (
        SELECT s.id, s.source_type, s.total_leads_count,
               CASE WHEN s.todays_count_date OPERATOR(pg_catalog.=) @extschema@.business_today()
                    THEN s.todays_leads_count ELSE 0 END AS todays_leads_count
          FROM @extschema@.sources AS s),
    fixed AS (
        UPDATE @extschema@.sources AS s
           SET total_leads_count = a.total, todays_leads_count = a.today,
               todays_count_date = @extschema@.business_today()
          FROM actual AS a, before AS b
         WHERE s.id OPERATOR(pg_catalog.=) a.id AND b.id OPERATOR(pg_catalog.=) a.id
           AND (b.total_leads_count OPERATOR(pg_catalog.<>) a.total
                OR b.todays_leads_count OPERATOR(pg_catalog.<>) a.today)
        RETURNING s.id, a.total, a.today)
    SELECT b.source_type, b.total_leads_count, f.total, b.todays_leads_count, f.today
      FROM fixed AS f JOIN before AS b ON b.id OPERATOR(pg_catalog.=) f.id
     ORDER BY b.source_type;
END
$$;
COMMENT ON FUNCTION @extschema@.recount_sources() IS
    'Recomputes both counters of every source from lead_sources_history; returns the rows it corrected.';

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
        DELETE FROM @extschema@.sync_runs AS r
         WHERE r.finished_at OPERATOR(pg_catalog.<)
               (pg_catalog.now() OPERATOR(pg_catalog.-) @extschema@.sync_runs_retention());
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
    summary jsonb;
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

-- ---------------------------------------------------------------------------
-- Privileges: only the owner, and roles it grants, may ingest or administer.
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION @extschema@.ingest_lead(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ingest_leads(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ensure_source(text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.reset_daily_counts() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.recount_sources() FROM PUBLIC;
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
REVOKE ALL ON FUNCTION @extschema@.schedule_daily_reset() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_add(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_claim(text, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_resolve(bigint, jsonb, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_fail(bigint, text, interval, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.webhook_inbox_status() FROM PUBLIC;
