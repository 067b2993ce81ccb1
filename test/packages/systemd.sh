#!/usr/bin/env bash
# The packages under a real systemd: a Debian 12 booted in a container (systemd-nspawn,
# a fresh copy each run), the packages installed there, and the units run by systemd with
# their whole sandbox: a pull of the fake Meta (on this machine's loopback) as the
# leadsync user over peer authentication, the webhook server storing a webhook and
# stopping cleanly, the timer scheduled; an upgrade; then dpkg --purge with the server running and a
# timer enabled, leaving nothing of leadsync behind but the system user.
#
# Needs root, systemd-nspawn and debootstrap. The container's file system is built once
# with debootstrap from this machine's Debian mirror (LEADSYNC_SYSTEMD_ROOT, default
# build/systemd-root; a few minutes) and reused after.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-900}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PACKAGES_DIR=${LEADSYNC_PACKAGES_DIR:-$ROOT/build/packages}
MACHINE_ROOT=${LEADSYNC_SYSTEMD_ROOT:-$ROOT/build/systemd-root}

if [ "$(id -u)" != 0 ]; then
  echo "1..0 # SKIP booting a container needs root"
  exit 0
fi
# shellcheck source-path=SCRIPTDIR source=../t/lib/tap.sh
source "$ROOT/test/t/lib/tap.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/test/packages/lib.sh"

