#include "pg/remembered_sources.hpp"

#include <string>
#include <vector>

extern "C" {
#include "access/table.h"
#include "commands/trigger.h"
#include "utils/inval.h"
#include "utils/rel.h"
}

namespace leadsync::pg {
namespace {

struct RememberedSource {
  Oid schema;
  Oid sources_table;
  std::string source_type;
  int64 id;
};

// A handful of entries at most: one per built-in source type.
std::vector<RememberedSource> remembered;
bool callbacks_registered = false;

// PostgreSQL calls these; nothing in them can throw.
void forget_on_invalidation(Datum, Oid relation) noexcept {
  if (!OidIsValid(relation)) {  // everything was invalidated
    remembered.clear();
    return;
  }
  for (const RememberedSource& entry : remembered) {
    if (entry.sources_table == relation) {
      remembered.clear();
      return;
    }
  }
}

// An abort may undo the row an id came from; after PREPARE TRANSACTION, the row is
// neither committed nor this session's any more.
void forget_on_abort(XactEvent event, void*) noexcept {
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
    remembered.clear();
}

void forget_on_subtransaction_abort(SubXactEvent event, SubTransactionId, SubTransactionId, void*) noexcept {
  if (event == SUBXACT_EVENT_ABORT_SUB) remembered.clear();
}

// Whether the sources table has both triggers that make backends forget, enabled ALWAYS
// (the schema of 0.2.0 on; sql/install/1_leads.sql names them). A database still on an older
// schema with this library installed has none, and a trigger enabled only for origin or
// replica sessions misses the other kind's changes: there every call reads the row.
bool table_signals_changes(Oid sources_table) {
  return call_postgres([&] {
    Relation table = table_open(sources_table, AccessShareLock);
    int found = 0;
    for (int i = 0; table->trigdesc != nullptr && i < table->trigdesc->numtriggers; ++i) {
      const Trigger& trigger = table->trigdesc->triggers[i];
      if (trigger.tgenabled == TRIGGER_FIRES_ALWAYS &&
          (strcmp(trigger.tgname, "sources_forget_remembered") == 0 ||
           strcmp(trigger.tgname, "sources_forget_remembered_on_truncate") == 0))
        ++found;
    }
    table_close(table, NoLock);
    return found == 2;
  });
}

}  // namespace

std::optional<int64> remembered_source_id(Oid schema, std::string_view source_type) {
  if (remembered.empty()) return std::nullopt;
  // A change another session committed since this transaction began is seen now, as a
  // fresh snapshot would see it.
  call_postgres([] { AcceptInvalidationMessages(); });
  for (const RememberedSource& entry : remembered)
    if (entry.schema == schema && entry.source_type == source_type) return entry.id;
  return std::nullopt;
}

void remember_source_id(Oid schema, Oid sources_table, std::string_view source_type, int64 id) {
  if (!callbacks_registered) {
    call_postgres([] {
      CacheRegisterRelcacheCallback(forget_on_invalidation, Datum(0));
      RegisterXactCallback(forget_on_abort, nullptr);
      RegisterSubXactCallback(forget_on_subtransaction_abort, nullptr);
    });
    callbacks_registered = true;
  }
  // Under REPEATABLE READ or SERIALIZABLE the id was read with the transaction's
  // snapshot, which may predate a change whose invalidation this backend has already
  // accepted: used for this call (as any read of the transaction would be), not kept.
  if (IsolationUsesXactSnapshot() || !table_signals_changes(sources_table)) return;
  for (RememberedSource& entry : remembered) {
    if (entry.schema == schema && entry.source_type == source_type) {
      entry.sources_table = sources_table;
      entry.id = id;
      return;
    }
  }
  remembered.push_back({schema, sources_table, std::string(source_type), id});
}

}  // namespace leadsync::pg
