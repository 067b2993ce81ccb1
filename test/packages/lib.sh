# shellcheck shell=bash
# Shared by test/packages/*.sh (sourced): what both need of the tree.

# The one PostgreSQL major version the packages are built for (debian/pgversions).
PACKAGES_PG_MAJOR=$(cat "$ROOT/debian/pgversions")
PACKAGES=("postgresql-$PACKAGES_PG_MAJOR-leadsync" leadsync-fetch
  "postgresql-$PACKAGES_PG_MAJOR-leadsync-dbgsym" leadsync-fetch-dbgsym)

# readme_sql MARKER: the README's first ```sql block after the line containing MARKER, so
# that the tests grant exactly what the README tells an operator to grant.
readme_sql() {
  awk -v marker="$1" 'index($0, marker) { found = 1 } found && /^```sql/ { inside = 1; next }
    inside && /^```/ { exit } inside { print }' "$ROOT/README.md"
}
