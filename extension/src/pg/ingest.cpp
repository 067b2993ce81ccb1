// ingest_lead / ingest_leads: extraction in the C++ core, then the three-case dedup as a
// few set-based statements per batch (DESIGN.md, "The three cases" and "Concurrency").
//
// Per batch, in one transaction, after recording its rejects:
//   0. look up which phones have a lead, and which of those have this source's row
//      (read-only: case B needs no write at all);
//   1. insert the other phones into leads_master, ON CONFLICT DO NOTHING;
//   2. insert this source's history row for every lead that lacked one, ON CONFLICT DO
//      NOTHING — in READ COMMITTED this statement's fresh snapshot sees leads that a
//      concurrent batch committed while statement 1 waited for it;
//   3. update the source's counters once, by the rows step 2 wrote.
// Rows are written in phone order so concurrent batches lock in one order; a large
// batch runs steps 0 and 1 slice by slice, then step 2 slice by slice (write_batch).
// Statements use generic plans: planned once per backend, not per call, and those that
// look rows up by key never as whole-table scans (execute).
// A batch of one lead (every ingest_lead) takes a shorter path with the same rules:
// step 0 reads the unique indexes directly (find_row), steps 1 and 2 are one statement
// that takes scalars instead of arrays, and the row's "today" is decided in C++.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.hpp"
#include "core/extract.hpp"
#include "pg/field_map.hpp"
#include "pg/guard.hpp"
#include "pg/ingest.hpp"
#include "pg/jsonb_access.hpp"
#include "pg/remembered_sources.hpp"
#include "pg/row_lookup.hpp"
#include "pg/settings.hpp"

