// Instants as the platforms and the summary want them; Unix seconds throughout.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace leadsync::sync {

std::int64_t unix_now();

// 2026-11-25T15:30:00Z
std::string format_iso_utc(std::int64_t unix_seconds);

// `2026-11-25 21:00:00+05:30` for offset_minutes = 330 (separator ' ' or 'T').
std::string format_with_offset(std::int64_t unix_seconds, int offset_minutes, char separator = ' ');

// A command-line time: any format the core's parse_event_time reads; one without an
// offset is taken as UTC.
std::optional<std::int64_t> parse_cli_time(std::string_view text);

}  // namespace leadsync::sync
