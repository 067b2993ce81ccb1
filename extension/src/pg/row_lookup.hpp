// Reads one row of the extension's own tables through a unique index, without an
// executor: starting a plan costs more than the lookup itself, and a one-lead ingest
// (ingest_lead) that finds its lead needs nothing else.
#pragma once

#include <cstddef>

#include "pg/guard.hpp"

namespace leadsync::pg {

// One key column: its name and value (text compared with texteq, bigint with int8eq).
struct KeyColumn {
  const char* name;
  Datum value;
  Oid type;  // TEXTOID or INT8OID
};

// One column to read: its name, then its value (copied into the current memory
// context) or is_null.
struct ReadColumn {
  const char* name;
  Datum value = 0;
  bool is_null = true;
};

// Looks up the row of `schema`.`table` whose key columns equal `keys`, through the
// table's unique index on exactly those columns, and fills `columns`. False when no row
// is visible. Sees what a SELECT run at this point would (a fresh snapshot in READ
// COMMITTED) and takes the same lock (AccessShareLock, until the transaction ends).
// Raises an error when the table has no such index.
bool find_row(Oid schema, const char* table, const KeyColumn* keys, std::size_t key_count, ReadColumn* columns,
              std::size_t column_count);

}  // namespace leadsync::pg