namespace leadsync::pg {
namespace {

// ---------------------------------------------------------------------------
// Prepared statements, kept for the life of the backend. "@S@" is the quoted
// schema of the extension; every other name is qualified with pg_catalog.
// ---------------------------------------------------------------------------

constexpr const char* kEnsureSourceSql = "SELECT @S@.ensure_source($1, $2)";

// The batch statements take their rows as parallel arrays, unnested side by side in a
// select list: that streams the rows in array order (and the arrays arrive sorted by
// phone), where ROWS FROM (...) or WITH ORDINALITY would first copy every row into a
// tuplestore, written to disk past work_mem: 98 MB of temporary files for a call of 100k
// Meta leads, and 7% of its time.
constexpr const char* kInsertLeadsSql =
    "INSERT INTO @S@.leads_master AS l"
    "  (phone_number_normalized, full_name, external_lead_id, raw_payload,"
    "   platform_created_at, source_id)"
    " SELECT u.phone, u.full_name, u.external_id, u.payload, u.created_at, $6"
    "   FROM (SELECT pg_catalog.unnest($1::pg_catalog.text[]) AS phone,"
    "                pg_catalog.unnest($2::pg_catalog.text[]) AS full_name,"
    "                pg_catalog.unnest($3::pg_catalog.text[]) AS external_id,"
    "                pg_catalog.unnest($4::pg_catalog.jsonb[]) AS payload,"
    "                pg_catalog.unnest($5::pg_catalog.timestamptz[]) AS created_at) AS u"
    " ON CONFLICT (phone_number_normalized) DO NOTHING"
    " RETURNING l.phone_number_normalized, l.id";

// Step 2 of a batch. $5 holds the ids of the leads step 1 created (is_primary), NULL for
// the others: their lead is looked up by phone and locked as its foreign-key check would
// (FOR KEY SHARE), so that a lead being deleted is waited for and then skipped, instead
// of failing that check. Returns the rows written and how many of them are today's: a
// row counts for today when its platform time (else its arrival) falls on today's
// business date $7 (write_one decides the same for its one row: counts_for_today).
constexpr const char* kInsertHistorySql =
    "WITH inserted AS ("
    "  INSERT INTO @S@.lead_sources_history AS h"
    "    (lead_id, source_id, external_id, raw_payload, is_primary, platform_created_at)"
    "  SELECT v.lead_id, $6, v.external_id, v.payload, v.is_primary, v.created_at"
    "    FROM (SELECT COALESCE(u.new_id, (SELECT l.id FROM @S@.leads_master AS l"
    "                                      WHERE l.phone_number_normalized OPERATOR(pg_catalog.=) u.phone"
    "                                      FOR KEY SHARE OF l)) AS lead_id,"
    "                 u.external_id, u.payload, u.created_at, u.new_id IS NOT NULL AS is_primary"
    "            FROM (SELECT pg_catalog.unnest($1::pg_catalog.text[]) AS phone,"
    "                         pg_catalog.unnest($2::pg_catalog.text[]) AS external_id,"
    "                         pg_catalog.unnest($3::pg_catalog.jsonb[]) AS payload,"
    "                         pg_catalog.unnest($4::pg_catalog.timestamptz[]) AS created_at,"
    "                         pg_catalog.unnest($5::pg_catalog.int8[]) AS new_id) AS u OFFSET 0) AS v"
    "   WHERE v.lead_id IS NOT NULL"
    "  ON CONFLICT (lead_id, source_id) DO NOTHING"
    "  RETURNING @S@.business_date(COALESCE(h.platform_created_at, h.received_at)) OPERATOR(pg_catalog.=) $7"
    "            AS today)"
    " SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE i.today) FROM inserted AS i";

// Step 3: adds $2 rows, $3 of them today's, to the counters of source $1, where $4 is
// today's business date: a count of an earlier day is replaced, not added to (the daily
// rollover). The call's last statement, so that the source row, which every call of the
// source must lock, stays locked only from here to the commit: not while the foreign
// keys of the rows are checked, nor while a concurrent call's new lead is waited for.
constexpr const char* kUpdateCountsSql =
    "UPDATE @S@.sources AS s"
    "   SET total_leads_count = s.total_leads_count OPERATOR(pg_catalog.+) $2,"
    "       todays_leads_count = CASE WHEN s.todays_count_date OPERATOR(pg_catalog.=) $4"
    "                                 THEN s.todays_leads_count OPERATOR(pg_catalog.+) $3 ELSE $3 END,"
    "       todays_count_date = $4"
    " WHERE s.id OPERATOR(pg_catalog.=) $1";

// A batch of one lead (ingest_lead) runs the same steps with scalars, in fewer and
// smaller plans: each statement's executor start costs about as much as its writes.
// Parameters of both: $1 phone, $2 external id, $3 payload, $4 event time, $5 name,
// $6 source id, $7 lead id. Step 3 follows either (measured: one statement with the
// counter update in it executes more instructions than two, and holds the source row
// through the foreign-key checks).
//
// Steps 1 and 2 for a phone step 0 did not find. Returns the new lead's id; no row means
// a concurrent call committed the phone after this statement's snapshot was taken.
constexpr const char* kInsertOneNewLeadSql =
    "WITH created AS ("
    "  INSERT INTO @S@.leads_master AS l"
    "    (phone_number_normalized, full_name, external_lead_id, raw_payload, platform_created_at, source_id)"
    "  VALUES ($1, $5, $2, $3, $4, $6)"
    "  ON CONFLICT (phone_number_normalized) DO NOTHING"
    "  RETURNING l.id)"
    " INSERT INTO @S@.lead_sources_history AS h"
    "   (lead_id, source_id, external_id, raw_payload, is_primary, platform_created_at)"
    " SELECT c.id, $6, $2, $3, true, $4 FROM created AS c"
    " RETURNING h.lead_id";

// Step 2 for the known lead $7. Returns a row when it wrote this source's history row.
// The lead is locked (FOR KEY SHARE, what its foreign-key check takes) before step 3
// locks the source row, in the batch's order: else a session holding the lead (a DELETE,
// a CRM's FOR UPDATE) and then wanting the source row, as recount_sources does, could
// deadlock with this call. A lead deleted meanwhile is skipped, and no row written.
constexpr const char* kInsertOneHistorySql =
    "INSERT INTO @S@.lead_sources_history AS h"
    "  (lead_id, source_id, external_id, raw_payload, is_primary, platform_created_at)"
    " SELECT k.id, $6, $2, $3, false, $4"
    "   FROM (SELECT l.id FROM @S@.leads_master AS l WHERE l.id OPERATOR(pg_catalog.=) $7"
    "         FOR KEY SHARE OF l) AS k"
    " ON CONFLICT (lead_id, source_id) DO NOTHING"
    " RETURNING 1";

constexpr const char* kInsertRejectsSql =
    "INSERT INTO @S@.lead_rejects (source_id, reason, raw_payload, payload_md5)"
    " SELECT $3, u.reason, u.payload, pg_catalog.md5(u.payload::pg_catalog.text)"
    "   FROM (SELECT pg_catalog.unnest($1::pg_catalog.text[]) AS reason,"
    "                pg_catalog.unnest($2::pg_catalog.jsonb[]) AS payload) AS u"
    " ON CONFLICT (source_id, payload_md5) DO NOTHING";

// The batch's phones that already have a lead, and whether this source has its row.
constexpr const char* kKnownLeadsSql =
    "SELECT k.i, k.id, EXISTS (SELECT FROM @S@.lead_sources_history AS h"
    "                           WHERE h.lead_id OPERATOR(pg_catalog.=) k.id"
    "                             AND h.source_id OPERATOR(pg_catalog.=) $2)"
    "  FROM (SELECT u.i, (SELECT l.id FROM @S@.leads_master AS l"
    "                      WHERE l.phone_number_normalized OPERATOR(pg_catalog.=) u.phone) AS id"
    "          FROM (SELECT pg_catalog.unnest($1::pg_catalog.text[]) AS phone,"
    "                       pg_catalog.generate_subscripts($1::pg_catalog.text[], 1)::pg_catalog.int8 AS i) AS u"
    "        OFFSET 0) AS k"   // OFFSET 0: one lookup per phone, not one per reference
    " WHERE k.id IS NOT NULL";

struct Statement {
  const char* sql;
  std::vector<Oid> argument_types;
  // Looks rows up by unique key, once per row of its arrays: planned and run with
  // enable_seqscan off (see execute).
  bool keyed_lookups = false;
  SPIPlanPtr plan = nullptr;
};

struct Statements {
  Oid schema = InvalidOid;
  Statement ensure_source{kEnsureSourceSql, {TEXTOID, TEXTOID}};
  Statement known_leads{kKnownLeadsSql, {TEXTARRAYOID, INT8OID}, true};
  Statement insert_leads{kInsertLeadsSql,
                         {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TIMESTAMPTZARRAYOID, INT8OID}};
  Statement insert_history{kInsertHistorySql, {TEXTARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TIMESTAMPTZARRAYOID,
                                               INT8ARRAYOID, INT8OID, DATEOID},
                           true};
  Statement update_counts{kUpdateCountsSql, {INT8OID, INT8OID, INT8OID, DATEOID}};
  Statement insert_rejects{kInsertRejectsSql, {TEXTARRAYOID, JSONBARRAYOID, INT8OID}};
  Statement insert_one_new_lead{kInsertOneNewLeadSql, {TEXTOID, TEXTOID, JSONBOID, TIMESTAMPTZOID, TEXTOID, INT8OID}};
  Statement insert_one_history{kInsertOneHistorySql,
                               {TEXTOID, TEXTOID, JSONBOID, TIMESTAMPTZOID, TEXTOID, INT8OID, INT8OID}};

