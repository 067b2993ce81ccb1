# shellcheck shell=bash disable=SC2034  # FETCH_* and FAKE_* are read by the files sourcing this
# Helpers for the leadsync-fetch tests (test/t/fetch_*.sh): the fake platforms server
# (test/fake_platforms/fake_platforms.py) on a free loopback port, the environment the
# fetcher reads, runs of the real binary, and predictions of the rows from the fake's
# /_control/data. Source it after lib/tap.sh:
#
#   source "$(dirname "$0")/lib/tap.sh"
#   source "$(dirname "$0")/lib/fetch.sh"
#   fetch_start_fake --page-size 10           # sets FAKE, FAKE_NOW, FAKE_DATA; exports the env
#   tap_create_db fetch_x
#   fetch_run meta1 meta --since "$(fetch_iso $((FAKE_NOW - 49 * 3600)))"
#   tap_is "$FETCH_RC" 0 "..."                 # stdout in $TAP_TMP/meta1.out, stderr in .err
#
# Needs LEADSYNC_FETCH (the built binary), LEADSYNC_ROOT, python3, curl and jq. The fake
# servers started here are stopped by the EXIT trap (chained before tap.sh's cleanup),
# and each also stops by itself after FETCH_FAKE_LIFETIME seconds.

: "${LEADSYNC_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
: "${LEADSYNC_FETCH:?LEADSYNC_FETCH must name the built leadsync-fetch binary}"
FETCH_FAKE_SCRIPT=$LEADSYNC_ROOT/test/fake_platforms/fake_platforms.py
FETCH_FAKE_PIDS=()
FETCH_ALL_OUTPUT=$TAP_TMP/all-output.txt # every run's stdout and stderr, for the secrets check
: >"$FETCH_ALL_OUTPUT"

# The credentials the fake checks; the tests assert they never appear in any output.
FETCH_META_TOKEN=meta-test-token
FETCH_META_PAGE_ID=111222333444555
FETCH_KN_KEY=kn-test-key
FETCH_KN_TOKEN=kn-test-token
FETCH_G_REFRESH=g-refresh
FETCH_G_CLIENT_ID=leadsync-test.apps.example
FETCH_G_CLIENT_SECRET=g-client-secret-7Qx
FETCH_G_CUSTOMER=1234567890
FETCH_SECRETS=("$FETCH_META_TOKEN" "$FETCH_KN_KEY" "$FETCH_KN_TOKEN" "$FETCH_G_REFRESH" "$FETCH_G_CLIENT_SECRET")

# Stop the fake servers first, then let tap.sh drop the databases and report; $? is
# handed on so tap_cleanup still sees the script's exit status.
fetch_cleanup() {
  local status=$? pid
  for pid in "${FETCH_FAKE_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${FETCH_FAKE_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  (exit "$status")
  tap_cleanup
}
trap fetch_cleanup EXIT

# fetch_iso UNIX: the time as 2026-11-25T10:00:00Z, for --since / --until.
fetch_iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
# fetch_epoch TEXT: Unix seconds of a time such as the summary's since/until.
fetch_epoch() { date -u -d "$1" +%s; }

