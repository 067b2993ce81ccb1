#include "pg/row_lookup.hpp"

#include <cstring>

extern "C" {
#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace leadsync::pg {
namespace {

AttrNumber column_number(Relation heap, const char* name) {
  AttrNumber number = get_attnum(RelationGetRelid(heap), name);
  if (number == InvalidAttrNumber)
    elog(ERROR, "leadsync: table %s has no column %s", RelationGetRelationName(heap), name);
  return number;
}

// The valid, non-partial unique index of `heap` whose key columns are `keys`, in order.
Oid find_unique_index(Relation heap, const KeyColumn* keys, std::size_t key_count) {
  List* indexes = RelationGetIndexList(heap);
  ListCell* cell;
  foreach (cell, indexes) {
    Relation index = index_open(lfirst_oid(cell), AccessShareLock);
    Form_pg_index form = index->rd_index;
    bool matches = form->indisunique && form->indisvalid && form->indimmediate &&
                   form->indnkeyatts == static_cast<int>(key_count) && RelationGetIndexPredicate(index) == NIL;
    for (std::size_t i = 0; matches && i < key_count; ++i)
      matches = form->indkey.values[i] == column_number(heap, keys[i].name);
    const Oid index_oid = RelationGetRelid(index);
    index_close(index, AccessShareLock);
    if (matches) {
      list_free(indexes);
      return index_oid;
    }
  }
  elog(ERROR, "leadsync: table %s has no unique index on the columns it looks rows up by",
       RelationGetRelationName(heap));
  return InvalidOid;
}

// The tables and indexes find_row has resolved in this backend: finding them by name and
// trying each index of the table cost more than the index probe itself. An entry goes
// when its table or index changes (any relcache invalidation of either: DDL, a dropped
// extension). Lock acquisition processes pending invalidations, so once the table is
// locked, its name, and an entry read then, are current.
struct ResolvedIndex {
  Oid schema;
  const char* table;  // find_row's callers pass string literals
  const char* keys[INDEX_MAX_KEYS];
  std::size_t key_count;
  Oid table_oid;
  Oid index_oid;
};
constexpr int kMaxResolved = 8;
ResolvedIndex resolved[kMaxResolved];
int resolved_count = 0;
bool invalidation_registered = false;

void forget_resolved(Datum, Oid relation) {
  int kept = 0;
  for (int i = 0; i < resolved_count; ++i)
    if (OidIsValid(relation) && resolved[i].table_oid != relation && resolved[i].index_oid != relation)
      resolved[kept++] = resolved[i];
  resolved_count = kept;
}

ResolvedIndex* find_resolved(Oid schema, const char* table, const KeyColumn* keys, std::size_t key_count) {
  for (int i = 0; i < resolved_count; ++i) {
    ResolvedIndex& entry = resolved[i];
    bool matches = entry.schema == schema && entry.key_count == key_count && strcmp(entry.table, table) == 0;
    for (std::size_t k = 0; matches && k < key_count; ++k) matches = strcmp(entry.keys[k], keys[k].name) == 0;
    if (matches) return &entry;
  }
  return nullptr;
}

// Opens `schema`.`table` (AccessShareLock) and returns it with the OID of its unique index
// on `keys`. The OID found by name (or remembered) before the lock may be another
// relation's by the time the lock is granted: a session that renamed, swapped or dropped
// the table committed meanwhile. So the name is checked once the table is locked, and
// looked up again when it no longer matches, as RangeVarGetRelidExtended does.
Relation open_table(Oid schema, const char* table, const KeyColumn* keys, std::size_t key_count, Oid* index_oid) {
  if (!invalidation_registered) {
    CacheRegisterRelcacheCallback(forget_resolved, Datum(0));
    invalidation_registered = true;
  }
  for (int attempt = 0;; ++attempt) {
    const ResolvedIndex* entry = find_resolved(schema, table, keys, key_count);
    const Oid table_oid = entry ? entry->table_oid : get_relname_relid(table, schema);
    if (!OidIsValid(table_oid)) elog(ERROR, "leadsync: table %s is missing", table);
    Relation heap = try_table_open(table_oid, AccessShareLock);
    if (heap != nullptr && RelationGetNamespace(heap) == schema && strcmp(RelationGetRelationName(heap), table) == 0) {
      entry = find_resolved(schema, table, keys, key_count);
      if (entry && entry->table_oid == table_oid) {
        *index_oid = entry->index_oid;
        return heap;
      }
      *index_oid = find_unique_index(heap, keys, key_count);
      if (resolved_count < kMaxResolved) {
        ResolvedIndex& added = resolved[resolved_count++];
        added.schema = schema;
        added.table = table;
        for (std::size_t k = 0; k < key_count; ++k) added.keys[k] = keys[k].name;
        added.key_count = key_count;
        added.table_oid = table_oid;
        added.index_oid = *index_oid;
      }
      return heap;
    }
    // Gone or renamed while this call waited for the lock: forget it, look the name up again.
    if (heap != nullptr) table_close(heap, AccessShareLock);
    forget_resolved(Datum(0), table_oid);
    if (attempt == 3) elog(ERROR, "leadsync: table %s keeps changing while it is looked up", table);
  }
}

RegProcedure equality_function(Oid type) {
  if (type == TEXTOID) return F_TEXTEQ;
  if (type == INT8OID) return F_INT8EQ;
  elog(ERROR, "leadsync: no key equality for type %u", type);
  return InvalidOid;
}

}  // namespace

bool find_row(Oid schema, const char* table, const KeyColumn* keys, std::size_t key_count, ReadColumn* columns,
              std::size_t column_count) {
  return call_postgres([&]() -> bool {
    Oid index_oid;
    Relation heap = open_table(schema, table, keys, key_count, &index_oid);
    Relation index = index_open(index_oid, AccessShareLock);

    ScanKeyData scan_keys[INDEX_MAX_KEYS];
    for (std::size_t i = 0; i < key_count; ++i)
      ScanKeyEntryInitialize(&scan_keys[i], 0, static_cast<AttrNumber>(i + 1), BTEqualStrategyNumber, InvalidOid,
                             index->rd_indcollation[i], equality_function(keys[i].type), keys[i].value);

    Snapshot snapshot = RegisterSnapshot(GetTransactionSnapshot());
    IndexScanDesc scan = index_beginscan(heap, index, snapshot, static_cast<int>(key_count), 0);
    index_rescan(scan, scan_keys, static_cast<int>(key_count), nullptr, 0);
    TupleTableSlot* slot = table_slot_create(heap, nullptr);
    const bool found = index_getnext_slot(scan, ForwardScanDirection, slot);
    if (found) {
      TupleDesc descriptor = RelationGetDescr(heap);
      for (std::size_t c = 0; c < column_count; ++c) {
        AttrNumber number = column_number(heap, columns[c].name);
        Datum value = slot_getattr(slot, number, &columns[c].is_null);
        Form_pg_attribute attribute = TupleDescAttr(descriptor, number - 1);
        if (columns[c].is_null)
          columns[c].value = Datum(0);
        else if (attribute->attlen == -1)  // detoasted now: the row may be gone once the scan ends
          columns[c].value = PointerGetDatum(PG_DETOAST_DATUM_COPY(value));
        else
          columns[c].value = datumCopy(value, attribute->attbyval, attribute->attlen);
      }
    }
    ExecDropSingleTupleTableSlot(slot);
    index_endscan(scan);
    UnregisterSnapshot(snapshot);
    index_close(index, NoLock);  // locks are kept to the end of the transaction, as by a SELECT
    table_close(heap, NoLock);
    return found;
  });
}

}  // namespace leadsync::pg