  Statement* all[8] = {&ensure_source,  &known_leads,    &insert_leads,        &insert_history,
                       &update_counts,  &insert_rejects, &insert_one_new_lead, &insert_one_history};
};

Statements statements;

std::string with_schema(const char* sql, const std::string& quoted_schema) {
  std::string text(sql);
  for (std::size_t at; (at = text.find("@S@")) != std::string::npos;) text.replace(at, 3, quoted_schema);
  return text;
}

// Prepares the statements for the schema the called function lives in (once per
// backend, again if the extension moved). Requires an SPI connection.
void prepare_statements(Oid function_oid) {
  Oid schema = call_postgres([&] { return get_func_namespace(function_oid); });
  if (schema == statements.schema) return;
  const std::string quoted_schema = quoted_extension_schema(function_oid);
  for (Statement* statement : statements.all) {
    const std::string sql = with_schema(statement->sql, quoted_schema);
    SPIPlanPtr old_plan = statement->plan;
    statement->plan = call_postgres([&] {
      if (old_plan) SPI_freeplan(old_plan);
      // Generic plans: planned once per backend, whatever the batch size (a custom plan
      // per call costs more than a one-lead ingest, and a plan built while the tables
      // were small would keep scanning them whole).
      SPIPlanPtr plan = SPI_prepare_cursor(sql.c_str(), static_cast<int>(statement->argument_types.size()),
                                           statement->argument_types.data(), CURSOR_OPT_GENERIC_PLAN);
      if (plan == nullptr) elog(ERROR, "leadsync: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
      SPI_keepplan(plan);
      return plan;
    });
  }
  statements.schema = schema;
}

// Runs a prepared statement; its rows are then in SPI_tuptable. SPI returns in its
// procedure memory: the caller's memory context is made current again (a batch slice
// allocates in a context of its own, freed after each slice).
//
// A statement of keyed lookups (a batch's, once per row of its arrays) runs with
// enable_seqscan off, which is when its generic plan is built (and any plan its
// foreign-key checks or triggers build meanwhile, which only lookups by key can use). A plan built while the
// tables held a few rows (new, truncated, or analyzed empty) scans them whole for each
// key, and is kept as they grow until an ANALYZE: in one session after ANALYZE of the
// empty tables, 57 calls of 1000 new leads took 139 s instead of 1.4 s, and every slice
// of one call after the first would too. (ingest_lead's statements are left alone: the
// setting costs 3% of its call, and such a plan of its one lookup is replaced at
// autovacuum's next ANALYZE.)
uint64 execute(const Statement& statement, Datum* values, const char* nulls) {
  MemoryContext caller_memory = CurrentMemoryContext;
  const uint64 rows = call_postgres([&] {
    const int guc_level = statement.keyed_lookups ? NewGUCNestLevel() : -1;
    if (statement.keyed_lookups)
      set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    int rc = SPI_execute_plan(statement.plan, values, nulls, false, 0);
    if (statement.keyed_lookups) AtEOXact_GUC(true, guc_level);
    if (rc < 0) elog(ERROR, "leadsync: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
    return SPI_processed;
  });
  MemoryContextSwitchTo(caller_memory);
  return rows;
}

// Column `column` (1-based) of result row `row`; nullopt when NULL.
std::optional<Datum> result_value(uint64 row, int column) {
  bool is_null = false;
  Datum value = call_postgres(
      [&] { return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, &is_null); });
  if (is_null) return std::nullopt;
  return value;
}

// Frees the last statement's result rows, once read: a batch runs many statements in one
// SPI connection, which would otherwise keep every result until the call ends.
void free_results() {
  call_postgres([] { SPI_freetuptable(SPI_tuptable); });
}

// ---------------------------------------------------------------------------
// Building SQL arrays from C++ values.
// ---------------------------------------------------------------------------

struct ArrayBuilder {
  std::vector<Datum> values;
  std::unique_ptr<bool[]> nulls;
  std::size_t count = 0;

  explicit ArrayBuilder(std::size_t size) : values(size), nulls(new bool[size]()) {}
  void add(Datum value) { values[count++] = value; }
  void add_null() { nulls[count++] = true; }
  void add_optional(const std::optional<Datum>& value) { value ? add(*value) : add_null(); }

  Datum build(Oid element_type) {
    return call_postgres([&] {
      int16 length;
      bool by_value;
      char alignment;
      get_typlenbyvalalign(element_type, &length, &by_value, &alignment);
      int dims[1] = {static_cast<int>(count)};
      int lower_bounds[1] = {1};
      return PointerGetDatum(construct_md_array(values.data(), nulls.get(), 1, dims, lower_bounds,
                                                element_type, length, by_value, alignment));
    });
  }
};

Datum text_datum(std::string_view text) {
  return call_postgres(
      [&] { return PointerGetDatum(cstring_to_text_with_len(text.data(), static_cast<int>(text.size()))); });
}

constexpr int64 kUnixToPostgresEpochMicros = int64{946684800} * 1000000;

// The business time zone's name as text, once per call, for the functions below.
Datum business_zone() { return text_datum(business_timezone_name()); }

// An event time as timestamptz: a time without offset is read in the business zone.
Datum event_time_datum(const EventTime& time, Datum zone) {
  Timestamp as_utc = time.unix_micros - kUnixToPostgresEpochMicros;
  if (time.has_utc_offset) return TimestampTzGetDatum(as_utc);
  return call_postgres([&] { return DirectFunctionCall2(timestamp_zone, zone, TimestampGetDatum(as_utc)); });
}

// The business date of an instant: what SQL's business_date() returns, by the same two
// functions (timezone(zone, instant), then date), without a statement to run it in.
DateADT business_date(TimestampTz instant, Datum zone) {
  return call_postgres([&] {
    Datum local = DirectFunctionCall2(timestamptz_zone, zone, TimestampTzGetDatum(instant));
    return DatumGetDateADT(DirectFunctionCall1(timestamp_date, local));
  });
}

// Today's business date (business_today(): of the transaction's start, as now()).
DateADT business_today(Datum zone) { return business_date(GetCurrentTransactionStartTimestamp(), zone); }

// Step 3: the counters of source `source_id` gain `rows` history rows, `todays` of them
// today's.
void add_to_counters(int64 source_id, int64 rows, int64 todays, DateADT today) {
  Datum args[4] = {Int64GetDatum(source_id), Int64GetDatum(rows), Int64GetDatum(todays), DateADTGetDatum(today)};
  execute(statements.update_counts, args, nullptr);
}

// ---------------------------------------------------------------------------
// One batch.
// ---------------------------------------------------------------------------

struct Source {
  int64 id = 0;
  SourceKind kind = SourceKind::Custom;
  std::optional<CompiledFieldMap> field_map;  // custom sources only
};

// The payloads that became leads: leads[i] was extracted from payloads[i], a value
// inside the call's argument, copied out as a jsonb datum only when its slice is written.
struct AcceptedLeads {
  std::vector<Lead> leads;
  std::vector<JsonbValue*> payloads;
};

struct RejectedPayload {
  std::string reason;
  Datum payload;
};


std::string quoted_schema_name() {
  return call_postgres([] { return quote_identifier(get_namespace_name(statements.schema)); });
}

// A built-in source's id, once known, is remembered for the backend (custom sources are
// read every call: their field_map may change).
void remember_builtin_source(const std::string& source_type, int64 id) {
  const Oid sources_table = call_postgres([] { return get_relname_relid("sources", statements.schema); });
  remember_source_id(statements.schema, sources_table, source_type, id);
}

Source find_or_create_source(const std::string& source_type) {
  auto builtin = find_builtin_source(source_type);
  Source source;
  if (builtin) {
    source.kind = builtin->kind;
    if (auto id = remembered_source_id(statements.schema, source_type)) {
      source.id = *id;
      return source;
    }
  }
  Datum type_arg = text_datum(source_type);
  KeyColumn key{"source_type", type_arg, TEXTOID};
  ReadColumn columns[2] = {{"id"}, {"field_map"}};
  const bool found = find_row(statements.schema, "sources", &key, 1, columns, 2);
  if (!found) {
    if (!builtin) {
      throw SqlError(ERRCODE_UNDEFINED_OBJECT, "leadsync: unknown source_type \"" + source_type + "\"",
                     "Built-in types are meta_form, knowlarity_call and google_ads. Register another with "
                     "SELECT " + quoted_schema_name() + ".ensure_source('Display Name', '" + source_type +
                         "', '{\"phone\": [\"$.phone\"], \"name\": [\"$.name\"]}');");
    }
    Datum args[2] = {text_datum(builtin->display_name), type_arg};
    execute(statements.ensure_source, args, nullptr);
    source.id = DatumGetInt64(*result_value(0, 1));
    remember_builtin_source(source_type, source.id);
    return source;
  }
  source.id = DatumGetInt64(columns[0].value);
  if (builtin) {
    remember_builtin_source(source_type, source.id);
    return source;
  }
  if (columns[1].is_null) {
    throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                   "leadsync: source_type \"" + source_type + "\" has no field_map to read its payloads with",
                   "Give it one with SELECT " + quoted_schema_name() + ".ensure_source('Display Name', '" +
                       source_type + "', '{\"phone\": [\"$.phone\"]}');");
  }
  source.field_map = compile_field_map(reinterpret_cast<Jsonb*>(DatumGetPointer(columns[1].value)));
  return source;
}

// One payload as a jsonb datum of its own, to be stored.
Datum payload_datum(JsonbValue* payload) {
  return call_postgres([&] { return JsonbPGetDatum(JsonbValueToJsonb(payload)); });
}

Extraction extract_payload(const Source& source, JsonbValue* element) {
  JsonbAccess access(*element);
  if (!source.field_map) return extract_lead(source.kind, access);
  if (!access.is_object()) return Extraction::rejected(reason_not_an_object(access.type_name()));
  Jsonb* document = call_postgres([&] { return JsonbValueToJsonb(element); });
  return finish_extraction(gather_with_field_map(*source.field_map, document));
}

// Extracts every payload of the array.
void extract_batch(const Source& source, const std::vector<JsonbValue*>& elements,
                   AcceptedLeads& accepted, std::vector<RejectedPayload>& rejected) {
  MemoryContext batch_memory = CurrentMemoryContext;
  MemoryContext scratch = call_postgres([] {
    return AllocSetContextCreate(CurrentMemoryContext, "leadsync extraction", ALLOCSET_DEFAULT_SIZES);
  });
  for (JsonbValue* element : elements) {
    MemoryContextSwitchTo(scratch);  // the adapters' temporary allocations
    Extraction extraction = extract_payload(source, element);
    MemoryContextSwitchTo(batch_memory);
    MemoryContextReset(scratch);
    if (extraction.lead) {
      accepted.leads.push_back(std::move(*extraction.lead));
      accepted.payloads.push_back(element);
    } else {
      rejected.push_back({std::move(extraction.reject_reason), payload_datum(element)});
    }
    call_postgres([] { CHECK_FOR_INTERRUPTS(); });
  }
  call_postgres([&] { MemoryContextDelete(scratch); });
}

void write_rejects(const Source& source, const std::vector<RejectedPayload>& rejected) {
  if (rejected.empty()) return;
  ArrayBuilder reasons(rejected.size()), payloads(rejected.size());
  for (const RejectedPayload& reject : rejected) {
    reasons.add(text_datum(reject.reason));
    payloads.add(reject.payload);
  }
  Datum args[3] = {reasons.build(TEXTOID), payloads.build(JSONBOID), Int64GetDatum(source.id)};
  execute(statements.insert_rejects, args, nullptr);
}

// The visible lead of `phone` (a fresh snapshot in READ COMMITTED).
std::optional<int64> find_lead(Datum phone) {
  KeyColumn key{"phone_number_normalized", phone, TEXTOID};
  ReadColumn id{"id"};
  if (!find_row(statements.schema, "leads_master", &key, 1, &id, 1)) return std::nullopt;
  return DatumGetInt64(id.value);
}

bool has_history_row(int64 lead_id, int64 source_id) {
  KeyColumn keys[2] = {{"lead_id", Int64GetDatum(lead_id), INT8OID}, {"source_id", Int64GetDatum(source_id), INT8OID}};
  return find_row(statements.schema, "lead_sources_history", keys, 2, nullptr, 0);
}

// The phone's lead went away between two steps of one call (an admin's DELETE).
[[noreturn]] void throw_lead_deleted() {
  throw SqlError(ERRCODE_T_R_SERIALIZATION_FAILURE, "leadsync: the lead was deleted while this call wrote it",
                 "Retry the call.");
}

// A batch of one lead: write_batch's steps, step 0 by find_row, steps 1 to 3 in one or
// two statements with scalars.
void write_one(const Source& source, const Lead& lead, Datum payload, BatchOutcome& outcome) {
  const Datum phone = text_datum(lead.phone.view());

  // 0. The phone's lead, and whether it has this source's row (case B: done).
  std::optional<int64> lead_id = find_lead(phone);
  if (lead_id && has_history_row(*lead_id, source.id)) {
    outcome.duplicate_same_source = 1;
    outcome.lead_id = lead_id;
    return;
  }
  const Datum zone = business_zone();
  Datum args[7] = {phone,
                   lead.external_id ? text_datum(*lead.external_id) : Datum(0),
                   payload,
                   lead.event_time ? event_time_datum(*lead.event_time, zone) : Datum(0),
                   lead.full_name ? text_datum(*lead.full_name) : Datum(0),
                   Int64GetDatum(source.id),
                   Datum(0)};
  char nulls[8] = {' ', lead.external_id ? ' ' : 'n', ' ', lead.event_time ? ' ' : 'n',
                   lead.full_name ? ' ' : 'n', ' ', 'n', '\0'};

  // The row counts for today when its platform time, else its arrival (now()), is on
  // today's business date: step 2 of a batch asks the same in SQL.
  const DateADT today = business_today(zone);
  const int64 counts_for_today =
      !lead.event_time || business_date(DatumGetTimestampTz(args[3]), zone) == today ? 1 : 0;

  // 1-3. An unknown phone becomes a lead, with its primary row, then the counters.
  if (!lead_id) {
    if (execute(statements.insert_one_new_lead, args, nulls) == 1) {
      outcome.inserted_new = 1;
      outcome.lead_id = DatumGetInt64(*result_value(0, 1));
      add_to_counters(source.id, 1, counts_for_today, today);
      return;
    }
    // ON CONFLICT: a concurrent call committed this phone after the statement's snapshot
    // was taken; a fresh one sees its lead.
    lead_id = find_lead(phone);
    if (!lead_id) throw_lead_deleted();
  }
  // 2-3. A known lead gets this source's history row, then the counters; none written
  // means a concurrent call of this source wrote it first, or the lead was deleted
  // meanwhile.
  args[6] = Int64GetDatum(*lead_id);
  nulls[6] = ' ';
  const bool wrote_row = execute(statements.insert_one_history, args, nulls) == 1;
  if (wrote_row) add_to_counters(source.id, 1, counts_for_today, today);
  if (!wrote_row && !has_history_row(*lead_id, source.id)) throw_lead_deleted();
  outcome.cross_source_history = wrote_row ? 1 : 0;
  outcome.duplicate_same_source = wrote_row ? 0 : 1;
  outcome.lead_id = lead_id;
}

// A batch is written in slices of at most kLeadsPerSlice leads, in two passes: first
// every slice's new leads (steps 0 and 1), then every slice's history rows (step 2).
// So a batch still takes its locks as in one piece, leads in phone order and then
// history rows in phone order, the one order every concurrent batch follows: one slice's
// leads and rows before the next's would let a batch hold a history row that another
// batch waits for while waiting for a lead that batch holds (a deadlock). Each slice's
// SQL values, arrays and statement results are freed before the next, so a call keeps
// its argument, each lead's extracted fields and its lead id: a call of 1M Meta leads
// holds 0.45 GB of private memory, 0.23 GB of it the argument (1.7 GB written in one
// piece), and the history statement's count of the rows it wrote stays within the
// default work_mem. A slice runs a few statements: their start-up is far under 1% of its
// time.
constexpr std::size_t kLeadsPerSlice = 10000;

// What the first pass learns of each lead it writes (indexed like BatchPlan::writes),
// for the second.
struct LeadsToWrite {
  enum class Known : char { No, WithoutRow, WithRow };
  std::vector<Known> known;
  std::vector<int64> lead_ids;  // when known, or new
  std::vector<bool> is_new;
  int64 new_leads = 0;
  explicit LeadsToWrite(std::size_t count) : known(count, Known::No), lead_ids(count, 0), is_new(count, false) {}
};

// One slice of a batch: the leads accepted.leads[writes[first + i]], i < count, phones
// sorted and distinct. Their values become SQL datums where a pass writes them: a lead
// of case B (the steady state of a lookback) costs its phone, once.
struct Slice {
  const AcceptedLeads& accepted;
  const std::vector<std::size_t>& writes;
  std::size_t first, count;
  Datum zone;

