// NlohmannJsonAccess: the read-only JSON accessor of extension/src/core/extract.hpp
// over a parsed nlohmann::json document, for the unit tests and the fetcher.
//
// It holds a pointer into the document: the document must outlive every accessor
// made from it. Copying an accessor is cheap (one pointer).
//
// scalar_text(): a string gives its text; an integer its exact decimal digits (read as
// int64_t / uint64_t, never through double, so ids like 120210000000000001 survive);
// a floating-point number its dump(); booleans, null, objects and arrays give nullopt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace leadsync {

class NlohmannJsonAccess {
 public:
  explicit NlohmannJsonAccess(const nlohmann::json& value) : value_(&value) {}

  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }

  // "object", "array", "string", "number", "boolean", "null", ...
  std::string_view type_name() const { return value_->type_name(); }

  // The member `key` (exact spelling) of an object; nullopt if absent or not an object.
  std::optional<NlohmannJsonAccess> member(std::string_view key) const {
    if (!value_->is_object()) return std::nullopt;
    auto it = value_->find(key);
    if (it == value_->end()) return std::nullopt;
    return NlohmannJsonAccess(*it);
  }

  // The JSON boolean true (not "true", not 1).
  bool is_true() const { return value_->is_boolean() && value_->get<bool>(); }

  // Array length; 0 for anything that is not an array.
  std::size_t size() const { return value_->is_array() ? value_->size() : 0; }

  // Array element; requires index < size().
  NlohmannJsonAccess element(std::size_t index) const {
    return NlohmannJsonAccess((*value_)[index]);
  }

  std::optional<std::string> scalar_text() const {
    switch (value_->type()) {
      case nlohmann::json::value_t::string:
        return value_->get<std::string>();
      case nlohmann::json::value_t::number_integer:
        return std::to_string(value_->get<std::int64_t>());
      case nlohmann::json::value_t::number_unsigned:
        return std::to_string(value_->get<std::uint64_t>());
      case nlohmann::json::value_t::number_float:
        return value_->dump();
      default:
        return std::nullopt;
    }
  }

 private:
  const nlohmann::json* value_;
};

}  // namespace leadsync
