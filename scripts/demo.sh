#!/usr/bin/env bash
# The main job on bundled sample data: installs what is needed, builds, starts a
# throwaway PostgreSQL with leadsync, ingests the platforms' sample pages (Meta lead
# pages, Knowlarity call-log pages, Google Ads search pages and webhooks), and prints
# each call's outcome and the source counts. LEADSYNC_KEEP_CLUSTER=1 leaves the server
# running afterwards so you can look around with psql.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

install_packages
build_all
start_cluster

createdb leadsync_demo
psql -q -X -d leadsync_demo -c "CREATE EXTENSION leadsync" \
  -c "ALTER DATABASE leadsync_demo SET leadsync.timezone = 'Asia/Kolkata'"

samples=$LEADSYNC_ROOT/test/data/api-samples
log "ingesting the sample pages"
psql -X -v ON_ERROR_STOP=1 -d leadsync_demo \
  -v meta1="$(cat "$samples/meta/leads_page1.json")" \
  -v meta2="$(cat "$samples/meta/leads_page2_last.json")" \
  -v knowlarity1="$(cat "$samples/knowlarity/calllog_page1.json")" \
  -v knowlarity2="$(cat "$samples/knowlarity/calllog_page2_last.json")" \
  -v google1="$(cat "$samples/google_ads/search_lead_form_submission_page1.json")" \
  -v google2="$(cat "$samples/google_ads/search_lead_form_submission_page2_last.json")" \
  -v webhook1="$(cat "$samples/google_ads/webhook_lead_india_constructed.json")" \
  -v webhook2="$(cat "$samples/google_ads/webhook_lead_docs_sample.json")" <<'SQL'
\pset footer off
SELECT page, ingest_leads(source_type, payloads) AS outcome
  FROM (VALUES (1, 'meta_form', 'meta/leads_page1.json', (:'meta1'::jsonb)->'data'),
               (2, 'meta_form', 'meta/leads_page2_last.json', (:'meta2'::jsonb)->'data'),
               (3, 'knowlarity_call', 'knowlarity/calllog_page1.json', (:'knowlarity1'::jsonb)->'objects'),
               (4, 'knowlarity_call', 'knowlarity/calllog_page2_last.json', (:'knowlarity2'::jsonb)->'objects'),
               (5, 'google_ads', 'google_ads/search_..._page1.json', (:'google1'::jsonb)->'results'),
               (6, 'google_ads', 'google_ads/search_..._page2_last.json', (:'google2'::jsonb)->'results'),
               (7, 'google_ads', 'google_ads/webhook_lead_india_constructed.json', jsonb_build_array(:'webhook1'::jsonb)),
               (8, 'google_ads', 'google_ads/webhook_lead_docs_sample.json', jsonb_build_array(:'webhook2'::jsonb)))
       AS pages(n, source_type, page, payloads)
 ORDER BY n;

\echo 'Source counts (today = Asia/Kolkata):'
SELECT display_name AS "Source", source_type AS "Sub Source", total_leads_count AS total,
       todays_leads_count AS today
  FROM source_counts ORDER BY id;

\echo 'Leads and every source that sent them:'
SELECT l.phone_number_normalized AS phone, l.full_name,
       string_agg(s.display_name || CASE WHEN h.is_primary THEN ' (primary)' ELSE '' END, ', '
                  ORDER BY h.is_primary DESC, h.id) AS sources
  FROM leads_master l
  JOIN lead_sources_history h ON h.lead_id = l.id
  JOIN sources s ON s.id = h.source_id
 GROUP BY l.id ORDER BY l.id;

\echo 'Rejected payloads:'
SELECT s.display_name AS "Source", r.reason FROM lead_rejects r JOIN sources s ON s.id = r.source_id ORDER BY r.id;
SQL

if [ "${LEADSYNC_KEEP_CLUSTER:-0}" = 1 ]; then
  trap - EXIT
  log "server left running: psql -h $PGHOST -p $PGPORT -U postgres leadsync_demo"
fi
