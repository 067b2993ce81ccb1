// parse_event_time on arbitrary text: the event times every extractor reads.
//
// Properties: no sanitizer report (the calendar arithmetic on hostile numbers); a parsed
// time written back as ISO-8601 (with Z when it had an offset, without one otherwise)
// parses to the same instant; an epoch number keeps its exact value.
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/event_time.hpp"
#include "fuzz_common.hpp"

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = leadsync::parse_event_time(text);
  if (!parsed) return 0;

  const std::int64_t micros = parsed->unix_micros;
  const std::int64_t seconds = floor_div(micros, 1000000);
  const std::int64_t fraction = micros - seconds * 1000000;
  const std::int64_t days = floor_div(seconds, 86400);
  const std::int64_t in_day = seconds - days * 86400;
  const auto [year, month, day] = leadsync::civil_from_days(days);
  if (year < 1 || year > 9999) return 0;  // an offset moved it out of four-digit years

  char iso[64];
  std::snprintf(iso, sizeof iso, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%06d%s", year, month, day,
                static_cast<int>(in_day / 3600), static_cast<int>(in_day % 3600 / 60), static_cast<int>(in_day % 60),
                static_cast<int>(fraction), parsed->has_utc_offset ? "Z" : "");
  const auto again = leadsync::parse_event_time(iso);
  FUZZ_CHECK(again.has_value(), "a parsed time written as ISO-8601 parses again");
  FUZZ_CHECK(again->unix_micros == micros, "and gives the same instant");
  FUZZ_CHECK(again->has_utc_offset == parsed->has_utc_offset, "and the same offset kind");
  return 0;
}
