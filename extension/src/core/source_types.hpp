// The built-in platforms: the one place that names them.
#pragma once

#include <optional>
#include <string_view>

namespace leadsync {

enum class SourceKind { MetaForm, KnowlarityCall, GoogleAds, Custom };

struct BuiltinSource {
  SourceKind kind;
  std::string_view source_type;   // sources.source_type, the UI's "Sub Source"
  std::string_view display_name;  // sources.display_name, the UI's "Source"
};

inline constexpr BuiltinSource kBuiltinSources[] = {
    {SourceKind::MetaForm, "meta_form", "Meta"},
    {SourceKind::KnowlarityCall, "knowlarity_call", "Knowlarity"},
    {SourceKind::GoogleAds, "google_ads", "Google"},
};

// The built-in source with this source_type, if it is one.
std::optional<BuiltinSource> find_builtin_source(std::string_view source_type);

}  // namespace leadsync

#include "pure_cpp.hpp"
