#!/usr/bin/env bash
# Builds the Debian packages postgresql-15-leadsync and leadsync-fetch (with their debug
# symbols) from this tree (as root, with no network: unshare -n), and checks them with
# lintian (no error may remain). Installs the packaging tools and debian/control's build
# dependencies first, unless LEADSYNC_SKIP_INSTALL=1. Builds in a copy of the tree's source files, so build output here is never
# packaged; writes the .deb files to build/packages/ (or the directory given).
#
#   bash scripts/packages.sh && sudo apt-get install ./build/packages/*.deb
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out=${1:-$LEADSYNC_BUILD_DIR/packages}
if [ "${LEADSYNC_SKIP_INSTALL:-0}" != 1 ]; then
  apt_get update
  install_packaging_tools
  log "installing the build dependencies debian/control names"
  apt_get build-dep "$LEADSYNC_ROOT"
fi

version=$(sed -n 's/^EXTVERSION = //p' "$LEADSYNC_ROOT/Makefile")
git -C "$LEADSYNC_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 || {
  echo "scripts/packages.sh copies the files git knows: in an unpacked archive, run dpkg-buildpackage -us -uc -b there" >&2
  exit 2
}
work=$(mktemp -d /tmp/leadsync-packages.XXXXXX)
trap 'rm -rf "$work"' EXIT
log "copying the source files to $work/leadsync-$version"
mkdir "$work/leadsync-$version"
# Tracked and new files, not ignored ones (build output); a tracked file deleted here is skipped.
git -C "$LEADSYNC_ROOT" ls-files -z --cached --others --exclude-standard |
  (cd "$LEADSYNC_ROOT" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
  tar -C "$LEADSYNC_ROOT" --null -T - -cf - | tar -C "$work/leadsync-$version" -xf -

# As root, in a network namespace of its own (a loopback, down): proof that the build
# needs no network.
offline=()
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  offline=(unshare -n)
  log "dpkg-buildpackage -us -uc -b, with no network (unshare -n)"
else
  log "dpkg-buildpackage -us -uc -b"
fi
(cd "$work/leadsync-$version" && "${offline[@]}" dpkg-buildpackage -us -uc -b)

log "lintian (no error may remain; warnings and notes shown)"
changes=$(ls "$work"/leadsync_"$version"_*.changes)
lintian --fail-on error --display-info --info --suppress-tags-from-file /dev/null "$changes"

mkdir -p "$out"
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
log "packages in $out:"
ls -1 "$out"
