// normalize_phone on arbitrary bytes (valid or not as UTF-8).
//
// Properties: no sanitizer report; the result is ten ASCII digits and normalizes to
// itself; for pure ASCII input it is exactly the last ten of the input's digits (and
// absent when there are fewer); appending ten ASCII digits always yields those digits.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/phone.hpp"
#include "fuzz_common.hpp"

using leadsync::normalize_phone;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto phone = normalize_phone(text);

  if (phone) {
    for (char c : phone->digits) FUZZ_CHECK(c >= '0' && c <= '9', "a normalized phone holds only ASCII digits");
    const auto again = normalize_phone(phone->view());
    FUZZ_CHECK(again && *again == *phone, "normalize_phone is idempotent");
  }

  bool ascii = true;
  std::string digits;
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) ascii = false;
    if (c >= '0' && c <= '9') digits.push_back(c);
  }
  if (ascii) {
    FUZZ_CHECK(phone.has_value() == (digits.size() >= 10), "ASCII input: a phone exactly when there are 10+ digits");
    if (phone) FUZZ_CHECK(phone->str() == digits.substr(digits.size() - 10), "ASCII input: the last ten digits");
  } else {
    // Every ASCII digit is a digit whatever surrounds it, so a non-ASCII input has at
    // least as many digits as its ASCII digits alone.
    if (digits.size() >= 10) FUZZ_CHECK(phone.has_value(), "ten ASCII digits always make a phone");
  }

  const std::string suffixed = std::string(text) + "0123456789";
  const auto last = normalize_phone(suffixed);
  FUZZ_CHECK(last && last->str() == "0123456789", "ten trailing ASCII digits are the phone whatever comes before");
  return 0;
}
