#include "webhook_rules.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>

#include "sync/page_fetch.hpp"  // kMaxJsonDepth: the fetcher's limit for platform JSON

namespace leadsync::serve {
namespace {

using Digest = std::vector<unsigned char>;

Digest sha256(std::string_view text) {
  Digest digest(EVP_MAX_MD_SIZE);
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) return {};
  digest.resize(length);
  return digest;
}

Digest hmac_sha256(std::string_view key, std::string_view body) {
  Digest digest(EVP_MAX_MD_SIZE);
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(body.data()),
           body.size(), digest.data(), &length) == nullptr)
    return {};
  digest.resize(length);
  return digest;
}

std::string hex(const Digest& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (unsigned char byte : digest) {
    text += kDigits[byte >> 4];
    text += kDigits[byte & 0xF];
  }
  return text;
}

// A leadgen_id as Meta sends it: a JSON integer or a string of digits.
std::string id_text(const nlohmann::json& value) {
  std::string text;
  if (value.is_number_unsigned()) text = std::to_string(value.get<std::uint64_t>());
  else if (value.is_number_integer()) text = std::to_string(value.get<std::int64_t>());
  else if (value.is_string()) text = value.get<std::string>();
  if (text.empty() || text.size() > 32) return {};
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return {};
  return text;
}

// The member `key` of an object, or null (also when `object` is no object).
const nlohmann::json* member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto found = object.find(key);
  return found == object.end() ? nullptr : &*found;
}

}  // namespace

bool secrets_equal(std::string_view expected, std::string_view presented) {
  if (expected.empty()) return false;
  const Digest a = sha256(expected), b = sha256(presented);
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string meta_signature(std::string_view app_secret, std::string_view body) {
  return "sha256=" + hex(hmac_sha256(app_secret, body));
}

bool meta_signature_valid(std::string_view app_secret, std::string_view body, std::string_view header) {
  if (app_secret.empty() || header.substr(0, 7) != "sha256=") return false;
  std::string presented(header.substr(7));
  for (char& c : presented) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return secrets_equal(meta_signature(app_secret, body).substr(7), presented);
}

nlohmann::json parse_json_body(std::string_view body, std::string& error) {
  bool too_deep = false;
  nlohmann::json value = nlohmann::json::parse(
      body.begin(), body.end(),
      [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth > sync::kMaxJsonDepth) too_deep = true;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  if (too_deep) error = "JSON nested deeper than " + std::to_string(sync::kMaxJsonDepth) + " levels";
  else if (value.is_discarded()) error = "malformed JSON";
  else error.clear();
  return error.empty() ? value : nlohmann::json();
}

bool is_json_content_type(std::string_view content_type) {
  const std::string_view type = content_type.substr(0, content_type.find(';'));
  std::string lowered;
  for (char c : type)
    if (c != ' ' && c != '\t') lowered += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lowered == "application/json";
}

bool is_valid_source_type(std::string_view source_type) {
  if (source_type.empty() || source_type.size() > 63 || !std::islower(static_cast<unsigned char>(source_type[0])))
    return false;
  for (char c : source_type)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return true;
}

std::vector<MetaLeadgen> meta_leadgen_changes(const nlohmann::json& body, std::string& error) {
  std::vector<MetaLeadgen> leads;
  error.clear();
  const nlohmann::json* entries = member(body, "entry");
  if (entries == nullptr || !entries->is_array()) {
    error = "not a Meta webhook: no entry array";
    return {};
  }
  for (const nlohmann::json& entry : *entries) {
    const nlohmann::json* changes = member(entry, "changes");
    if (changes == nullptr || !changes->is_array()) continue;
    for (const nlohmann::json& change : *changes) {
      if (sync::string_member(change, "field") != "leadgen") continue;
      const nlohmann::json* value = member(change, "value");
      const nlohmann::json* id = value != nullptr ? member(*value, "leadgen_id") : nullptr;
      std::string leadgen_id = id != nullptr ? id_text(*id) : std::string();
      if (leadgen_id.empty()) {
        error = "a leadgen change without a leadgen_id of digits";
        return {};
      }
      leads.push_back({std::move(leadgen_id), *value});
    }
  }
  return leads;
}

nlohmann::json custom_payloads(const nlohmann::json& body, std::size_t max_items, std::string& error) {
  error.clear();
  if (body.is_object()) return nlohmann::json::array({body});
  if (!body.is_array()) {
    error = "the body must be a JSON object or an array of them";
    return {};
  }
  if (body.empty() || body.size() > max_items) {
    error = "an array of 1 to " + std::to_string(max_items) + " payloads is expected";
    return {};
  }
  return body;  // an element that is no object becomes a reject row, like any payload
}

}  // namespace leadsync::serve
