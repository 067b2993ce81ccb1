#!/usr/bin/env bash
# leadsync-fetch sends each page to ingest_leads without waiting for it, and fetches the
# next page while the server ingests: one page in flight at most. Shown here with a
# trigger (in the test database only) that holds one lead of page 1 for 2 s, or refuses
# one lead of page 3. Every page is still stored and counted once; an SQL error of the
# page in flight ends the run, and the pages after it are neither sent nor counted.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-100}
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"

tap_plan 6
# One form of 16 leads at 4 a page: 4 pages.
fetch_start_fake --leads-per-form 16 --calls 4 --google-leads 4 --page-size 4 --seed 11 ||
  tap_abort "cannot start the fake platforms server"
FORM=$(jq -r '[.meta.forms[] | select(.status == "ACTIVE") | .id][0]' "$FAKE_DATA")
SINCE=$((FAKE_NOW - 49 * 3600))
EXPECT=$(fetch_expect meta "$SINCE" "$FAKE_NOW" "[\"$FORM\"]")
window=(--form-id "$FORM" --since "$(fetch_iso "$SINCE")" --until "$(fetch_iso "$FAKE_NOW")")
[ "$(jq .pages <<<"$EXPECT")" = 4 ] || tap_abort "the fake was to serve 4 pages: $(jq -c '{pages, fetched}' <<<"$EXPECT")"

# The Meta ids of page PAGE's records whose phone no earlier page had: each becomes a new
# lead, so its history row is certainly inserted while that page is ingested.
first_sightings() {
  jq -r --argjson page "$1" '.records as $r | ($r[0:(($page - 1) * 4)] | map(.phone_key)) as $before
    | $r[(($page - 1) * 4):($page * 4)][] | select(.phone_key != null and (.phone_key | IN($before[]) | not)) | .id' \
    <<<"$EXPECT"
}
# install_probe ACTION IDS...: a trigger on lead_sources_history that, for a row of one
# of these Meta ids, sleeps 2 s and logs when it woke (slow), or raises an error (fail).
install_probe() {
  local action=$1 ids
  shift
  ids=$(printf "'%s'," "$@")
  tap_sql "CREATE TABLE public.probe_log (external_id text, woke_at float8);
    CREATE FUNCTION public.probe() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN
      IF NEW.external_id IN (${ids%,}) THEN
        IF '$action' = 'slow' THEN
          PERFORM pg_catalog.pg_sleep(2);
          INSERT INTO public.probe_log VALUES (NEW.external_id, extract(epoch FROM pg_catalog.clock_timestamp()));
        ELSE
          RAISE EXCEPTION 'probe: lead % refused', NEW.external_id;
        END IF;
      END IF;
      RETURN NEW;
    END \$\$;
    CREATE TRIGGER probe BEFORE INSERT ON lead_sources_history FOR EACH ROW EXECUTE FUNCTION public.probe();" >/dev/null
}

# first_pages N: EXPECT cut to the records of its first N pages (pages and fetched kept).
first_pages() {
  jq -c --argjson n "$1" '.records |= .[0:($n * 4)]
    | .keys = ([.records[] | .phone_key | select(. != null)] | reduce .[] as $k ([]; if index([$k]) then . else . + [$k] end))
    | .valid = ([.records[] | select(.phone_key != null)] | length) | .bad = ((.records | length) - .valid)' <<<"$EXPECT"
}
# The counts of a summary, or of fetch_expect_counts, without pages, fetched and filtered.
stored_counts() { sed 's/^pages=[0-9]* fetched=[0-9]* filtered=[0-9]* //'; }

# --------------------------------------------------------------------------------------
# Page 1 held 2 s by the server: page 2 is fetched meanwhile.
# --------------------------------------------------------------------------------------
tap_create_db fetch_pipeline_slow || tap_abort "cannot create a database"
mapfile -t SLOW < <(first_sightings 1)
[ "${#SLOW[@]}" -gt 0 ] || tap_abort "page 1 has no new phone to hold"
install_probe slow "${SLOW[0]}"
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

# --------------------------------------------------------------------------------------
# Page 3 refused by the server, found when page 4 is to be sent.
# --------------------------------------------------------------------------------------
tap_create_db fetch_pipeline_fail || tap_abort "cannot create a database"
mapfile -t REFUSED < <(first_sightings 3)
[ "${#REFUSED[@]}" -gt 0 ] || tap_abort "page 3 has no new phone to refuse"
install_probe fail "${REFUSED[@]}"
WANT=$(fetch_expect_counts "$(first_pages 2)" meta_form | stored_counts)
fake_reset
fetch_run fail meta "${window[@]}"
tap_is "$FETCH_RC $(grep -c "failed: meta_form: ingest_leads: ERROR: *probe: lead .* refused" "$TAP_TMP/fail.err") $(grep -c retrying "$TAP_TMP/fail.err")" \
  "1 1 0" "an SQL error of the page in flight: exit 1 with the server's message, not retried"
fetch_is_lines "$(fetch_db_triples)" "$(fetch_expect_triples meta_form "$(first_pages 2)")" \
  "pages 1 and 2 are stored; nothing of page 3, and page 4 was not sent"
tap_is "$(fetch_counts fail | stored_counts)" "$WANT" "the summary counts pages 1 and 2, the pages stored"
