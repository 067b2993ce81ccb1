// The webhook server's request rules (fetcher/src/webhook_rules.cpp) on arbitrary bytes:
// the body of a POST from the open internet, and a signature header cut from its front.
//
// Properties: no sanitizer report and no exception on any bytes; a signature computed by
// meta_signature always verifies, and the presented header verifies only when it is that
// signature; every leadgen id read is digits only; custom payloads are always an array.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "webhook_rules.hpp"

using namespace leadsync::serve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first line plays the X-Hub-Signature-256 header, the rest the body.
  const std::size_t newline = input.find('\n');
  const std::string_view header = newline == std::string_view::npos ? std::string_view() : input.substr(0, newline);
  const std::string_view body = newline == std::string_view::npos ? input : input.substr(newline + 1);

  const std::string signature = meta_signature("fuzz-app-secret", body);
  FUZZ_CHECK(meta_signature_valid("fuzz-app-secret", body, signature), "a computed signature verifies");
  if (meta_signature_valid("fuzz-app-secret", body, header)) {
    std::string lowered(header);
    for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    FUZZ_CHECK(lowered == signature, "only the body's own signature verifies");
  }
  (void)is_json_content_type(header);
  (void)is_valid_source_type(header);

  std::string error;
  const nlohmann::json document = parse_json_body(body, error);
  if (!error.empty()) return 0;
  for (const MetaLeadgen& lead : meta_leadgen_changes(document, error)) {
    FUZZ_CHECK(!lead.leadgen_id.empty(), "a leadgen id is never empty");
    for (char c : lead.leadgen_id) FUZZ_CHECK(c >= '0' && c <= '9', "a leadgen id is digits only");
    (void)lead.notification.dump();
  }
  const nlohmann::json payloads = custom_payloads(document, 100, error);
  FUZZ_CHECK(!error.empty() || (payloads.is_array() && !payloads.empty()), "payloads are a non-empty array");
  return 0;
}