# fetch_start_fake [fake options...]: starts a fake server on a free port with the test
# credentials, waits until it answers, saves its dataset in $FAKE_DATA and points every
# fetcher variable at it. Sets FAKE (base URL), FAKE_PID, FAKE_NOW.
fetch_start_fake() {
  local port_file=$TAP_TMP/fake.$RANDOM.port i
  rm -f "$port_file"
  python3 "$FETCH_FAKE_SCRIPT" --port 0 --port-file "$port_file" --max-lifetime "${FETCH_FAKE_LIFETIME:-150}" \
    --meta-token "$FETCH_META_TOKEN" --meta-page-id "$FETCH_META_PAGE_ID" \
    --knowlarity-key "$FETCH_KN_KEY" --knowlarity-token "$FETCH_KN_TOKEN" \
    --google-refresh-token "$FETCH_G_REFRESH" --google-client-id "$FETCH_G_CLIENT_ID" \
    --google-client-secret "$FETCH_G_CLIENT_SECRET" --google-customer-id "$FETCH_G_CUSTOMER" \
    "$@" >/dev/null 2>>"$TAP_TMP/fake.err" &  # never prove's output: a fake must not hold it open
  FAKE_PID=$!
  FETCH_FAKE_PIDS+=("$FAKE_PID")
  for ((i = 0; i < 200; i++)); do
    [ -s "$port_file" ] && break
    kill -0 "$FAKE_PID" 2>/dev/null || break
    sleep 0.05
  done
  [ -s "$port_file" ] || { tap_diag "$(cat "$TAP_TMP/fake.err")"; return 1; }
  FAKE=http://127.0.0.1:$(cat "$port_file")
  FAKE_DATA=$TAP_TMP/data.$FAKE_PID.json
  fake_get /_control/data >"$FAKE_DATA" || return 1
  FAKE_NOW=$(jq -r .now "$FAKE_DATA")

  export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
  unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
  export META_GRAPH_URL=$FAKE/meta/v25.0 META_ACCESS_TOKEN=$FETCH_META_TOKEN META_PAGE_ID=$FETCH_META_PAGE_ID
  export KNOWLARITY_BASE_URL=$FAKE/knowlarity KNOWLARITY_API_KEY=$FETCH_KN_KEY KNOWLARITY_AUTH_TOKEN=$FETCH_KN_TOKEN
  export KNOWLARITY_CHANNEL=Basic
  export GOOGLE_ADS_API_URL=$FAKE/google/v21 GOOGLE_OAUTH_TOKEN_URL=$FAKE/google/token
  export GOOGLE_ADS_CUSTOMER_ID=$FETCH_G_CUSTOMER GOOGLE_OAUTH_CLIENT_ID=$FETCH_G_CLIENT_ID
  export GOOGLE_OAUTH_CLIENT_SECRET=$FETCH_G_CLIENT_SECRET GOOGLE_OAUTH_REFRESH_TOKEN=$FETCH_G_REFRESH
  export LEADSYNC_RETRY_ATTEMPTS=4 LEADSYNC_RETRY_BASE_SECONDS=0.05 LEADSYNC_RETRY_MAX_DELAY_SECONDS=0.2
  export LEADSYNC_RETRY_BUDGET_SECONDS=30 LEADSYNC_HTTP_TIMEOUT_SECONDS=2 LEADSYNC_CONNECT_TIMEOUT_SECONDS=2
  unset META_FORM_IDS KNOWLARITY_ALLOWED_NUMBERS GOOGLE_ADS_LOGIN_CUSTOMER_ID LEADSYNC_OVERLAP_MINUTES \
    LEADSYNC_FIRST_LOOKBACK_HOURS LEADSYNC_SCHEMA DATABASE_URL
}

# The control API of the current fake (never faulted, never logged).
fake_get() { curl -sS --fail --max-time 10 "$FAKE$1"; }
fake_delete() { curl -sS --fail --max-time 10 -X DELETE "$FAKE$1" >/dev/null; }
# fake_fault JSON: adds a fault rule (or a list of rules).
fake_fault() {
  curl -sS --fail --max-time 10 -H 'Content-Type: application/json' -d "$1" "$FAKE/_control/faults" >/dev/null
}
# fake_reset: no fault rules, an empty request log.
fake_reset() { fake_delete /_control/faults && fake_delete /_control/requests; }
# fake_requests [PATH-SUBSTRING]: the request log as one JSON array.
# shellcheck disable=SC2120  # the argument is optional
fake_requests() {
  if [ -n "${1:-}" ]; then fake_get "/_control/requests?path=$(jq -rn --arg p "$1" '$p|@uri')"; else fake_get /_control/requests; fi |
    jq -c .requests
}

# fake_wait_requests PATH-SUBSTRING MIN [JQ-CONDITION]: waits up to 10 s until the fake has
# logged MIN requests whose path contains PATH-SUBSTRING ("" for any) and that meet
# JQ-CONDITION (on one logged request); non-zero if it never did.
fake_wait_requests() {
  local i
  for ((i = 0; i < 200; i++)); do
    [ "$(fake_requests "$1" | jq "[.[] | select(${3:-true})] | length")" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}

# fetch_run NAME ARGS...: runs the fetcher on the test database (TAP_DB), bounded to 60 s,
# without the variables named in FETCH_UNSET (space-separated). Sets FETCH_RC and
# FETCH_MS (its run time in ms); stdout in $TAP_TMP/NAME.out, stderr in $TAP_TMP/NAME.err.
fetch_run() {
  local name=$1 start variable unset_args=()
  shift
  for variable in ${FETCH_UNSET:-}; do unset_args+=(-u "$variable"); done
  start=$(date +%s%N)
  DATABASE_URL="dbname=$TAP_DB" timeout -k 5 60 env "${unset_args[@]}" "$LEADSYNC_FETCH" "$@" \
    >"$TAP_TMP/$name.out" 2>"$TAP_TMP/$name.err"
  FETCH_RC=$?
  FETCH_MS=$((($(date +%s%N) - start) / 1000000))
  cat "$TAP_TMP/$name.out" "$TAP_TMP/$name.err" >>"$FETCH_ALL_OUTPUT"
  if [ "${FETCH_VERBOSE:-0}" = 1 ]; then tap_diag "$name: rc=$FETCH_RC ${FETCH_MS}ms
$(cat "$TAP_TMP/$name.out" "$TAP_TMP/$name.err")"; fi
}

# fetch_summary NAME: the one summary line a run printed, or nothing when stdout is not
# exactly one JSON object with every count.
fetch_summary() {
  local out=$TAP_TMP/$1.out
  [ "$(wc -l <"$out")" -eq 1 ] || return 1
  jq -ce 'select(type == "object" and has("source") and has("since") and has("until") and has("pages")
                 and has("fetched") and has("insertedNew") and has("duplicateSameSource")
                 and has("crossSourceHistory") and has("rejected"))' "$out"
}

