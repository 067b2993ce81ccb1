-- BASELINE (not leadsync): the floor for one lead per round trip. A table shaped like
-- leads_master (same columns, defaults, primary key and UNIQUE phone index; no foreign
-- key, no history, no counters) that pgbench fills with one bare
-- INSERT ... ON CONFLICT DO NOTHING per lead (baselines/bare_insert.pgbench).
CREATE TABLE leadsync_baseline.bare_leads (LIKE public.leads_master INCLUDING ALL);
