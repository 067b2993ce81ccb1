// Platform event times ("created_time", "start_time", ...) parsed without a time zone
// database: an explicit UTC offset is applied here, a missing one is left to the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace leadsync {

struct EventTime {
  // Microseconds since 1970-01-01 00:00:00. With an offset this is a UTC instant;
  // without one it is the wall-clock reading, to be placed in the business time zone.
  std::int64_t unix_micros = 0;
  bool has_utc_offset = false;
};

// The proleptic Gregorian calendar as days since 1970-01-01 (Howard Hinnant's
// algorithms): the one copy the parser, the fetcher's time formats and the tests use.
struct CivilDate {
  std::int64_t year;
  unsigned month;
  unsigned day;
};
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day);
CivilDate civil_from_days(std::int64_t days);

// Accepts ISO-8601 / SQL style timestamps as the platforms send them:
//   2025-01-15T10:30:00+0000   2025-01-15T10:30:00Z   2025-01-15 10:30:00+05:30
//   2025-01-15T10:30:00.123-0700   2025-01-15 10:30   2025-01-15
// and Unix epoch numbers: 9-11 digits are seconds, 12-14 digits are milliseconds.
// Returns nullopt for anything else, including impossible dates and times.
std::optional<EventTime> parse_event_time(std::string_view text);

}  // namespace leadsync

#include "pure_cpp.hpp"
