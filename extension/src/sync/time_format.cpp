// Instants formatted for the platforms and the summaries; the calendar is the core's.
#include "sync/time_format.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/event_time.hpp"

namespace leadsync::sync {
namespace {

struct Civil {
  long long year;
  unsigned month, day, hour, minute, second;
};

Civil civil_from_unix(std::int64_t unix_seconds) {
  std::int64_t days = unix_seconds / 86400;
  std::int64_t rest = unix_seconds % 86400;
  if (rest < 0) rest += 86400, --days;
  const CivilDate date = civil_from_days(days);
  return {date.year, date.month, date.day, static_cast<unsigned>(rest / 3600),
          static_cast<unsigned>(rest % 3600 / 60), static_cast<unsigned>(rest % 60)};
}

}  // namespace

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_iso_utc(std::int64_t unix_seconds) {
  const Civil t = civil_from_unix(unix_seconds);
  char text[40];
  std::snprintf(text, sizeof text, "%04lld-%02u-%02uT%02u:%02u:%02uZ", t.year, t.month, t.day, t.hour, t.minute,
                t.second);
  return text;
}

std::string format_with_offset(std::int64_t unix_seconds, int offset_minutes, char separator) {
  const Civil t = civil_from_unix(unix_seconds + offset_minutes * 60);
  const int magnitude = std::abs(offset_minutes);
  char text[48];
  std::snprintf(text, sizeof text, "%04lld-%02u-%02u%c%02u:%02u:%02u%c%02d:%02d", t.year, t.month, t.day, separator,
                t.hour, t.minute, t.second, offset_minutes < 0 ? '-' : '+', magnitude / 60, magnitude % 60);
  return text;
}

std::optional<std::int64_t> parse_cli_time(std::string_view text) {
  auto parsed = parse_event_time(text);
  if (!parsed) return std::nullopt;
  std::int64_t micros = parsed->unix_micros;
  return micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
}

}  // namespace leadsync::sync
