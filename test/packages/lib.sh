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

# google_lead ID PHONE KEY: a Google Ads lead form webhook's body.
google_lead() {
  jq -cn --arg id "$1" --arg phone "$2" --arg key "$3" '{lead_id: $id, api_version: "1.0", form_id: 1,
    campaign_id: 1, google_key: $key, is_test: false, user_column_data: [{column_id: "PHONE_NUMBER", string_value: $phone}]}'
}
