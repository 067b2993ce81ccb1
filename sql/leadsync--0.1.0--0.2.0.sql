-- leadsync 0.1.0 -> 0.2.0: a one-lead ingest no longer reads its source's row on every
-- call, and that row's page is pruned sooner. The same changes as sql/leadsync.sql.

\echo Use "ALTER EXTENSION leadsync UPDATE TO '0.2.0'" to load this file. \quit

-- Applies to pruning at once; pages already filled are pruned down as they are written.
ALTER TABLE @extschema@.sources SET (fillfactor = 10);

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
