#!/usr/bin/env bash
# leadsync-fetch sends each page to ingest_leads without waiting for it, and fetches the
# next page while the server ingests: one page in flight at most. Shown here with a
# trigger (in the test database only) on chosen leads: it holds one of page 1 for 2 s,
# refuses one of page 3, ends the session on every attempt at page 3, or refuses one of
# page 2 while the platform fails page 3. Every page is stored and counted once; a page
# whose ingest fails ends the run with its own error, recorded in sync_state, and the
# pages after it are neither sent nor counted.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-100}
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 12
# One form of 16 leads at 4 a page: 4 pages.
fetch_start_fake --leads-per-form 16 --calls 4 --google-leads 4 --page-size 4 --seed 11 ||
  tap_abort "cannot start the fake platforms server"
FORM=$(jq -r '[.meta.forms[] | select(.status == "ACTIVE") | .id][0]' "$FAKE_DATA")
SINCE=$((FAKE_NOW - 49 * 3600))
EXPECT=$(fetch_expect meta "$SINCE" "$FAKE_NOW" "[\"$FORM\"]")
window=(--form-id "$FORM" --since "$(fetch_iso "$SINCE")" --until "$(fetch_iso "$FAKE_NOW")")
[ "$(jq .pages <<<"$EXPECT")" = 4 ] || tap_abort "the fake was to serve 4 pages: $(jq -c '{pages, fetched}' <<<"$EXPECT")"

# first_sightings PAGE: the Meta ids of that page's records whose phone no earlier page
# had: each becomes a new lead, so its history row is certainly inserted with that page.
first_sightings() {
  jq -r --argjson page "$1" '.records as $r | ($r[0:(($page - 1) * 4)] | map(.phone_key)) as $before
    | $r[(($page - 1) * 4):($page * 4)][] | select(.phone_key != null and (.phone_key | IN($before[]) | not)) | .id' \
    <<<"$EXPECT"
}
# first_pages N: EXPECT cut to the records of its first N pages (pages and fetched kept).
first_pages() {
  jq -c --argjson n "$1" '.records |= .[0:($n * 4)]
    | .keys = ([.records[] | .phone_key | select(. != null)] | reduce .[] as $k ([]; if index([$k]) then . else . + [$k] end))
    | .valid = ([.records[] | select(.phone_key != null)] | length) | .bad = ((.records | length) - .valid)' <<<"$EXPECT"
}
# expect_failed_counts N PAGES: the counts a run stopped after storing N pages must report,
# having handed PAGES pages to the database (run on the empty database, before the run).
expect_failed_counts() {
  fetch_expect_counts "$(first_pages "$1")" meta_form |
    sed "s/^pages=[0-9]* fetched=[0-9]* /pages=$2 fetched=$(($2 * 4)) /"
}
# install_probe ACTION PAGE: a trigger on lead_sources_history for the rows of the new
# phones of page PAGE. slow: warns, holds the first such row 2 s and logs when it woke;
# refuse: raises an error; kill: ends its own session (every attempt at that page).
install_probe() {
  local ids
  ids=$(first_sightings "$2" | sed "s/.*/'&'/" | paste -sd,)
  [ -n "$ids" ] || tap_abort "page $2 has no new phone for the probe"
  tap_sql "CREATE TABLE public.probe_log (external_id text, woke_at float8);
    CREATE FUNCTION public.probe() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN
      IF NEW.external_id IN ($ids) THEN
        CASE '$1'
        WHEN 'slow' THEN
          IF NOT EXISTS (SELECT FROM public.probe_log) THEN
            RAISE WARNING 'probe: holding lead %', NEW.external_id;
            PERFORM pg_catalog.pg_sleep(2);
            INSERT INTO public.probe_log VALUES (NEW.external_id, extract(epoch FROM pg_catalog.clock_timestamp()));
          END IF;
        WHEN 'refuse' THEN
          RAISE EXCEPTION 'probe: lead % refused', NEW.external_id;
        WHEN 'kill' THEN
          PERFORM pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid());
        END CASE;
      END IF;
      RETURN NEW;
    END \$\$;
    CREATE TRIGGER probe BEFORE INSERT ON lead_sources_history FOR EACH ROW EXECUTE FUNCTION public.probe();" >/dev/null
}
last_error() { tap_sql "SELECT last_error FROM sync_state WHERE source_type = 'meta_form'"; }

