// Phone normalization: UTF-8 decoding and Unicode decimal digits, no allocation.
#include "core/phone.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace leadsync {
namespace {

constexpr char32_t kDigitZeros[] = {
#include "core/unicode_digits.inc"
};

// Decodes one UTF-8 sequence at text[pos]; advances pos. Returns U+FFFD for an
// invalid byte (skipping just that byte), which is never a digit.
char32_t decode_utf8(std::string_view text, std::size_t& pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  int length = lead < 0xC2 ? 0 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF5 ? 4 : 0;
  if (length == 0 || pos + length > text.size()) {
    ++pos;
    return 0xFFFD;
  }
  char32_t code_point = lead & (0x7F >> length);
  for (int i = 1; i < length; ++i) {
    unsigned char next = byte(pos + i);
    if ((next & 0xC0) != 0x80) {
      ++pos;
      return 0xFFFD;
    }
    code_point = (code_point << 6) | (next & 0x3F);
  }
  constexpr char32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kSmallest[length]) {  // an overlong form is invalid, as for PostgreSQL
    ++pos;
    return 0xFFFD;
  }
  pos += length;
  return code_point;
}

}  // namespace

int unicode_decimal_digit_value(char32_t code_point) {
  const char32_t* after = std::upper_bound(std::begin(kDigitZeros), std::end(kDigitZeros), code_point);
  if (after == std::begin(kDigitZeros)) return -1;
  char32_t offset = code_point - *(after - 1);
  return offset < 10 ? static_cast<int>(offset) : -1;
}

namespace {

// The general path: any UTF-8, forward, keeping a ring of the last ten digits.
bool normalize_phone_utf8(std::string_view text, char* out) {
  char ring[PhoneNumber::kDigits];
  std::size_t count = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    unsigned char byte = static_cast<unsigned char>(text[pos]);
    int digit;
    if (byte < 0x80) {
      ++pos;
      digit = (byte >= '0' && byte <= '9') ? byte - '0' : -1;
    } else {
      digit = unicode_decimal_digit_value(decode_utf8(text, pos));
    }
    if (digit >= 0) ring[count++ % PhoneNumber::kDigits] = static_cast<char>('0' + digit);
  }
  if (count < PhoneNumber::kDigits) return false;
  for (std::size_t i = 0; i < PhoneNumber::kDigits; ++i) out[i] = ring[(count + i) % PhoneNumber::kDigits];
  return true;
}

}  // namespace

bool normalize_phone_to(std::string_view text, char* out) noexcept {
  // Fast path: the last ten digits are at the end, and phones are ASCII. Scan backwards,
  // writing each digit in place, and stop at the tenth; a non-ASCII byte met before then
  // hands the whole text to the UTF-8 path (bytes before the last ten digits never matter).
  std::size_t found = 0;
  for (std::size_t pos = text.size(); pos > 0;) {
    const unsigned char byte = static_cast<unsigned char>(text[--pos]);
    if (byte >= 0x80) return normalize_phone_utf8(text, out);
    if (static_cast<unsigned>(byte - '0') < 10u) {
      out[PhoneNumber::kDigits - 1 - found] = static_cast<char>(byte);
      if (++found == PhoneNumber::kDigits) return true;
    }
  }
  return false;
}

std::optional<PhoneNumber> normalize_phone(std::string_view text) {
  PhoneNumber phone;
  if (!normalize_phone_to(text, phone.digits.data())) return std::nullopt;
  return phone;
}

}  // namespace leadsync
