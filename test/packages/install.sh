#!/usr/bin/env bash
# The Debian packages on this machine: `apt-get install ./*.deb` of what scripts/packages.sh
# built (LEADSYNC_PACKAGES_DIR), then, against the installed files and never the build
# tree, the pgTAP suite, a fetcher test, the systemd units (verified, and their commands
# run as their user with their environment file), and `dpkg --purge` leaving nothing but
# what the README says stays (the system user leadsync).
#
# Needs root (it installs packages); skipped where leadsync's packages are installed (it
# would purge them). It removes the build tree's `make install` first and puts it back at
# the end, so the machine is left as it was found, but for the system user leadsync. Its
# own PostgreSQL runs on LEADSYNC_PGPORT.
set -u
export TAP_TIMEOUT=${TAP_TIMEOUT:-900}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PACKAGES_DIR=${LEADSYNC_PACKAGES_DIR:-$ROOT/build/packages}
INSTALLED_FETCH=/usr/bin/leadsync-fetch
UNIT_DIR=/lib/systemd/system
ENV_FILE=/etc/leadsync/leadsync.env

if [ "$(id -u)" != 0 ]; then
  echo "1..0 # SKIP installing packages needs root"
  exit 0
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/test/packages/lib.sh"
if dpkg-query -W -f '${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null | grep -q '^[ihr]'; then
  echo "1..0 # SKIP leadsync packages are installed here: this test would purge them"
  exit 0
fi
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib.sh
source "$ROOT/scripts/lib.sh"
export LEADSYNC_FETCH=$INSTALLED_FETCH LEADSYNC_ROOT=$ROOT
# shellcheck source-path=SCRIPTDIR source=../t/lib/tap.sh
source "$ROOT/test/t/lib/tap.sh"
# shellcheck source-path=SCRIPTDIR source=../t/lib/fetch.sh
source "$ROOT/test/t/lib/fetch.sh"

VERSION=$(sed -n 's/^EXTVERSION = //p' "$ROOT/Makefile")
PKGLIBDIR=$(pg_config --pkglibdir)
EXTENSION_DIR=$(pg_config --sharedir)/extension