  const Lead& lead(std::size_t i) const { return accepted.leads[writes[first + i]]; }
  Datum phone(std::size_t i) const { return text_datum(lead(i).phone.view()); }
  std::optional<Datum> external_id(std::size_t i) const {
    const Lead& lead = this->lead(i);
    return lead.external_id ? std::optional<Datum>(text_datum(*lead.external_id)) : std::nullopt;
  }
  std::optional<Datum> event_time(std::size_t i) const {
    const Lead& lead = this->lead(i);
    return lead.event_time ? std::optional<Datum>(event_time_datum(*lead.event_time, zone)) : std::nullopt;
  }
  Datum payload(std::size_t i) const { return payload_datum(accepted.payloads[writes[first + i]]); }
};

// Pass 1, steps 0 and 1 for one slice: which phones have a lead (and this source's row),
// then the others become leads.
void insert_slice_leads(const Source& source, const Slice& slice, LeadsToWrite& state) {
  using Known = LeadsToWrite::Known;
  const std::size_t count = slice.count, first = slice.first;
  std::vector<Datum> phones(count);

  // 0. Which phones have a lead already, and which of those have this source's row (case
  // B: nothing to write). Read-only; races with concurrent batches are settled by the ON
  // CONFLICT clauses below, as before.
  {
    ArrayBuilder all_phones(count);
    for (std::size_t i = 0; i < count; ++i) all_phones.add(phones[i] = slice.phone(i));
    Datum args[2] = {all_phones.build(TEXTOID), Int64GetDatum(source.id)};
    const uint64 rows = execute(statements.known_leads, args, nullptr);
    for (uint64 row = 0; row < rows; ++row) {
      const auto i = first + static_cast<std::size_t>(DatumGetInt64(*result_value(row, 1)) - 1);
      state.lead_ids[i] = DatumGetInt64(*result_value(row, 2));
      state.known[i] = DatumGetBool(*result_value(row, 3)) ? Known::WithRow : Known::WithoutRow;
    }
    free_results();
  }

  // 1. Unknown phones become leads (ON CONFLICT: a concurrent batch may have just sent one).
  std::vector<std::size_t> to_insert;
  for (std::size_t i = 0; i < count; ++i)
    if (state.known[first + i] == Known::No) to_insert.push_back(i);
  if (to_insert.empty()) return;
  const std::size_t n = to_insert.size();
  ArrayBuilder new_phones(n), names(n), external_ids(n), payloads(n), created_at(n);
  for (std::size_t i : to_insert) {
    const Lead& lead = slice.lead(i);
    new_phones.add(phones[i]);
    lead.full_name ? names.add(text_datum(*lead.full_name)) : names.add_null();
    external_ids.add_optional(slice.external_id(i));
    payloads.add(slice.payload(i));
    created_at.add_optional(slice.event_time(i));
  }
  Datum lead_args[6] = {new_phones.build(TEXTOID), names.build(TEXTOID), external_ids.build(TEXTOID),
                        payloads.build(JSONBOID), created_at.build(TIMESTAMPTZOID), Int64GetDatum(source.id)};
  const uint64 new_leads = execute(statements.insert_leads, lead_args, nullptr);
  // RETURNING yields the inserted rows in input order, a subsequence of to_insert:
  // matched by a forward scan (a binary search of the slice's sorted phones if that
  // order ever changed).
  const auto slice_begin = slice.writes.begin() + static_cast<std::ptrdiff_t>(first);
  const auto slice_end = slice_begin + static_cast<std::ptrdiff_t>(count);
  auto index_by_search = [&](std::string_view phone) {
    const auto at = std::partition_point(slice_begin, slice_end, [&](std::size_t lead) {
      return slice.accepted.leads[lead].phone.view() < phone;
    });
    return static_cast<std::size_t>(at - slice_begin);
  };
  std::size_t next = 0;
  bool in_order = true;
  for (uint64 row = 0; row < new_leads; ++row) {
    Datum phone_text = *result_value(row, 1);
    text* phone_value = call_postgres([&] { return DatumGetTextPP(phone_text); });
    const std::string_view phone(VARDATA_ANY(phone_value), VARSIZE_ANY_EXHDR(phone_value));
    while (in_order && next < n && slice.lead(to_insert[next]).phone.view() != phone) ++next;
    in_order = next < n;
    const std::size_t index = in_order ? to_insert[next++] : index_by_search(phone);
    state.is_new[first + index] = true;
    state.lead_ids[first + index] = DatumGetInt64(*result_value(row, 2));
  }
  free_results();
  state.new_leads += static_cast<int64>(new_leads);
}

// What pass 2 wrote.
struct HistoryWrites {
  int64 rows = 0;    // new leads' primary rows included
  int64 todays = 0;  // rows that count for today
};

// Pass 2, step 2 for one slice: this source's history row for every lead that had none
// when step 0 looked. New leads carry their id; the others are looked up by phone in the
// statement's fresh snapshot (which sees leads a concurrent batch committed meanwhile).
HistoryWrites insert_slice_history(const Source& source, const Slice& slice, const LeadsToWrite& state,
                                   DateADT today) {
  using Known = LeadsToWrite::Known;
  const std::size_t first = slice.first;
  HistoryWrites wrote;
  std::vector<std::size_t> to_history;
  std::size_t new_leads = 0;
  for (std::size_t i = 0; i < slice.count; ++i) {
    if (state.known[first + i] == Known::WithRow) continue;
    to_history.push_back(i);
    if (state.is_new[first + i]) ++new_leads;
  }
  if (to_history.empty()) return wrote;
  const std::size_t n = to_history.size();
  std::vector<Datum> history_phones(n);  // (in to_history's order)
  ArrayBuilder phones(n), external_ids(n), payloads(n), created_at(n), ids(n);
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = to_history[k];
    phones.add(history_phones[k] = slice.phone(i));
    external_ids.add_optional(slice.external_id(i));
    payloads.add(slice.payload(i));
    created_at.add_optional(slice.event_time(i));
    state.is_new[first + i] ? ids.add(Int64GetDatum(state.lead_ids[first + i])) : ids.add_null();
  }
  Datum history_args[7] = {phones.build(TEXTOID),          external_ids.build(TEXTOID), payloads.build(JSONBOID),
                           created_at.build(TIMESTAMPTZOID), ids.build(INT8OID),          Int64GetDatum(source.id),
                           DateADTGetDatum(today)};
  execute(statements.insert_history, history_args, nullptr);
  wrote.rows = DatumGetInt64(*result_value(0, 1));
  wrote.todays = DatumGetInt64(*result_value(0, 2));
  free_results();
  // Rows step 2 skipped: each was written by a concurrent call of this source, on a lead
  // this call has locked since (a duplicate), or its lead was deleted meanwhile. Step 0's
  // question again, for the known phones: every one must now have a lead holding this
  // source's row, else its payload would be lost (even if another call made a new lead
  // for the phone since).
  if (wrote.rows < static_cast<int64>(n)) {
    const std::size_t known_count = n - new_leads;
    ArrayBuilder known_phones(known_count);
    for (std::size_t k = 0; k < n; ++k)
      if (!state.is_new[first + to_history[k]]) known_phones.add(history_phones[k]);
    Datum check_args[2] = {known_phones.build(TEXTOID), Int64GetDatum(source.id)};
    const uint64 rows = execute(statements.known_leads, check_args, nullptr);
    std::size_t with_row = 0;
    for (uint64 row = 0; row < rows; ++row)
      if (DatumGetBool(*result_value(row, 3))) ++with_row;
    free_results();
    if (with_row < known_count) throw_lead_deleted();
  }
  return wrote;
}

BatchOutcome write_batch(const Source& source, const AcceptedLeads& accepted,
                         const std::vector<RejectedPayload>& rejected) {
  BatchOutcome outcome;
  outcome.rejected = static_cast<int64>(rejected.size());
  write_rejects(source, rejected);
  if (accepted.leads.empty()) return outcome;

  if (accepted.leads.size() == 1) {
    write_one(source, accepted.leads.front(), payload_datum(accepted.payloads.front()), outcome);
    return outcome;
  }
  const BatchPlan plan = plan_batch(accepted.leads);
  const std::size_t count = plan.writes.size();
  const Datum zone = business_zone();
  const DateADT today = business_today(zone);
  MemoryContext call_memory = CurrentMemoryContext;
  MemoryContext slice_memory = call_postgres([] {
    return AllocSetContextCreate(CurrentMemoryContext, "leadsync batch slice", ALLOCSET_DEFAULT_SIZES);
  });
  // Runs write(slice) for every slice, each in slice memory, freed after it.
  auto for_each_slice = [&](auto&& write) {
    for (std::size_t first = 0; first < count; first += kLeadsPerSlice) {
      MemoryContextSwitchTo(slice_memory);
      write(Slice{accepted, plan.writes, first, std::min(first + kLeadsPerSlice, count) - first, zone});
      MemoryContextSwitchTo(call_memory);
      MemoryContextReset(slice_memory);
      call_postgres([] { CHECK_FOR_INTERRUPTS(); });
    }
  };
  LeadsToWrite state(count);
  for_each_slice([&](const Slice& slice) { insert_slice_leads(source, slice, state); });
  HistoryWrites written;
  for_each_slice([&](const Slice& slice) {
    const HistoryWrites wrote = insert_slice_history(source, slice, state, today);
    written.rows += wrote.rows;
    written.todays += wrote.todays;
  });
  call_postgres([&] { MemoryContextDelete(slice_memory); });
  outcome.inserted_new = state.new_leads;
  outcome.cross_source_history = written.rows - state.new_leads;
  outcome.duplicate_same_source = static_cast<int64>(accepted.leads.size()) - written.rows;

  // 3. The source's counters, once per batch.
  if (written.rows > 0) add_to_counters(source.id, written.rows, written.todays, today);
  return outcome;
}

std::string required_text_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  if (PG_ARGISNULL(index))
    throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string("leadsync: ") + name + " must not be NULL");
  char* value = call_postgres([&] { return text_to_cstring(PG_GETARG_TEXT_PP(index)); });
  return std::string(value);
}

