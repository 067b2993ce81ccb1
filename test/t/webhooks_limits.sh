#!/usr/bin/env bash
# The bounds of leadsync-fetch serve facing the open internet: no more connections at once
# than LEADSYNC_WEBHOOK_MAX_CONNECTIONS (one more is closed unanswered), and no
# more database sessions than LEADSYNC_WEBHOOK_DB_CONNECTIONS however many webhooks
# arrive at once (they take turns; every one is stored).
set -u
source "$(dirname "$0")/lib/tap.sh"
source "$(dirname "$0")/lib/fetch.sh"
source "$(dirname "$0")/lib/serve.sh"
tap_plan 5

fetch_start_fake --leads-per-form 2 --calls 2 --google-leads 2 || tap_abort "no fake platforms"
tap_create_db webhooks_limits || tap_abort "cannot create a database"
# Google only (no Meta resolvers, which hold sessions of their own).
serve_start serve META_APP_SECRET= LEADSYNC_WEBHOOK_MAX_CONNECTIONS=2 LEADSYNC_WEBHOOK_DB_CONNECTIONS=2 \
  LEADSYNC_WEBHOOK_REQUEST_TIMEOUT_SECONDS=20 || tap_abort "no server"
PORT=${SERVE##*:}

# --- connections ---------------------------------------------------------------------------------
exec 3<>"/dev/tcp/127.0.0.1/$PORT" 4<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' >&3  # both mid-headers: two connections held
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' >&4
sleep 0.3
curl -sS -o /dev/null --max-time 5 "$SERVE/healthz" 2>/dev/null
third=$?  # 52: closed with no reply; 56: reset (closed before curl's request was read)
tap_ok "with LEADSYNC_WEBHOOK_MAX_CONNECTIONS=2 held, a third connection is closed unanswered (curl exit $third)" \
  test "$third" = 52 -o "$third" = 56
exec 3>&-
sleep 0.3
tap_is "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$SERVE/healthz")" 200 \
  "once one of the two closes, a new connection is served"
exec 4>&-

# --- database sessions ---------------------------------------------------------------------------
# 200 new Google leads from 16 clients at once, while the sessions of this database are sampled.
sessions() { tap_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                        AND application_name = 'leadsync-fetch'"; }
: >"$TAP_TMP/acked"
python3 "$(dirname "$0")/lib/webhook_burst.py" --url "$SERVE" --google 200 --phone-prefix 95 --clients 16 \
  --google-key "$SERVE_GOOGLE_KEY" --acked "$TAP_TMP/acked" --deadline 60 >"$TAP_TMP/burst.out" 2>"$TAP_TMP/burst.err" &
burst=$!
most=0
while kill -0 "$burst" 2>/dev/null; do
  now=$(sessions)
  [ "$now" -gt "$most" ] && most=$now
  sleep 0.02
done
wait "$burst"
tap_is "$?/$(wc -l <"$TAP_TMP/acked" | tr -d ' ')" "0/200" "16 clients at once: all 200 webhooks answered 2xx"
tap_ok "never more than LEADSYNC_WEBHOOK_DB_CONNECTIONS=2 database sessions (at most $most seen)" \
  test "$most" -ge 1 -a "$most" -le 2
tap_is "$(tap_sql "SELECT total_leads_count FROM sources WHERE source_type = 'google_ads'")" 200 \
  "and every lead stored, once"
serve_stop
