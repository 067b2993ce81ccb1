// Custom sources: a field_map of SQL/JSON paths, validated once and evaluated with
// PostgreSQL's own jsonpath, then the core's common extraction rules.
#pragma once

#include <string>
#include <vector>

#include "core/lead.hpp"
#include "pg/guard.hpp"

namespace leadsync::pg {

struct CompiledFieldMap {
  // Compiled jsonpath values, in the order they are tried, per lead field.
  std::vector<Datum> phone, name, external_id, created_at;
};

// Checks a field_map and compiles its paths; a SqlError names the first problem.
// The Datums are allocated in the current memory context.
CompiledFieldMap compile_field_map(Jsonb* field_map);

// The candidates a payload offers under the map (the payload must be an object).
FieldCandidates gather_with_field_map(const CompiledFieldMap& map, Jsonb* payload);

}  // namespace leadsync::pg