# fetch_has_summary NAME: true when the run printed exactly one summary line (see above).
fetch_has_summary() { fetch_summary "$1" >/dev/null; }

# fetch_counts NAME: "pages=.. fetched=.. filtered=.. new=.. dup=.. cross=.. rejected=.." of a run.
fetch_counts() {
  fetch_summary "$1" | jq -r '"pages=\(.pages) fetched=\(.fetched) filtered=\(.filtered) new=\(.insertedNew)" +
    " dup=\(.duplicateSameSource) cross=\(.crossSourceHistory) rejected=\(.rejected)"'
}

# fetch_expect SOURCE SINCE UNTIL [FORMS-JSON] [ALLOWED-JSON]: what the fake serves a
# correct fetcher for a window (Unix seconds), from /_control/data, as one JSON object:
#   pages  pages read;  fetched  records returned;  filtered  dropped by KNOWLARITY_ALLOWED_NUMBERS;
#   records  the others, in the order they are ingested;  keys  their distinct valid
#   phone keys in that order;  bad  how many have no valid phone;  valid  how many have one.
# SOURCE is meta (FORMS: the form ids to read, default every ACTIVE form in listing
# order), knowlarity (ALLOWED: numbers to keep, default all) or google.
fetch_expect() {
  jq -c --arg src "$1" --argjson since "$2" --argjson until "$3" \
    --argjson forms "${4:-null}" --argjson allowed "${5:-null}" '
    def key10: gsub("[^0-9]"; "") | .[-10:];
    def uniq_in_order: reduce .[] as $k ([]; if index([$k]) then . else . + [$k] end);
    def pages_of($n): ($n + .page_size - 1) / .page_size | floor;
    (if $src == "meta" then
       ($forms // [.meta.forms[] | select(.status == "ACTIVE") | .id]) as $f
       | . as $all
       | [ $f[] as $form | $all.meta.leads | map(select(.form_id == $form
             and .created_time > $since and .created_time <= $until)) | sort_by(-.created_time) ] as $per_form
       | {fetched: ($per_form | add | length), filtered: 0, records: ($per_form | add),
          pages: ([$per_form[] | length | . as $n | $all | [pages_of($n), 1] | max] | add)}
     elif $src == "knowlarity" then
       [.knowlarity.calls[] | select(.start_time >= $since and .start_time <= $until)] as $calls
       | (if $allowed == null then $calls else
            $calls | map(select(.knowlarity_number | key10 | IN($allowed[] | key10))) end) as $kept
       | {fetched: ($calls | length), filtered: (($calls | length) - ($kept | length)), records: $kept,
          pages: pages_of($calls | length)}
     else
       [.google.leads[] | select(.submission_time >= $since - 50400 and .submission_time <= $until + 50400)]
       as $leads
       | {fetched: ($leads | length), filtered: 0, records: $leads, pages: ([pages_of($leads | length), 1] | max)}
     end)
    | .keys = ([.records[] | .phone_key | select(. != null)] | uniq_in_order)
    | .bad = ([.records[] | select(.phone_key == null)] | length)
    | .valid = ([.records[] | select(.phone_key != null)] | length)' "$FAKE_DATA"
}

# fetch_expect_counts EXPECT-JSON SOURCE-TYPE: the summary counts (as fetch_counts prints
# them) a run ingesting EXPECT into the test database as it is now must report.
fetch_expect_counts() {
  local expect=$1 source=$2 known mine
  known=$(tap_sql "SELECT coalesce(json_agg(phone_number_normalized), '[]') FROM leads_master" | tr -d '\n')
  mine=$(tap_sql "SELECT coalesce(json_agg(m.phone_number_normalized), '[]')
                    FROM leads_master m JOIN lead_sources_history h ON h.lead_id = m.id
                    JOIN sources s ON s.id = h.source_id WHERE s.source_type = '$source'" | tr -d '\n')
  jq -r --argjson known "$known" --argjson mine "$mine" '
    (.keys - $mine) as $fresh
    | ($fresh - $known | length) as $new
    | "pages=\(.pages) fetched=\(.fetched) filtered=\(.filtered) new=\($new)" +
      " dup=\(.valid - ($fresh | length)) cross=\(($fresh | length) - $new) rejected=\(.bad)"' <<<"$expect"
}

# fetch_db_triples: every history row as "phone_key|source_type|is_primary", sorted.
fetch_db_triples() {
  tap_sql "SELECT m.phone_number_normalized || '|' || s.source_type || '|' || h.is_primary
             FROM lead_sources_history h JOIN leads_master m ON m.id = h.lead_id
             JOIN sources s ON s.id = h.source_id ORDER BY 1"
}

# fetch_expect_triples (SOURCE-TYPE EXPECT-JSON)...: the history rows a fresh database
# holds after ingesting each EXPECT in turn as SOURCE-TYPE, as fetch_db_triples prints them.
fetch_expect_triples() {
  local seen=" " source expect key primary
  while [ $# -gt 0 ]; do
    source=$1 expect=$2
    shift 2
    for key in $(jq -r '.keys[]' <<<"$expect"); do
      primary=false
      case "$seen" in *" $key "*) ;; *) primary=true seen="$seen$key " ;; esac
      echo "$key|$source|$primary"
    done
  done | LC_ALL=C sort
}

# fetch_is_lines GOT EXPECTED DESCRIPTION: tap_is for long multi-line values, with a diff.
fetch_is_lines() {
  if [ "$1" == "$2" ]; then
    tap_pass "$3"
  else
    tap_fail "$3"
    tap_diag "$(diff <(echo "$2") <(echo "$1") | head -n 20)"
  fi
}

# fetch_db_content: the lead tables' content without ids and receive times (which differ
# between two databases fed the same pages), one sorted line per row.
fetch_db_content() {
  tap_sql "SELECT line FROM (
      SELECT 'lead|' || m.phone_number_normalized || '|' || coalesce(m.full_name, '') || '|' || s.source_type
             || '|' || coalesce(m.external_lead_id, '') || '|' || m.status || '|' || coalesce(m.assigned_to, '')
             || '|' || m.total_attempts || '|' || m.is_qualified
             || '|' || coalesce(m.platform_created_at::text, '') || '|' || md5(coalesce(m.raw_payload::text, ''))
        FROM leads_master m JOIN sources s ON s.id = m.source_id
      UNION ALL
      SELECT 'history|' || m.phone_number_normalized || '|' || s.source_type || '|' || coalesce(h.external_id, '')
             || '|' || h.is_primary || '|' || coalesce(h.platform_created_at::text, '')
             || '|' || md5(coalesce(h.raw_payload::text, ''))
        FROM lead_sources_history h JOIN leads_master m ON m.id = h.lead_id JOIN sources s ON s.id = h.source_id
      UNION ALL
      SELECT 'reject|' || s.source_type || '|' || r.reason || '|' || r.payload_md5
        FROM lead_rejects r JOIN sources s ON s.id = r.source_id
      UNION ALL
      SELECT 'source|' || source_type || '|' || display_name || '|' || total_leads_count || '|' || todays_leads_count
        FROM source_counts) AS t(line)
    ORDER BY line COLLATE \"C\""
}

# fetch_lead_digest: md5 of every row of leads_master, lead_sources_history, lead_rejects
# and sources, ids and times included: equal digests mean no row was added, removed or
# changed. fetch_db_digest: the same with sync_state too.
fetch_lead_digest() {
  tap_sql "SELECT md5(concat_ws('/',
      (SELECT array_agg(t ORDER BY id)::text FROM leads_master t),
      (SELECT array_agg(t ORDER BY id)::text FROM lead_sources_history t),
      (SELECT array_agg(t ORDER BY id)::text FROM lead_rejects t),
      (SELECT array_agg(t ORDER BY id)::text FROM sources t)))"
}
fetch_db_digest() {
  echo "$(fetch_lead_digest) $(tap_sql "SELECT md5((SELECT array_agg(t ORDER BY source_type)::text FROM sync_state t))")"
}

# fetch_synced_until SOURCE-TYPE: the saved window end in Unix seconds, or "none".
fetch_synced_until() {
  tap_sql "SELECT coalesce((SELECT extract(epoch FROM synced_until)::bigint::text FROM sync_state
                             WHERE source_type = '$1'), 'none')"
}
