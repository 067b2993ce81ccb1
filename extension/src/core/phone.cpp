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

std::optional<PhoneNumber> normalize_phone(std::string_view text) {
  // A ring of the last ten digits seen; `count` is how many digits there were in all.
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
  if (count < PhoneNumber::kDigits) return std::nullopt;
  PhoneNumber phone;
  for (std::size_t i = 0; i < PhoneNumber::kDigits; ++i)
    phone.digits[i] = ring[(count + i) % PhoneNumber::kDigits];
  return phone;
}

}  // namespace leadsync
