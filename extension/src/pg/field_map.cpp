// field_map validation and evaluation with PostgreSQL's jsonpath.
#include "pg/field_map.hpp"

#include <array>

#include "pg/jsonb_access.hpp"

namespace leadsync::pg {
namespace {

constexpr std::array<const char*, 4> kFieldNames = {"phone", "name", "external_id", "created_at"};

std::vector<Datum>& slot_for(CompiledFieldMap& map, std::string_view field) {
  if (field == "phone") return map.phone;
  if (field == "name") return map.name;
  if (field == "external_id") return map.external_id;
  return map.created_at;
}

SqlError invalid_map(const std::string& problem) {
  return SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "invalid field_map: " + problem,
                  "A field_map looks like {\"phone\": [\"$.mobile\", \"$.contact.phone\"], "
                  "\"name\": [\"$.name\"], \"external_id\": [\"$.id\"], \"created_at\": [\"$.ts\"]}; "
                  "only \"phone\" is required.");
}

Datum compile_path(const std::string& field, const std::string& path) {
  try {
    return call_postgres([&] { return DirectFunctionCall1(jsonpath_in, CStringGetDatum(path.c_str())); });
  } catch (const PostgresError& e) {
    std::string detail = e.error->message ? e.error->message : "syntax error";
    FreeErrorData(e.error);
    throw invalid_map("\"" + field + "\" path \"" + path + "\" is not an SQL/JSON path: " + detail);
  }
}

// The first item a compiled path selects in the payload, if any (lax mode, silent).
std::optional<std::string> query_first_scalar(Datum path, Jsonb* payload, Datum empty_vars) {
  Jsonb* found = call_postgres([&]() -> Jsonb* {
    LOCAL_FCINFO(call, 4);
    InitFunctionCallInfoData(*call, nullptr, 4, InvalidOid, nullptr, nullptr);
    call->args[0] = {JsonbPGetDatum(payload), false};
    call->args[1] = {path, false};
    call->args[2] = {empty_vars, false};
    call->args[3] = {BoolGetDatum(true), false};  // silent: a path that does not apply is no match
    Datum result = jsonb_path_query_first(call);
    return call->isnull ? nullptr : DatumGetJsonbP(result);
  });
  if (found == nullptr) return std::nullopt;
  return JsonbAccess::of_document(found).scalar_text();
}

}  // namespace

CompiledFieldMap compile_field_map(Jsonb* field_map) {
  JsonbAccess map = JsonbAccess::of_document(field_map);
  if (!map.is_object()) throw invalid_map("it must be a JSON object, not " + std::string(map.type_name()));
  CompiledFieldMap compiled;
  std::size_t known_keys = 0;
  for (const char* field : kFieldNames) {
    auto paths = map.member(field);
    if (!paths) continue;
    ++known_keys;
    if (!paths->is_array() || paths->size() == 0)
      throw invalid_map(std::string("\"") + field + "\" must be a non-empty array of SQL/JSON path strings");
    for (std::size_t i = 0; i < paths->size(); ++i) {
      JsonbAccess path = paths->element(i);
      if (path.value().type != jbvString)
        throw invalid_map(std::string("\"") + field + "\" must list SQL/JSON paths as strings");
      slot_for(compiled, field).push_back(compile_path(field, *path.scalar_text()));
    }
  }
  if (compiled.phone.empty()) throw invalid_map("\"phone\" is required");
  if (known_keys != JsonContainerSize(&field_map->root))
    throw invalid_map("only the keys phone, name, external_id and created_at are allowed");
  return compiled;
}

FieldCandidates gather_with_field_map(const CompiledFieldMap& map, Jsonb* payload) {
  static Datum empty_vars = 0;
  if (empty_vars == 0)
    empty_vars = call_postgres([] {
      MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
      Datum vars = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
      MemoryContextSwitchTo(old);
      return vars;
    });
  FieldCandidates candidates;
  auto gather = [&](const std::vector<Datum>& paths, std::vector<std::string>& out) {
    for (Datum path : paths)
      if (auto value = query_first_scalar(path, payload, empty_vars)) out.push_back(std::move(*value));
  };
  gather(map.phone, candidates.phones);
  gather(map.name, candidates.names);
  gather(map.external_id, candidates.external_ids);
  gather(map.created_at, candidates.event_times);
  return candidates;
}

}  // namespace leadsync::pg