Jsonb* required_jsonb_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  if (PG_ARGISNULL(index))
    throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string("leadsync: ") + name + " must not be NULL");
  return call_postgres([&] { return PG_GETARG_JSONB_P(index); });
}

// Ingests `elements` (JSON values of one source) as one batch, inside an SPI connection.
BatchOutcome ingest(Oid function_oid, const std::string& source_type, const std::vector<JsonbValue*>& elements) {
  prepare_statements(function_oid);
  const Source source = find_or_create_source(source_type);
  AcceptedLeads accepted;
  std::vector<RejectedPayload> rejected;
  accepted.leads.reserve(elements.size());
  accepted.payloads.reserve(elements.size());
  extract_batch(source, elements, accepted, rejected);
  BatchOutcome outcome = write_batch(source, accepted, rejected);
  if (elements.size() == 1 && !rejected.empty()) outcome.reject_reason = rejected.front().reason;
  return outcome;
}

void connect_spi() {
  call_postgres([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "leadsync: SPI_connect failed");
  });
}

void finish_spi() {
  call_postgres([] { SPI_finish(); });
}

Datum ingest_lead_body(FunctionCallInfo fcinfo) {
  const std::string source_type = required_text_argument(fcinfo, 0, "source_type");
  Jsonb* payload = required_jsonb_argument(fcinfo, 1, "payload");
  JsonbValue root = JsonbAccess::of_document(payload).value();

  connect_spi();
  const BatchOutcome outcome = ingest(fcinfo->flinfo->fn_oid, source_type, {&root});
  finish_spi();

  const char* result_outcome = outcome.rejected ? "rejected"
                               : outcome.inserted_new ? "inserted_new"
                               : outcome.cross_source_history ? "cross_source_history"
                                                              : "duplicate_same_source";
  const std::string& reason = outcome.reject_reason;
  const bool has_lead = outcome.lead_id.has_value();
  const int64 lead_id = outcome.lead_id.value_or(0);
  return call_postgres([&] {
    TupleDesc descriptor;
    if (get_call_result_type(fcinfo, nullptr, &descriptor) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "leadsync: ingest_lead must return a composite type");
    descriptor = BlessTupleDesc(descriptor);
    Datum values[3] = {CStringGetTextDatum(result_outcome), Int64GetDatum(lead_id),
                       reason.empty() ? Datum(0) : CStringGetTextDatum(reason.c_str())};
    bool nulls[3] = {false, !has_lead, reason.empty()};
    return HeapTupleGetDatum(heap_form_tuple(descriptor, values, nulls));
  });
}