NSPAWN_PID=""
FAKE_PID=""
systemd_cleanup() {
  local status=$?
  [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
  if [ -n "$NSPAWN_PID" ]; then
    kill -TERM "$NSPAWN_PID" 2>/dev/null # the container powers off; -x discards its copy
    wait "$NSPAWN_PID" 2>/dev/null
  fi
  (exit "$status")
  tap_cleanup
}
trap systemd_cleanup EXIT

# in_machine COMMAND...: runs COMMAND inside the container, with none of this shell's variables.
in_machine() { nsenter -t "$LEADER" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
machine_sql() { in_machine runuser -u postgres -- psql -X -q -At -d sales -c "$1"; }

# build_machine_root: a minimal Debian 12 with systemd, PostgreSQL 15 and what the packages
# need, from the mirror this machine's apt uses (its security updates included, since the
# extension package needs this machine's PostgreSQL minor version).
build_machine_root() {
  local mirror work=$MACHINE_ROOT.new
  mirror=$(sed -n 's/^URIs: *//p; s/^deb \(http[^ ]*\) bookworm .*/\1/p' /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list 2>/dev/null | head -n 1)
  rm -rf "$work"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$work" "${mirror:-http://deb.debian.org/debian}" &&
    cp /etc/apt/sources.list.d/*.sources "$work/etc/apt/sources.list.d/" 2>/dev/null
  cp /etc/apt/sources.list "$work/etc/apt/sources.list" 2>/dev/null
  chroot "$work" apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive chroot "$work" apt-get install -y -q --no-install-recommends \
      "postgresql-$PACKAGES_PG_MAJOR" curl adduser libcurl4 libmicrohttpd12 libpq5 libssl3 || return 1
  # Its PostgreSQL on its socket only: the container shares this machine's network.
  echo "listen_addresses = ''" >>"$work/etc/postgresql/$PACKAGES_PG_MAJOR/main/postgresql.conf"
  rm -rf "$MACHINE_ROOT" && mv "$work" "$MACHINE_ROOT"
}

tap_plan 12

# --- boot ---------------------------------------------------------------------------------
if [ ! -x "$MACHINE_ROOT/lib/systemd/systemd" ]; then
  build_machine_root >"$TAP_TMP/debootstrap.log" 2>&1 ||
    { tap_diag "$(tail -n 30 "$TAP_TMP/debootstrap.log")"; tap_abort "cannot build the container's file system"; }
fi
rm -rf "$MACHINE_ROOT/root/debs" && mkdir -p "$MACHINE_ROOT/root/debs/next" &&
  cp "$PACKAGES_DIR"/*.deb "$MACHINE_ROOT/root/debs/"
# The next version, for the upgrade: the same files, a higher version number.
next_version=$(dpkg-deb -f "$PACKAGES_DIR"/leadsync-fetch_*_*.deb Version)+next1
dpkg-deb -R "$PACKAGES_DIR"/leadsync-fetch_*_*.deb "$TAP_TMP/next" &&
  sed -i "s/^Version: .*/Version: $next_version/" "$TAP_TMP/next/DEBIAN/control" &&
  dpkg-deb -b "$TAP_TMP/next" "$MACHINE_ROOT/root/debs/next/leadsync-fetch_${next_version}.deb" >/dev/null
# -x: a throwaway copy, so each run starts from the same machine. No private network: the
# pull reaches the fake platforms on this machine's loopback.
systemd-nspawn -x -D "$MACHINE_ROOT" -b --register=no --keep-unit -M leadsync-test >"$TAP_TMP/boot.log" 2>&1 &
NSPAWN_PID=$!
LEADER=""
for ((i = 0; i < 300; i++)); do
  LEADER=$(pgrep -P "$NSPAWN_PID" | head -n 1)
  [ -n "$LEADER" ] && [ "$(ps -o comm= -p "$LEADER")" = systemd ] && break
  LEADER=""
  sleep 0.1
done
[ -n "$LEADER" ] || { tap_diag "$(tail -n 20 "$TAP_TMP/boot.log")"; tap_abort "the container did not boot"; }
# Until its bus is up, systemctl cannot ask; then --wait waits for the boot to finish.
for ((i = 0; i < 300; i++)); do
  state=$(timeout 90 nsenter -t "$LEADER" -a -- systemctl is-system-running --wait 2>&1)
  [[ $state =~ ^(running|degraded)$ ]] && break
  sleep 0.2
done
tap_like "$state" '^(running|degraded)$' "a Debian 12 container boots with systemd as its PID 1 ($state)" ||
  tap_diag "$(in_machine systemctl --failed --no-pager)"

# --- install ------------------------------------------------------------------------------
in_machine sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /root/debs/*.deb' \
  >"$TAP_TMP/install.log" 2>&1
rc=$?
tap_is "$rc $(in_machine systemctl is-enabled leadsync-serve.service) $(in_machine systemctl is-active leadsync-serve.service)" \
  "0 disabled inactive" "apt-get install of the packages there enables and starts nothing (the secrets come first)" ||
  tap_diag "$(tail -n 20 "$TAP_TMP/install.log")"

# The database and its role as the README's "As systemd services" sets them up.
grants=$(readme_sql "The database role it connects as needs:"; readme_sql "beyond those, its Meta inbox:")
in_machine runuser -u postgres -- createuser leadsync &&
  in_machine runuser -u postgres -- createdb sales &&
  machine_sql "CREATE EXTENSION leadsync" &&
  machine_sql "${grants//lead_fetch/leadsync}" || tap_diag "could not set up the database"

port_file=$TAP_TMP/fake.port
python3 "$ROOT/test/fake_platforms/fake_platforms.py" --port 0 --port-file "$port_file" --max-lifetime 600 \
  --meta-token meta-test-token --meta-page-id 111222333444555 --leads-per-form 5 --seed 5 \
  >/dev/null 2>"$TAP_TMP/fake.err" &
FAKE_PID=$!
for ((i = 0; i < 100; i++)); do [ -s "$port_file" ] && break; sleep 0.05; done
GOOGLE_KEY=google-webhook-key-Pk7
APP_SECRET=meta-app-secret-Qm3
FAKE_URL=http://127.0.0.1:$(cat "$port_file")
# A Meta lead older than the pull's first window (24 hours), of a phone no other lead has:
# new when a webhook announces it.
OLD_LEAD=$(curl -sS --max-time 10 "$FAKE_URL/_control/data" | jq -c '.now as $now | .meta.leads
  | map(select(.bad == null and .form_status == "ACTIVE")) | group_by(.phone_key) | map(select(length == 1) | .[0])
  | map(select(.created_time < $now - 26 * 3600)) | .[0] | {id, phone}')
in_machine sh -c 'cat >/etc/leadsync/leadsync.env' <<EOF
DATABASE_URL=postgresql:///sales
META_GRAPH_URL=$FAKE_URL/meta/v25.0
META_ACCESS_TOKEN=meta-test-token
META_APP_SECRET=$APP_SECRET
LEADSYNC_FIRST_LOOKBACK_HOURS=24
GOOGLE_ADS_WEBHOOK_KEY=$GOOGLE_KEY
LEADSYNC_LISTEN=127.0.0.1:0
EOF
# The page only in the pull's own file: the pull fails unless its unit reads
# /etc/leadsync/meta.env.
in_machine sh -c 'umask 027 && echo META_PAGE_ID=111222333444555 >/etc/leadsync/meta.env && chgrp leadsync /etc/leadsync/meta.env'

# --- the units, run by systemd ------------------------------------------------------------
in_machine systemctl start leadsync-fetch@meta.service
result=$(in_machine systemctl show leadsync-fetch@meta.service -p Result -p ExecMainStatus --value | tr '\n' ' ')
summary=$(in_machine journalctl -u leadsync-fetch@meta.service -o cat | grep '^{' | tail -n 1)
tap_like "$result$(jq -r '.insertedNew' <<<"$summary" 2>/dev/null) $(machine_sql 'SELECT count(*) FROM leads_master')" \
  '^success 0 ([1-9][0-9]*) \1$' \
  "systemctl start leadsync-fetch@meta: the pull (its page from meta.env) succeeds as leadsync, sandboxed, over peer authentication; its new leads stored" ||
  tap_diag "$(in_machine journalctl -u leadsync-fetch@meta.service -o cat --no-pager | tail -n 20)"

in_machine systemctl enable --now leadsync-serve.service leadsync-fetch@meta.timer >/dev/null 2>&1
port=""
for ((i = 0; i < 100; i++)); do
  port=$(in_machine journalctl -u leadsync-serve.service -o cat | sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' | tail -n 1)
  [ -n "$port" ] && break
  sleep 0.1
done
lead=$(google_lead nspawn-1 "+91 98450 55503" "$GOOGLE_KEY")
answer=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$lead" \
  "http://127.0.0.1:${port:-1}/webhooks/google")
tap_is "$(in_machine systemctl is-active leadsync-serve.service) $answer $(machine_sql \
  "SELECT count(*) FROM leads_master WHERE phone_number_normalized = normalize_phone('+91 98450 55503')")" "active 200 1" \
  "systemctl enable --now leadsync-serve: it answers a Google webhook 200 and the lead is stored" ||
  tap_diag "$(in_machine journalctl -u leadsync-serve.service -o cat --no-pager | tail -n 20)"

# Meta: the notification committed, then the lead read from the fake Graph by a resolver
# thread inside the sandbox.
notify=$(jq -cn --argjson lead "$OLD_LEAD" '{object: "page", entry: [{id: "111222333444555", time: 1700000000,
  changes: [{field: "leadgen", value: {leadgen_id: $lead.id, page_id: "111222333444555"}}]}]}')
phone_sql="SELECT count(*) FROM leads_master WHERE phone_number_normalized = normalize_phone('$(jq -r .phone <<<"$OLD_LEAD")')"
before=$(machine_sql "$phone_sql")
signature=sha256=$(printf '%s' "$notify" | openssl dgst -sha256 -hmac "$APP_SECRET" -r | cut -d' ' -f1)
answer=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -H "X-Hub-Signature-256: $signature" -d "$notify" "http://127.0.0.1:${port:-1}/webhooks/meta")
for ((i = 0; i < 100; i++)); do
  [ "$(machine_sql "$phone_sql")" = 1 ] && break
  sleep 0.1
done
tap_is "$before $answer $(machine_sql "$phone_sql") $(machine_sql "SELECT count(*) FROM webhook_inbox WHERE resolved_at IS NOT NULL")" \
  "0 200 1 1" "a signed Meta webhook of a lead the pull did not reach: 200, the lead read from Graph by a sandboxed resolver and stored" ||
  tap_diag "$OLD_LEAD $(in_machine journalctl -u leadsync-serve.service -o cat --no-pager | tail -n 20)"

pid=$(in_machine systemctl show leadsync-serve.service -p MainPID --value)
sandbox=$(in_machine sh -c "grep -E '^(Uid|NoNewPrivs|Seccomp|CapEff):' /proc/$pid/status | awk '{ print \$1 \$2 }' | tr '\n' ' ';
  awk '\$5 == \"/\" { split(\$6, o, \",\"); print \"root=\" o[1] }' /proc/$pid/mountinfo | tail -n 1")
tap_like "$sandbox" '^Uid:[1-9][0-9]* CapEff:0000000000000000 NoNewPrivs:1 Seccomp:2 root=ro$' \
  "the running server: not root, no capabilities, no new privileges, a system call filter, / read-only" ||
  tap_diag "$sandbox"

timer_property() { in_machine systemctl show leadsync-fetch@meta.timer -p "$1" --value; }
next=$(date -d "$(timer_property NextElapseUSecRealtime)" +%s 2>/dev/null || echo 0)
now=$(date +%s)
tap_is "$(timer_property ActiveState) $(timer_property Persistent) $((next > now && next - now <= 930))" "active yes 1" \
  "leadsync-fetch@meta.timer: active, Persistent, its next pull within 15 minutes (at $(date -u -d "@$next" +%H:%M:%S))"

in_machine systemctl stop leadsync-serve.service
tap_is "$(in_machine systemctl show leadsync-serve.service -p Result -p ExecMainStatus --value | tr '\n' ' ')" "success 0 " \
  "systemctl stop leadsync-serve: SIGTERM, and it exits 0"

# --- an upgrade to the next version ---------------------------------------------------------
in_machine systemctl start leadsync-serve.service
before_pid=$(in_machine systemctl show leadsync-serve.service -p MainPID --value)
before_env=$(in_machine md5sum /etc/leadsync/leadsync.env)
in_machine sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i /root/debs/next/leadsync-fetch_*.deb' </dev/null >"$TAP_TMP/upgrade.log" 2>&1
rc=$?
tap_is "$rc $(in_machine dpkg-query -W -f '${Version}' leadsync-fetch)" "0 $next_version" "dpkg -i of the next version ($next_version) upgrades" ||
  tap_diag "$(cat "$TAP_TMP/upgrade.log")"
after_pid=$(in_machine systemctl show leadsync-serve.service -p MainPID --value)
restarted=no
[ "$after_pid" != "$before_pid" ] && [ "$after_pid" != 0 ] && restarted=yes
tap_is "$restarted $(in_machine systemctl is-active leadsync-serve.service leadsync-fetch@meta.timer | tr '\n' ' ')$(
  [ "$(in_machine md5sum /etc/leadsync/leadsync.env)" = "$before_env" ] && echo kept) $(in_machine stat -c '%U:%G %a' /etc/leadsync/leadsync.env)" \
  "yes active active kept root:leadsync 640" \
  "the upgrade restarts the enabled server, leaves the timer running, keeps the edited settings file and its mode"

# --- purge, the server running and a timer enabled ----------------------------------------
in_machine dpkg --purge "${PACKAGES[@]}" >"$TAP_TMP/purge.log" 2>&1
rc=$?
tap_is "$rc $(in_machine systemctl is-active leadsync-serve.service leadsync-fetch@meta.timer | tr '\n' ' ')" \
  "0 inactive inactive " "dpkg --purge stops the server and the enabled timer" || tap_diag "$(cat "$TAP_TMP/purge.log")"
left=$(in_machine find / -xdev \( -path /proc -o -path /root/debs -o -path /var/lib/postgresql \) -prune \
  -o -name '*leadsync*' -print 2>/dev/null | tr '\n' ' ')
tap_is "$left$(in_machine systemctl list-units --all --plain --no-legend 'leadsync*' | tr '\n' ' ')$(in_machine getent passwd leadsync | cut -d: -f1)" \
  "leadsync" "nothing named leadsync is left (units, their links, timer stamps, /etc/leadsync with meta.env), nor any unit loaded; the system user stays"
