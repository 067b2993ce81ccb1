// The ids of the built-in sources, remembered for the life of the backend: looking the
// row up cost about a twentieth of a one-lead ingest, for an answer that changes only
// when an admin renames, re-keys or deletes a source.
//
// What is remembered is forgotten when the sources table changes: the extension's
// triggers sources_forget_remembered* raise a relcache invalidation of the table, which
// this backend processes at its next command and every other backend at its next
// ingest once the change commits (as PostgreSQL's own catalog caches do). It is also
// forgotten when any (sub)transaction aborts or is prepared, since it may come from a
// row the abort undid. Under REPEATABLE READ or SERIALIZABLE nothing is remembered.
#pragma once

#include <optional>
#include <string_view>

#include "pg/guard.hpp"

namespace leadsync::pg {

// The remembered id of the source `source_type` of the extension in `schema`, after
// processing pending invalidations.
std::optional<int64> remembered_source_id(Oid schema, std::string_view source_type);

// Remembers it, if the sources table has the triggers that make backends forget;
// `sources_table` is the OID of the schema's sources table.
void remember_source_id(Oid schema, Oid sources_table, std::string_view source_type, int64 id);

}  // namespace leadsync::pg
