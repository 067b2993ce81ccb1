// Phone normalization: the dedup key of every lead (DESIGN.md, "Phone normalization").
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace leadsync {

// The last ten decimal digits of a phone number, ASCII '0'-'9'.
struct PhoneNumber {
  static constexpr std::size_t kDigits = 10;
  std::array<char, kDigits> digits{};

  std::string_view view() const { return {digits.data(), digits.size()}; }
  std::string str() const { return std::string(view()); }
  friend bool operator==(const PhoneNumber& a, const PhoneNumber& b) { return a.digits == b.digits; }
  friend bool operator<(const PhoneNumber& a, const PhoneNumber& b) { return a.digits < b.digits; }
};

// Keeps the decimal digits of `text` (ASCII and every Unicode decimal digit, such as
// Devanagari or full-width ones, read as UTF-8) and returns the last ten.
// nullopt when the text holds fewer than ten digits. Invalid UTF-8 bytes are skipped.
std::optional<PhoneNumber> normalize_phone(std::string_view text);

// The same into out[0..9]; false (out unspecified) when fewer than ten digits.
bool normalize_phone_to(std::string_view text, char* out) noexcept;

// The value 0-9 of a Unicode decimal digit (general category Nd), or -1.
int unicode_decimal_digit_value(char32_t code_point);

}  // namespace leadsync

#include "pure_cpp.hpp"