packages_installed() { dpkg-query -W -f '${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null | grep -c '^ii'; }
purge_packages() { DEBIAN_FRONTEND=noninteractive dpkg --purge "${PACKAGES[@]}"; }

# Whatever happens: the packages gone, the build tree's extension back, the cluster stopped.
packages_cleanup() {
  local status=$?
  [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null
  [ "$(packages_installed)" -gt 0 ] && purge_packages >>"$TAP_TMP/cleanup.log" 2>&1
  if [ "${BUILD_TREE_INSTALLED:-no}" = yes ]; then
    make -s -C "$ROOT" install >>"$TAP_TMP/cleanup.log" 2>&1 || tap_diag "could not reinstall the build tree's extension"
  fi
  stop_cluster
  TAP_DBS=() # gone with the cluster
  (exit "$status")
  fetch_cleanup
}
trap packages_cleanup EXIT

# snapshot FILE: every path under the directories a package may touch, but dpkg's and
# apt's own records, caches and logs.
snapshot() {
  find /etc /usr /lib /opt /var/lib -xdev \
    \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/lib/postgresql \) -prune -o -print | sort >"$1"
}

tap_plan 22

# --- install ----------------------------------------------------------------------------
BUILD_TREE_INSTALLED=no
[ -e "$PKGLIBDIR/leadsync.so" ] && BUILD_TREE_INSTALLED=yes
make -s -C "$ROOT" uninstall >/dev/null 2>&1
USER_BEFORE=no # a fresh machine (CI): the package must create the user
getent passwd leadsync >/dev/null && USER_BEFORE="yes (left by an earlier run)"
tap_is "$(ls "$PKGLIBDIR"/leadsync.so "$EXTENSION_DIR"/leadsync* 2>/dev/null)" "" \
  "before: the build tree's extension is uninstalled, so only the packages can provide it"
snapshot "$TAP_TMP/before.list"

debs=("$PACKAGES_DIR"/*.deb)
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${debs[@]}" \
  >"$TAP_TMP/install.log" 2>&1
tap_is "$?/$(packages_installed)" "0/4" "apt-get install ./*.deb installs the four packages (${#debs[@]} files)" ||
  tap_diag "$(tail -n 20 "$TAP_TMP/install.log")"
for package in "${PACKAGES[@]}"; do dpkg -L "$package"; done | sort -u >"$TAP_TMP/package-files.list"

owners=""
for path in "$PKGLIBDIR/leadsync.so" "$EXTENSION_DIR/leadsync.control" "$EXTENSION_DIR/leadsync--$VERSION.sql" \
            "$EXTENSION_DIR/leadsync--0.2.0--$VERSION.sql" "$INSTALLED_FETCH" /usr/share/man/man1/leadsync-fetch.1.gz \
            "$UNIT_DIR/leadsync-serve.service" "$UNIT_DIR/leadsync-fetch@.service" "$UNIT_DIR/leadsync-fetch@.timer" \
            "$ENV_FILE"; do
  owners+="$(dpkg -S "$path" 2>/dev/null | cut -d: -f1) "
done
tap_is "$owners" "$(printf "postgresql-$PACKAGES_PG_MAJOR-leadsync %.0s" 1 2 3 4)$(printf 'leadsync-fetch %.0s' 1 2 3 4 5 6)" \
  "the extension's library and scripts, the program, its man page, units and settings file belong to the packages"

tap_is "$("$INSTALLED_FETCH" --version) $(dpkg-query -W -f '${Version} ' "postgresql-$PACKAGES_PG_MAJOR-leadsync" leadsync-fetch)" \
  "leadsync-fetch $VERSION $VERSION $VERSION " "one version: the installed program and both packages say $VERSION"

tap_is "$(MANWIDTH=80 man --warnings leadsync-fetch 2>&1 >/dev/null)" "" \
  "man leadsync-fetch renders without a warning"
# Every command and option of --help is in the man page.
missing=""
for word in $("$INSTALLED_FETCH" --help | grep -oE '^  leadsync-fetch +[a-z]+|--[a-z-]+' | sed 's/.* //' | sort -u); do
  MANWIDTH=200 man leadsync-fetch 2>/dev/null | grep -qF -- "$word" || missing+="$word "
done
tap_is "$missing" "" "the man page names every command and option of --help"

# --- the system user and the settings file ------------------------------------------------
IFS=: read -r _ _ user_uid _ _ user_home user_shell < <(getent passwd leadsync)
system_uid=no
[ "${user_uid:-0}" -gt 0 ] && [ "$user_uid" -lt 1000 ] && system_uid=yes
tap_is "$system_uid ${user_home:-} ${user_shell:-} $(id -gn leadsync 2>/dev/null)" "yes /nonexistent /usr/sbin/nologin leadsync" \
  "leadsync is a system user (uid 1 to 999) with no home, no login shell, and a group of its own (there before: $USER_BEFORE)"
tap_is "$(stat -c '%U:%G %a' "$ENV_FILE") $(runuser -u leadsync -- cat "$ENV_FILE" >/dev/null 2>&1 && echo leadsync-reads) $(runuser -u nobody -- cat "$ENV_FILE" >/dev/null 2>&1 && echo others-read)" \
  "root:leadsync 640 leadsync-reads " "$ENV_FILE is root:leadsync 0640: readable by root and leadsync, by no one else"

# --- the systemd units --------------------------------------------------------------------
verify=""
for unit in leadsync-serve.service leadsync-fetch@meta.service leadsync-fetch@knowlarity.timer; do
  verify+="$unit: $(systemd-analyze verify "$unit" 2>&1; echo "rc=$?") "
done
tap_is "$verify" "leadsync-serve.service: rc=0 leadsync-fetch@meta.service: rc=0 leadsync-fetch@knowlarity.timer: rc=0 " \
  "systemd-analyze verify finds nothing to say of the three units"
persistent=$(sed -n 's/^Persistent=//p' "$UNIT_DIR/leadsync-fetch@.timer")
on_calendar=$(sed -n 's/^OnCalendar=//p' "$UNIT_DIR/leadsync-fetch@.timer")
gaps=$(systemd-analyze calendar --iterations=3 "$on_calendar" | sed -n 's/.*\(Next elapse\|Iter\. #[0-9]\): //p' |
  while read -r when; do date -d "$when" +%s; done | awk 'NR > 1 { printf "%d ", $1 - previous } { previous = $1 }')
tap_is "$gaps$persistent" "900 900 true" \
  "the timer fires every 15 minutes ($on_calendar), and catches up a run missed while off (Persistent=true)"
hardening=""
for unit in leadsync-serve.service leadsync-fetch@.service; do
  hardening+="$(grep -cE '^(User=leadsync|NoNewPrivileges=yes|ProtectSystem=strict|EnvironmentFile='"$ENV_FILE"')$' "$UNIT_DIR/$unit") "
done
tap_is "$hardening" "4 4 " "both services run as leadsync, with NoNewPrivileges=yes, ProtectSystem=strict and $ENV_FILE"
exposure=""
for unit in leadsync-serve.service leadsync-fetch@meta.service; do
  exposure+="$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p') "
done
tap_like "$exposure" '^(0\.[0-9]|1\.[0-5]) OK (0\.[0-9]|1\.[0-5]) OK $' \
  "systemd-analyze security rates both services OK, exposure at most 1.5 of 10 ($exposure)"

# --- the installed extension and program, on a PostgreSQL of their own --------------------
start_cluster >/dev/null 2>&1 || tap_abort "cannot start PostgreSQL"
trap packages_cleanup EXIT # start_cluster set its own
createdb leadsync_test && psql -q -X -d leadsync_test -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION leadsync"
# The library a backend mapped once it called the extension, and who owns that file.
loaded=$(psql -X -At -d leadsync_test -c "SELECT normalize_phone('9845012345')" \
  -c "SELECT pg_read_file('/proc/self/maps')" | grep -o '/[^ ]*leadsync\.so$' | sort -u)
tap_is "$loaded $(dpkg -S "${loaded:-/none}" 2>/dev/null | cut -d: -f1)" "$PKGLIBDIR/leadsync.so postgresql-$PACKAGES_PG_MAJOR-leadsync" \
  "a backend calling the extension maps the packaged library"
pg_prove -d leadsync_test "$ROOT"/test/sql/*.sql >"$TAP_TMP/pg_prove.log" 2>&1
tap_is "$?" 0 "the pgTAP suite passes against the installed extension: $(grep -E '^(Files=|Result:)' "$TAP_TMP/pg_prove.log" | tr '\n' ' ')" ||
  tap_diag "$(tail -n 40 "$TAP_TMP/pg_prove.log")"
prove "$ROOT/test/t/fetch_sync.sh" >"$TAP_TMP/prove.log" 2>&1
tap_is "$?" 0 "test/t/fetch_sync.sh passes with the installed $INSTALLED_FETCH: $(grep -E '^(Files=|Result:)' "$TAP_TMP/prove.log" | tr '\n' ' ')" ||
  tap_diag "$(tail -n 40 "$TAP_TMP/prove.log")"

# unit_command UNIT INSTANCE: sets UNIT_COMMAND to the installed unit's ExecStart, run as its
# User, with its EnvironmentFile= variables and nothing else: what systemd would start
# (less the sandbox, which needs systemd as PID 1). setpriv and env exec, so the command's
# process is the one started, as under systemd.
unit_command() {
  local file=$UNIT_DIR/$1 instance=$2 user exec line env_file variables=(PATH=/usr/bin:/bin)
  user=$(sed -n 's/^User=//p' "$file")
  exec=$(sed -n 's/^ExecStart=//p' "$file")
  while read -r env_file; do
    env_file=${env_file//%i/$instance}
    [[ $env_file == -* ]] && { env_file=${env_file#-}; [ -e "$env_file" ] || continue; }
    while IFS= read -r line; do
      [[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] && variables+=("$line")
    done <"$env_file"
  done < <(sed -n 's/^EnvironmentFile=//p' "$file")
  # shellcheck disable=SC2206  # ExecStart is words
  UNIT_COMMAND=(setpriv --reuid="$user" --regid="$user" --init-groups -- env -i "${variables[@]}" ${exec//%i/$instance})
}

fetch_start_fake --leads-per-form 5 --calls 5 --google-leads 5 --seed 11 || tap_abort "cannot start the fake platforms"
tap_create_db units || tap_abort "cannot create the database"
# The database role as the README's "As systemd services" sets it up: its grants and nothing else.
grants=$(readme_sql "The database role it connects as needs:"; readme_sql "beyond those, its Meta inbox:")
tap_sql "CREATE ROLE leadsync LOGIN" "${grants//lead_fetch/leadsync}" >/dev/null ||
  tap_diag "the README's grants failed: $grants"
GOOGLE_KEY=google-webhook-key-Pk7
# The settings file as an operator would fill it in (its owner and mode stay the package's).
cat >"$ENV_FILE" <<EOF
DATABASE_URL=host=$PGHOST port=$PGPORT user=leadsync dbname=$TAP_DB
META_GRAPH_URL=$META_GRAPH_URL
META_ACCESS_TOKEN=$META_ACCESS_TOKEN
META_PAGE_ID=$META_PAGE_ID
LEADSYNC_FIRST_LOOKBACK_HOURS=72
GOOGLE_ADS_WEBHOOK_KEY=$GOOGLE_KEY
LEADSYNC_LISTEN=127.0.0.1:0
EOF
unit_command leadsync-fetch@.service meta
"${UNIT_COMMAND[@]}" >"$TAP_TMP/unit-meta.out" 2>"$TAP_TMP/unit-meta.err"
rc=$?
stored=$(tap_sql "SELECT count(*) FROM leads_master")
tap_like "$rc $(jq -r '"\(.source) \(.insertedNew)"' "$TAP_TMP/unit-meta.out" 2>/dev/null) $stored" '^0 meta_form ([1-9][0-9]*) \1$' \
  "leadsync-fetch@meta.service's command, as leadsync with the settings file and the README's grants: exit 0, its new leads stored" ||
  tap_diag "$(cat "$TAP_TMP/unit-meta.out" "$TAP_TMP/unit-meta.err")"

unit_command leadsync-serve.service ""
"${UNIT_COMMAND[@]}" >"$TAP_TMP/unit-serve.out" 2>"$TAP_TMP/unit-serve.err" &
SERVE_PID=$!
port=""
for ((i = 0; i < 200; i++)); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TAP_TMP/unit-serve.err")
  [ -n "$port" ] && break
  sleep 0.05
done
lead=$(google_lead pkg-1 "+91 98450 55501" "$GOOGLE_KEY")
answer=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$lead" \
  "http://127.0.0.1:${port:-1}/webhooks/google")
pending=$(curl -sS --max-time 10 "http://127.0.0.1:${port:-1}/metrics" | sed -n 's/^leadsync_webhook_inbox_pending //p')
tap_is "$answer $(tap_sql "SELECT count(*) FROM leads_master WHERE phone_number_normalized = normalize_phone('+91 98450 55501')") $pending" "200 1 0" \
  "leadsync-serve.service's command, as leadsync: a Google webhook answered 200 and stored, the inbox readable for /metrics" ||
  tap_diag "$(cat "$TAP_TMP/unit-serve.err")"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
tap_is "$?" 0 "... and on systemd's SIGTERM it exits 0"
SERVE_PID=""

# --- purge --------------------------------------------------------------------------------
purge_packages >"$TAP_TMP/purge.log" 2>&1
tap_is "$?/$(dpkg-query -W -f '${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null | grep -vc '^un\|^$')" "0/0" \
  "dpkg --purge removes the four packages, none left in config-files state" || tap_diag "$(cat "$TAP_TMP/purge.log")"
left=""
while IFS= read -r path; do
  [ -e "$path" ] && [ ! -d "$path" ] && left+="$path "
done <"$TAP_TMP/package-files.list"
[ -e /etc/leadsync ] && left+="/etc/leadsync "
dpkg-statoverride --list | grep -q leadsync && left+="a statoverride "
tap_is "$left" "" "no file of theirs remains, nor /etc/leadsync (the secrets), nor its statoverride"
snapshot "$TAP_TMP/after.list"
# adduser's backups of the account files are the system user's traces.
tap_is "$(comm -13 "$TAP_TMP/before.list" "$TAP_TMP/after.list" | grep -vE '^/etc/(passwd|group|shadow|gshadow)-$')" "" \
  "nothing new is left anywhere under /etc, /usr, /lib, /opt or /var/lib (systemd's enablement state included)"
tap_is "$(getent passwd leadsync | cut -d: -f1)" leadsync \
  "the system user leadsync stays, as the README says (Debian keeps system users: files may still be theirs)"
