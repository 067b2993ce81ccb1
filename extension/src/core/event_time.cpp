// Timestamp parsing by hand: the formats are few and fixed, and the core may not
// depend on PostgreSQL's parser or a time zone database.
#include "core/event_time.hpp"

#include <cctype>

namespace leadsync {

std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const unsigned year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

CivilDate civil_from_days(std::int64_t days) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned mp = (5 * day_of_year + 2) / 153;
  const unsigned day = day_of_year - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2), month, day};
}

namespace {

constexpr std::int64_t kMicrosPerSecond = 1000000;

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  bool at_end() const { return pos_ == text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  bool accept(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  // Exactly `width` ASCII digits.
  bool number(int width, int& value) {
    if (pos_ + width > text_.size()) return false;
    value = 0;
    for (int i = 0; i < width; ++i) {
      char c = text_[pos_ + i];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    pos_ += width;
    return true;
  }
  // Up to six digits of a fraction of a second, as microseconds; more are ignored.
  std::int64_t fraction_micros() {
    std::int64_t micros = 0;
    int digits = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (digits < 6) micros = micros * 10 + (peek() - '0'), ++digits;
      ++pos_;
    }
    for (; digits < 6; ++digits) micros *= 10;
    return micros;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::optional<EventTime> parse_epoch_number(std::string_view digits) {
  if (digits.size() < 9 || digits.size() > 14) return std::nullopt;
  std::int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  const std::int64_t micros = digits.size() <= 11 ? value * kMicrosPerSecond : value * 1000;
  return EventTime{micros, true};
}

}  // namespace

std::optional<EventTime> parse_event_time(std::string_view raw) {
  const std::string_view text = trim(raw);
  if (auto epoch = parse_epoch_number(text)) return epoch;

  Cursor in(text);
  int year, month, day, hour = 0, minute = 0, second = 0;
  std::int64_t micros = 0;
  if (!in.number(4, year) || !in.accept('-') || !in.number(2, month) || !in.accept('-') ||
      !in.number(2, day))
    return std::nullopt;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
    return std::nullopt;

  if (in.accept('T') || in.accept('t') || in.accept(' ')) {
    if (!in.number(2, hour) || !in.accept(':') || !in.number(2, minute)) return std::nullopt;
    if (in.accept(':')) {
      if (!in.number(2, second)) return std::nullopt;
      if (in.accept('.') || in.accept(',')) micros = in.fraction_micros();
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;  // 60: a leap second
  }

  std::int64_t offset_seconds = 0;
  bool has_offset = false;
  while (in.accept(' ')) {
  }
  if (in.accept('Z') || in.accept('z')) {
    has_offset = true;
  } else if (in.peek() == '+' || in.peek() == '-') {
    const int sign = in.accept('-') ? -1 : (in.accept('+'), 1);
    int offset_hours, offset_minutes = 0;
    if (!in.number(2, offset_hours)) return std::nullopt;
    if (in.accept(':')) {
      if (!in.number(2, offset_minutes)) return std::nullopt;
    } else if (!in.at_end() && !in.number(2, offset_minutes)) {
      return std::nullopt;
    }
    if (offset_hours > 15 || offset_minutes > 59) return std::nullopt;
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
    has_offset = true;
  }
  if (!in.at_end()) return std::nullopt;

  const std::int64_t seconds =
      days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  return EventTime{seconds * kMicrosPerSecond + micros, has_offset};
}

}  // namespace leadsync
