// The extraction rules shared by every platform adapter and by custom sources.
#include "core/lead.hpp"

#include <cctype>

#include "core/extract.hpp"

namespace leadsync {
namespace {

constexpr std::size_t kReasonExcerptBytes = 40;

bool is_blank(std::string_view text) {
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

std::optional<std::string> first_non_blank(const std::vector<std::string>& values) {
  for (const std::string& value : values)
    if (!is_blank(value)) return trimmed(value);
  return std::nullopt;
}

// A short, printable excerpt of untrusted text for a reject reason: at most
// kReasonExcerptBytes bytes, cut on a UTF-8 boundary, control characters shown as '?'.
std::string excerpt(std::string_view text) {
  std::string out;
  std::size_t end = text.size();
  if (end > kReasonExcerptBytes) {
    end = kReasonExcerptBytes;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  }
  for (std::size_t i = 0; i < end; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    out.push_back(c < 0x20 || c == 0x7F ? '?' : static_cast<char>(c));
  }
  if (end < text.size()) out += "...";
  return out;
}

}  // namespace

std::string reason_not_an_object(std::string_view json_type) {
  return "payload is not a JSON object (got " + std::string(json_type) + ")";
}

std::string reason_no_phone_field() { return "no phone field"; }

std::string reason_phone_too_short(std::string_view raw_phone) {
  return "phone \"" + excerpt(raw_phone) + "\" has fewer than 10 digits";
}

std::string reason_test_lead() { return "test lead"; }

Extraction finish_extraction(const FieldCandidates& candidates) {
  if (candidates.phones.empty()) return Extraction::rejected(reason_no_phone_field());
  std::optional<PhoneNumber> phone;
  for (const std::string& raw : candidates.phones)
    if ((phone = normalize_phone(raw))) break;
  if (!phone) return Extraction::rejected(reason_phone_too_short(candidates.phones.front()));

  Lead lead;
  lead.phone = *phone;
  lead.full_name = first_non_blank(candidates.names);
  lead.external_id = first_non_blank(candidates.external_ids);
  for (const std::string& raw : candidates.event_times)
    if ((lead.event_time = parse_event_time(raw))) break;
  return Extraction::accepted(std::move(lead));
}

namespace detail {

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string join_name(const std::optional<std::string>& first, const std::optional<std::string>& last) {
  std::string a = first ? trimmed(*first) : std::string();
  std::string b = last ? trimmed(*last) : std::string();
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + " " + b;
}

}  // namespace detail
}  // namespace leadsync
