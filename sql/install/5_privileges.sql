-- leadsync install script, part 5 of 5: who may call what.

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
