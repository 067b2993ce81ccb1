# Shared by scripts/demo.sh and scripts/test.sh: packages, build, a throwaway cluster.
# Source it; it defines functions and sets nothing else in motion.

LEADSYNC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LEADSYNC_BUILD_DIR=${LEADSYNC_BUILD_DIR:-$LEADSYNC_ROOT/build}
LEADSYNC_PGPORT=${LEADSYNC_PGPORT:-54329}

LEADSYNC_PACKAGES=(
  build-essential cmake pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap postgresql-15-cron
  libtap-parser-sourcehandler-pgtap-perl
  libgtest-dev nlohmann-json3-dev libpq-dev libcurl4-openssl-dev libssl-dev libmicrohttpd-dev
  python3 curl jq time bsdutils openssl wrk
  clang-14 libclang-rt-14-dev valgrind
)

log() { printf '\n== %s\n' "$*" >&2; }

# as_root COMMAND...: runs COMMAND as root (through sudo unless we are root).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt_get ARGS...: apt-get as root, never asking.
apt_get() { as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }

# Installs the Debian packages leadsync needs. LEADSYNC_SKIP_INSTALL=1 skips it
# when they are known to be there.
install_packages() {
  [ "${LEADSYNC_SKIP_INSTALL:-0}" = 1 ] && return 0
  log "installing packages"
  apt_get update
  apt_get install --no-install-recommends "${LEADSYNC_PACKAGES[@]}"
}

# What scripts/packages.sh needs beyond LEADSYNC_PACKAGES: Debian's packaging tools and
# pg_buildext; and test/packages/systemd.sh: a container booted with systemd.
LEADSYNC_PACKAGING_PACKAGES=(debhelper devscripts dpkg-dev postgresql-server-dev-all lintian
  systemd-container debootstrap)

install_packaging_tools() {
  [ "${LEADSYNC_SKIP_INSTALL:-0}" = 1 ] && return 0
  log "installing the packaging tools"
  apt_get install --no-install-recommends "${LEADSYNC_PACKAGING_PACKAGES[@]}"
}

# Builds and installs the extension (PGXS), and the core, unit tests and tools (CMake).
build_all() {
  log "building"
  make -C "$LEADSYNC_ROOT" -s -j"$(nproc)"
  as_root make -C "$LEADSYNC_ROOT" -s install
  cmake -S "$LEADSYNC_ROOT" -B "$LEADSYNC_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$LEADSYNC_BUILD_DIR" -j"$(nproc)"
}

# Runs a command as the postgres user when we are root: PostgreSQL refuses root.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts a private cluster (own port, own socket directory, trust auth on the socket
# only) and exports PGHOST/PGPORT/PGUSER for psql, pg_prove and the tests.
start_cluster() {
  local bindir
  bindir=$(pg_config --bindir)
  LEADSYNC_CLUSTER_DIR=$(mktemp -d /tmp/leadsync-pg.XXXXXX)
  chmod 755 "$LEADSYNC_CLUSTER_DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$LEADSYNC_CLUSTER_DIR"
  log "starting a throwaway PostgreSQL in $LEADSYNC_CLUSTER_DIR (port $LEADSYNC_PGPORT)"
  as_postgres "$bindir/initdb" -D "$LEADSYNC_CLUSTER_DIR/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >/dev/null
  as_postgres "$bindir/pg_ctl" -D "$LEADSYNC_CLUSTER_DIR/data" -l "$LEADSYNC_CLUSTER_DIR/server.log" -w \
    -o "-p $LEADSYNC_PGPORT -k $LEADSYNC_CLUSTER_DIR -c listen_addresses= -c fsync=off ${LEADSYNC_PG_OPTIONS:-}" \
    start >/dev/null
  export PGHOST=$LEADSYNC_CLUSTER_DIR PGPORT=$LEADSYNC_PGPORT PGUSER=postgres
  trap stop_cluster EXIT
}

stop_cluster() {
  [ -n "${LEADSYNC_CLUSTER_DIR:-}" ] || return 0
  as_postgres "$(pg_config --bindir)/pg_ctl" -D "$LEADSYNC_CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$LEADSYNC_CLUSTER_DIR"
  LEADSYNC_CLUSTER_DIR=""
}
