// Read-only access to a jsonb value in the shape the core's platform adapters expect
// (see core/extract.hpp), without copying the document.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pg/guard.hpp"

namespace leadsync::pg {

class JsonbAccess {
 public:
  explicit JsonbAccess(const JsonbValue& value) : value_(value) {}

  // The root of a jsonb document (a top-level scalar is unwrapped).
  static JsonbAccess of_document(Jsonb* document) {
    JsonbValue value;
    if (!JsonbExtractScalar(&document->root, &value)) {
      value.type = jbvBinary;
      value.val.binary.data = &document->root;
      value.val.binary.len = static_cast<int>(VARSIZE(document) - VARHDRSZ);
    }
    return JsonbAccess(value);
  }

  bool is_object() const { return is_container() && JsonContainerIsObject(container()); }
  bool is_array() const { return is_container() && JsonContainerIsArray(container()); }

  std::string_view type_name() const {
    switch (value_.type) {
      case jbvNull: return "null";
      case jbvString: return "string";
      case jbvNumeric: return "number";
      case jbvBool: return "boolean";
      default: return is_object() ? "object" : "array";
    }
  }

  std::optional<JsonbAccess> member(std::string_view key) const {
    if (!is_object()) return std::nullopt;
    JsonbValue found;
    // Fills `found` in place: no allocation, so no PostgreSQL error is possible here.
    if (!getKeyJsonValueFromContainer(container(), key.data(), static_cast<int>(key.size()), &found))
      return std::nullopt;
    return JsonbAccess(found);
  }

  bool is_true() const { return value_.type == jbvBool && value_.val.boolean; }

  std::size_t size() const { return is_array() ? JsonContainerSize(container()) : 0; }

  JsonbAccess element(std::size_t index) const {
    JsonbContainer* array = container();
    JsonbValue* found = call_postgres(
        [&] { return getIthJsonbValueFromContainer(array, static_cast<uint32>(index)); });
    return JsonbAccess(*found);
  }

  std::optional<std::string> scalar_text() const {
    if (value_.type == jbvString) return std::string(value_.val.string.val, value_.val.string.len);
    if (value_.type == jbvNumeric) {
      Numeric number = value_.val.numeric;
      char* digits = call_postgres(
          [&] { return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(number))); });
      std::string text(digits);
      pfree(digits);
      return text;
    }
    return std::nullopt;
  }

  const JsonbValue& value() const { return value_; }

 private:
  bool is_container() const { return value_.type == jbvBinary; }
  JsonbContainer* container() const { return value_.val.binary.data; }

  JsonbValue value_;
};

}  // namespace leadsync::pg