Datum ingest_leads_body(FunctionCallInfo fcinfo) {
  const std::string source_type = required_text_argument(fcinfo, 0, "source_type");
  Jsonb* payloads = required_jsonb_argument(fcinfo, 1, "payloads");
  connect_spi();
  const BatchOutcome outcome = ingest_array(fcinfo->flinfo->fn_oid, source_type, payloads);
  finish_spi();

  char summary[256];
  snprintf(summary, sizeof summary,
                "{\"insertedNew\": %lld, \"duplicateSameSource\": %lld, \"crossSourceHistory\": %lld, "
                "\"rejected\": %lld}",
                static_cast<long long>(outcome.inserted_new), static_cast<long long>(outcome.duplicate_same_source),
                static_cast<long long>(outcome.cross_source_history), static_cast<long long>(outcome.rejected));
  return call_postgres([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(summary)); });
}

}  // namespace

std::string quoted_extension_schema(Oid function_oid) {
  return call_postgres([&] { return quote_identifier(get_namespace_name(get_func_namespace(function_oid))); });
}

BatchOutcome ingest_array(Oid function_oid, const std::string& source_type, Jsonb* payloads) {
  JsonbAccess array = JsonbAccess::of_document(payloads);
  if (!array.is_array())
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                   "leadsync: payloads must be a JSON array of lead payloads, not " +
                       std::string(array.type_name()),
                   "Wrap a single payload in [ ], or call ingest_lead for one lead.");
  std::vector<JsonbValue*> elements(array.size());
  JsonbContainer* container = array.value().val.binary.data;
  for (std::size_t i = 0; i < elements.size(); ++i)
    elements[i] = call_postgres([&] { return getIthJsonbValueFromContainer(container, static_cast<uint32>(i)); });
  return ingest(function_oid, source_type, elements);
}

}  // namespace leadsync::pg

extern "C" {
PG_FUNCTION_INFO_V1(leadsync_ingest_lead);
PG_FUNCTION_INFO_V1(leadsync_ingest_leads);

Datum leadsync_ingest_lead(PG_FUNCTION_ARGS) {
  return leadsync::pg::run_sql_function(fcinfo, leadsync::pg::ingest_lead_body);
}

Datum leadsync_ingest_leads(PG_FUNCTION_ARGS) {
  return leadsync::pg::run_sql_function(fcinfo, leadsync::pg::ingest_leads_body);
}
}
