-- leadsync install script, part 1 of 5: the lead tables, normalization, sources, ingest
-- and counters. The Makefile joins sql/install/*.sql, in order, into leadsync--<version>.sql.
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
