#include "pg/row_lookup.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
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

// The valid, non-partial unique index of `heap` whose key columns are `keys`, in order;
// opened with AccessShareLock.
Relation open_unique_index(Relation heap, const KeyColumn* keys, std::size_t key_count) {
  List* indexes = RelationGetIndexList(heap);
  ListCell* cell;
  foreach (cell, indexes) {
    Relation index = index_open(lfirst_oid(cell), AccessShareLock);
    Form_pg_index form = index->rd_index;
    bool matches = form->indisunique && form->indisvalid && form->indimmediate &&
                   form->indnkeyatts == static_cast<int>(key_count) && RelationGetIndexPredicate(index) == NIL;
    for (std::size_t i = 0; matches && i < key_count; ++i)
      matches = form->indkey.values[i] == column_number(heap, keys[i].name);
    if (matches) {
      list_free(indexes);
      return index;
    }
    index_close(index, AccessShareLock);
  }
  elog(ERROR, "leadsync: table %s has no unique index on the columns it looks rows up by",
       RelationGetRelationName(heap));
  return nullptr;
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
    Oid table_oid = get_relname_relid(table, schema);
    if (!OidIsValid(table_oid)) elog(ERROR, "leadsync: table %s is missing", table);
    Relation heap = table_open(table_oid, AccessShareLock);
    Relation index = open_unique_index(heap, keys, key_count);

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