# --------------------------------------------------------------------------------------
# Page 1 held 2 s by the server: page 2 is fetched meanwhile.
# --------------------------------------------------------------------------------------
tap_create_db fetch_pipeline_slow || tap_abort "cannot create a database"
install_probe slow 1
WANT=$(fetch_expect_counts "$EXPECT" meta_form)
fake_reset
fetch_run slow meta "${window[@]}"
WOKE=$(tap_sql "SELECT woke_at FROM public.probe_log")
PAGE2_ASKED=$(fake_requests /leads | jq '.[1].time')
tap_is "$FETCH_RC $(jq -n --argjson asked "${PAGE2_ASKED:-null}" --argjson woke "${WOKE:-null}" \
  '$asked != null and $woke != null and $asked < $woke')" "0 true" \
  "page 2 was requested while the server was still ingesting page 1"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$EXPECT")" \
  "every lead of every page is stored exactly once"
tap_is "$(fetch_counts slow)" "$WANT" "the summary counts every page once, the last one too"
tap_is "$(grep -c '^leadsync-fetch meta: server: WARNING: *probe: holding lead' "$TAP_TMP/slow.err") $(grep -c '^WARNING' "$TAP_TMP/slow.err")" \
  "1 0" "the server's warning is in the progress log, prefixed (not printed raw by libpq)"

# --------------------------------------------------------------------------------------
# Page 3 refused by the server, found when page 4 is to be sent.
# --------------------------------------------------------------------------------------
tap_create_db fetch_pipeline_refuse || tap_abort "cannot create a database"
install_probe refuse 3
WANT=$(expect_failed_counts 2 3)
fake_reset
fetch_run refuse meta "${window[@]}"
tap_is "$FETCH_RC $(grep -c "failed: meta_form: ingest_leads: ERROR: *probe: lead .* refused" "$TAP_TMP/refuse.err") $(grep -c retrying "$TAP_TMP/refuse.err")" \
  "1 1 0" "an SQL error of the page in flight: exit 1 with the server's message, not retried"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$(first_pages 2)")" \
  "pages 1 and 2 are stored; nothing of page 3, and page 4 was not sent"
tap_is "$(fetch_counts refuse)" "$WANT" \
  "the summary counts the 3 pages handed to the database, and the rows of pages 1 and 2"

# --------------------------------------------------------------------------------------
# Every attempt at page 3 loses its session: retried, then given up, and recorded.
# --------------------------------------------------------------------------------------
tap_create_db fetch_pipeline_kill || tap_abort "cannot create a database"
install_probe kill 3
WANT=$(expect_failed_counts 2 3)
fake_reset
fetch_run kill meta "${window[@]}"
tap_is "$FETCH_RC $(grep -c 'ingest_leads: .*retrying' "$TAP_TMP/kill.err")" "1 $((LEADSYNC_RETRY_ATTEMPTS - 1))" \
  "page 3's session ended on every attempt: each attempt but the last retried, then exit 1"
tap_like "$(last_error)" "meta_form: ingest_leads: .*gave up after $LEADSYNC_RETRY_ATTEMPTS attempts" \
  "the give-up is recorded in sync_state (on a new connection)"
fetch_is_lines "$(fetch_db_triples) | $(fetch_counts kill)" \
  "$(fetch_expect_triples meta_form "$(first_pages 2)") | $WANT" \
  "pages 1 and 2 are stored and counted, nothing of page 3"

# --------------------------------------------------------------------------------------
# Page 2 refused while page 3 fails at the platform: the refusal came first.
# --------------------------------------------------------------------------------------
tap_create_db fetch_pipeline_both || tap_abort "cannot create a database"
install_probe refuse 2
WANT=$(expect_failed_counts 1 2)
fake_reset
fake_fault "{\"path\": \"/$FORM/leads\", \"fault\": \"status500\", \"after\": 2, \"times\": -1}"
fetch_run both meta "${window[@]}"
tap_like "$FETCH_RC $(last_error)" \
  "^1 meta_form: ingest_leads: ERROR: +probe: lead .* refused.*; then meta_form: form $FORM, page 3: HTTP 500" \
  "the run's error, in sync_state too, is page 2's refusal first, then page 3's HTTP failure"
fetch_is_lines "$(fetch_db_triples) | $(fetch_counts both)" \
  "$(fetch_expect_triples meta_form "$(first_pages 1)") | $WANT" \
  "only page 1 is stored and counted"
fake_reset
