-- leadsync install script, part 4 of 5: the webhook inbox of leadsync-fetch serve.

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
