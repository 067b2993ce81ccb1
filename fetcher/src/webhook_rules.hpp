// What leadsync-fetch serve decides from a webhook's bytes alone: signatures, secrets,
// body shapes. No network and no database here, so every rule is unit-tested and fuzzed.
// Every input is hostile: nothing here throws on any bytes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace leadsync::serve {

// `presented` equals `expected`, compared in constant time: both are hashed first, so
// neither where they differ nor their lengths show in the timing. An empty `expected`
// (the secret is not configured) matches nothing.
bool secrets_equal(std::string_view expected, std::string_view presented);

// "sha256=" and the hex HMAC-SHA256 of `body` under `app_secret`: Meta's
// X-Hub-Signature-256.
std::string meta_signature(std::string_view app_secret, std::string_view body);
bool meta_signature_valid(std::string_view app_secret, std::string_view body, std::string_view header);

// The body as JSON, or why not (malformed, nested too deep). `error` is empty on success.
nlohmann::json parse_json_body(std::string_view body, std::string& error);

// application/json, with or without parameters such as charset.
bool is_json_content_type(std::string_view content_type);

// A source_type as a URL path segment: 1-63 of [a-z0-9_], starting with a letter.
bool is_valid_source_type(std::string_view source_type);

// One leadgen change of a Meta page webhook.
struct MetaLeadgen {
  std::string leadgen_id;      // the digits, exact (ids exceed 2^53)
  nlohmann::json notification; // the change's value: page_id, form_id, ad_id, created_time
};

// Every entry[].changes[] whose field is "leadgen". A change without a usable leadgen_id
// is an error (the platform sent something else than it documents); other fields are
// skipped. `error` is empty on success.
std::vector<MetaLeadgen> meta_leadgen_changes(const nlohmann::json& body, std::string& error);

// The payloads of a push to a custom source: one object, or an array of them
// (at most `max_items`). `error` is empty on success.
nlohmann::json custom_payloads(const nlohmann::json& body, std::size_t max_items, std::string& error);

}  // namespace leadsync::serve
