#!/usr/bin/env bash
# The distribution: META.json valid against the PGXN Meta Spec 1.0.0's rules (and the
# checker refusing what breaks them), one version everywhere, and `make dist` writing
# leadsync-<version>.zip as PGXN expects. Needs no database.
set -u
source "$(dirname "$0")/lib/tap.sh"
ROOT=${LEADSYNC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${LEADSYNC_BUILD_DIR:-$ROOT/build}
CHECK=$ROOT/test/pgxn/check_meta.py
tap_plan 6

tap_is "$(python3 "$CHECK" "$ROOT/META.json" --dist-root "$ROOT" 2>&1)" "" \
  "META.json follows the PGXN Meta Spec 1.0.0, and the files it names exist"

# broken JQ-FILTER: META.json changed by the filter; prints what the checker says of it.
broken() { jq "$1" "$ROOT/META.json" >"$TAP_TMP/broken.json" && python3 "$CHECK" "$TAP_TMP/broken.json" --dist-root "$ROOT"; }
refusals=""
for change in 'del(.abstract)' '.version = "0.3"' '.license = "gpl-3"' 'del(.provides.leadsync.file)' \
              '.provides.leadsync.file = "sql/missing.sql"' '.["meta-spec"].version = "2.0.0"' '.name = "a/b"' \
              '.prereqs.runtime.requires.PostgreSQL = "15"' '.maintainer = []'; do
  broken "$change" >/dev/null 2>&1 || refusals+=x
done
tap_is "$refusals" "xxxxxxxxx" "the checker refuses each of nine broken variants (a missing key, a bad SemVer, license, path, spec version, name, range, maintainer)"

# One version: the Makefile's EXTVERSION, the control file, META.json (twice), the Debian
# changelog, CMake, leadsync-fetch --version and its man page.
version=$(sed -n 's/^EXTVERSION = //p' "$ROOT/Makefile")
tap_is "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/extension/leadsync.control") $(jq -r '.version + " " + .provides.leadsync.version' "$ROOT/META.json") $(head -n 1 "$ROOT/debian/changelog" | sed 's/^leadsync (\([^)]*\)).*/\1/') $(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt") $("$BUILD/fetcher/leadsync-fetch" --version) $(sed -n 's/^\.TH .* "leadsync \([^"]*\)".*/\1/p' "$BUILD/fetcher/leadsync-fetch.1")" \
  "$version $version $version $version $version leadsync-fetch $version $version" \
  "one version everywhere ($version): Makefile, control file, META.json, debian/changelog, CMake, leadsync-fetch --version, its man page"

# make dist, from what git tracks (HEAD).
zip=$ROOT/leadsync-$version.zip
rm -f "$zip"
make -s -C "$ROOT" dist >"$TAP_TMP/dist.out" 2>&1
tap_ok "make dist writes leadsync-$version.zip" test -s "$zip"
python3 - "$zip" "$version" >"$TAP_TMP/dist.check" 2>&1 <<'PY'
import sys, zipfile
path, version = sys.argv[1], sys.argv[2]
top = "leadsync-%s/" % version
names = zipfile.ZipFile(path).namelist()
outside = [n for n in names if not n.startswith(top)]
print("outside %d" % len(outside))
for needed in ("META.json", "Makefile", "extension/leadsync.control", "sql/install/1_leads.sql", "README.md"):
    print("%s %s" % (needed, (top + needed) in names))
print("build %s" % any("/build/" in n or n.endswith(".o") or n.endswith(".so") for n in names))
PY
tap_is "$(cat "$TAP_TMP/dist.check")" "outside 0
META.json True
Makefile True
extension/leadsync.control True
sql/install/1_leads.sql True
README.md True
build False" "every file under leadsync-$version/ (META.json at its top, the sources, no build output)"
mkdir -p "$TAP_TMP/unzipped"
(cd "$TAP_TMP/unzipped" && python3 -m zipfile -e "$zip" .)
tap_is "$(python3 "$CHECK" "$TAP_TMP/unzipped/leadsync-$version/META.json" --dist-root "$TAP_TMP/unzipped/leadsync-$version" 2>&1)" "" \
  "the archive's own META.json passes the check against the archive's files"
rm -f "$zip"
