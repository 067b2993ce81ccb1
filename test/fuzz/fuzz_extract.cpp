// extract_lead for one built-in platform on arbitrary JSON, read through the unit tests' NlohmannJsonAccess: the
// same template code the extension runs over jsonb.
//
// Properties: no sanitizer report, no exception; a payload becomes a lead or a rejection
// with a reason, never both or neither; a lead's phone is ten ASCII digits; its name and
// external id are non-blank, trimmed and valid UTF-8 (the database stores them as text);
// a reject reason is valid UTF-8 of bounded length; extraction is deterministic.
//
// One object file, linked as fuzz_extract_meta, fuzz_extract_knowlarity and
// fuzz_extract_google: the program's name says which adapter it drives.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/extract.hpp"
#include "fuzz_common.hpp"
#include "nlohmann_json_access.hpp"

namespace {

std::optional<leadsync::BuiltinSource> source;

using leadsync::fuzz::is_ascii_space;
using leadsync::fuzz::is_valid_utf8;

void check_text_field(const std::optional<std::string>& value, const char* what) {
  if (!value) return;
  FUZZ_CHECK(!value->empty(), what);
  FUZZ_CHECK(!is_ascii_space(value->front()) && !is_ascii_space(value->back()), what);
  FUZZ_CHECK(is_valid_utf8(*value, /*allow_nul=*/true), what);
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const std::string_view program = *argc > 0 ? (*argv)[0] : "";
  source = leadsync::find_builtin_source(ends_with(program, "_meta")         ? "meta_form"
                                         : ends_with(program, "_knowlarity") ? "knowlarity_call"
                                         : ends_with(program, "_google")     ? "google_ads"
                                                                             : "");
  FUZZ_CHECK(source.has_value(), "the program's name ends with _meta, _knowlarity or _google");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const nlohmann::json document =
      nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return 0;

  const leadsync::NlohmannJsonAccess payload(document);
  const leadsync::Extraction extraction = leadsync::extract_lead(source->kind, payload);

  FUZZ_CHECK(extraction.lead.has_value() == extraction.reject_reason.empty(),
             "a payload is either a lead or a rejection with a reason");
  if (extraction.lead) {
    const leadsync::Lead& lead = *extraction.lead;
    for (char c : lead.phone.digits) FUZZ_CHECK(c >= '0' && c <= '9', "a lead's phone is ten ASCII digits");
    check_text_field(lead.full_name, "a lead's name is non-blank, trimmed, valid UTF-8");
    check_text_field(lead.external_id, "a lead's external id is non-blank, trimmed, valid UTF-8");
    FUZZ_CHECK(document.is_object(), "only an object becomes a lead");
  } else {
    FUZZ_CHECK(is_valid_utf8(extraction.reject_reason, /*allow_nul=*/false),
               "a reject reason is valid UTF-8 without NUL (it is stored as text)");
    FUZZ_CHECK(extraction.reject_reason.size() <= 120, "a reject reason quotes at most a short excerpt");
  }

  const leadsync::Extraction again = leadsync::extract_lead(source->kind, payload);
  FUZZ_CHECK(again.reject_reason == extraction.reject_reason, "extraction is deterministic (reason)");
  FUZZ_CHECK(again.lead.has_value() == extraction.lead.has_value(), "extraction is deterministic (outcome)");
  if (again.lead) {
    FUZZ_CHECK(again.lead->phone == extraction.lead->phone, "extraction is deterministic (phone)");
    FUZZ_CHECK(again.lead->full_name == extraction.lead->full_name, "extraction is deterministic (name)");
    FUZZ_CHECK(again.lead->external_id == extraction.lead->external_id, "extraction is deterministic (id)");
  }
  return 0;
}
