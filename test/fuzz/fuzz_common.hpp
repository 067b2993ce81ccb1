// Shared by the libFuzzer harnesses in this directory: property checks that abort (so
// libFuzzer records the input as a crash) and a strict UTF-8 validator.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

// A violated property is a finding like any sanitizer report: print it and abort.
#define FUZZ_CHECK(condition, what)                                                     \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, \
                   what, #condition);                                                   \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

namespace leadsync::fuzz {

// Well-formed UTF-8 as PostgreSQL accepts it in a UTF8 database: no overlong forms, no
// surrogates, nothing above U+10FFFF, and no NUL byte unless `allow_nul` (a text value
// cannot hold one, but a JSON string parsed outside PostgreSQL can).
inline bool is_valid_utf8(std::string_view text, bool allow_nul = false) {
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(text[at]); };
    const unsigned char lead = byte(i);
    if (lead == 0 && !allow_nul) return false;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    int length = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    char32_t code_point = lead & (0x7F >> length);
    for (int k = 1; k < length; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (byte(i + k) & 0x3F);
    }
    if ((length == 3 && code_point < 0x800) || (length == 4 && (code_point < 0x10000 || code_point > 0x10FFFF)) ||
        (code_point >= 0xD800 && code_point <= 0xDFFF))
      return false;
    i += length;
  }
  return true;
}

inline bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace leadsync::fuzz
