// Lookup of the built-in platforms by source_type.
#include "core/source_types.hpp"

namespace leadsync {

std::optional<BuiltinSource> find_builtin_source(std::string_view source_type) {
  for (const BuiltinSource& source : kBuiltinSources)
    if (source.source_type == source_type) return source;
  return std::nullopt;
}

}  // namespace leadsync
