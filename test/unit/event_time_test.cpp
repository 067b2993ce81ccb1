// parse_event_time: the formats listed in event_time.hpp. Expected values were computed
// with `date -u -d '<time>' +%s`.
#include "core/event_time.hpp"

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

namespace leadsync {
namespace {

constexpr std::int64_t kMicros = 1'000'000;
// 2025-01-15 10:30:00 UTC
constexpr std::int64_t k20250115T1030 = 1736937000;

void expect_time(std::string_view text, std::int64_t unix_micros, bool has_utc_offset) {
  SCOPED_TRACE(testing::Message() << "parse_event_time(\"" << text << "\")");
  auto parsed = parse_event_time(text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->unix_micros, unix_micros);
  EXPECT_EQ(parsed->has_utc_offset, has_utc_offset);
}

void expect_rejected(std::string_view text) {
  auto parsed = parse_event_time(text);
  EXPECT_FALSE(parsed.has_value()) << "parse_event_time(\"" << text << "\") gave unix_micros "
                                   << parsed->unix_micros;
}

TEST(ParseEventTime, ReadsMetaStyleTimesWithAPlusZeroOffset) {
  expect_time("2025-01-15T10:30:00+0000", k20250115T1030 * kMicros, true);
  expect_time("2026-10-20T08:49:14+0000", 1792486154 * kMicros, true);
}

TEST(ParseEventTime, ReadsZuluTimesAsUtc) {
  expect_time("2025-01-15T10:30:00Z", k20250115T1030 * kMicros, true);
  expect_time("2026-10-20T09:15:02Z", 1792487702 * kMicros, true);
}

TEST(ParseEventTime, SubtractsAPositiveColonOffsetToReachUtc) {
  expect_time("2025-01-15 10:30:00+05:30", (k20250115T1030 - 19800) * kMicros, true);
  expect_time("2026-10-20 11:11:21+05:30", 1792474881 * kMicros, true);
  expect_time("2026-10-20 14:45:02+05:30", 1792487702 * kMicros, true);
}

TEST(ParseEventTime, AddsANegativeOffsetToReachUtc) {
  expect_time("2025-01-15T10:30:00-0700", (k20250115T1030 + 25200) * kMicros, true);
}

TEST(ParseEventTime, KeepsFractionalSecondsAsMicroseconds) {
  expect_time("2025-01-15T10:30:00.123-0700", (k20250115T1030 + 25200) * kMicros + 123000, true);
  expect_time("2025-01-15T10:30:00.5Z", k20250115T1030 * kMicros + 500000, true);
  expect_time("2025-01-15T10:30:00.000001Z", k20250115T1030 * kMicros + 1, true);
  expect_time("2025-01-15T10:30:00.999999+0000", k20250115T1030 * kMicros + 999999, true);
}

TEST(ParseEventTime, ReadsATimeWithoutOffsetAsWallClockWithoutOffset) {
  expect_time("2025-01-15 10:30", k20250115T1030 * kMicros, false);
  expect_time("2025-01-15 10:30:00", k20250115T1030 * kMicros, false);
}

TEST(ParseEventTime, ReadsADateAloneAsItsMidnightWithoutOffset) {
  expect_time("2025-01-15", 1736899200 * kMicros, false);
  expect_time("2000-02-29", 951782400 * kMicros, false);
}

TEST(ParseEventTime, ReadsLeapDaysOfLeapYears) {
  expect_time("2024-02-29T12:00:00Z", 1709208000 * kMicros, true);
}

TEST(ParseEventTime, ReadsTimesBeforeTheEpochAsNegative) {
  expect_time("1969-12-31T23:59:59Z", -1 * kMicros, true);
  expect_time("1970-01-01T00:00:00Z", 0, true);
}

TEST(ParseEventTime, ReadsTenDigitEpochNumbersAsSecondsInUtc) {
  expect_time("1736937000", k20250115T1030 * kMicros, true);
}

TEST(ParseEventTime, ReadsNineAndElevenDigitEpochNumbersAsSeconds) {
  expect_time("999999999", 999999999 * kMicros, true);
  expect_time("10000000000", 10000000000 * kMicros, true);
}

TEST(ParseEventTime, ReadsThirteenDigitEpochNumbersAsMilliseconds) {
  expect_time("1736937000123", k20250115T1030 * kMicros + 123000, true);
}

TEST(ParseEventTime, ReadsTwelveAndFourteenDigitEpochNumbersAsMilliseconds) {
  expect_time("100000000000", 100000000000 * 1000, true);
  expect_time("10000000000000", 10000000000000 * 1000, true);
}

TEST(ParseEventTime, RejectsEpochNumbersOfOtherLengths) {
  expect_rejected("12345678");
  expect_rejected("123456789012345");
  expect_rejected("0");
}

TEST(ParseEventTime, RejectsDaysThatDoNotExist) {
  expect_rejected("2025-02-30");
  expect_rejected("2025-02-29");
  expect_rejected("2100-02-29T00:00:00Z");
  expect_rejected("2025-04-31 10:00:00");
  expect_rejected("2025-01-32");
  expect_rejected("2025-01-00");
}

TEST(ParseEventTime, RejectsMonthsThatDoNotExist) {
  expect_rejected("2025-13-01");
  expect_rejected("2025-00-10");
  expect_rejected("2025-13-01T10:30:00Z");
}

TEST(ParseEventTime, RejectsTimesOfDayThatDoNotExist) {
  expect_rejected("2025-01-15 25:00");
  expect_rejected("2025-01-15T25:00:00Z");
  expect_rejected("2025-01-15T10:60:00Z");
  expect_rejected("2025-01-15T10:30:61Z");
}

TEST(ParseEventTime, RejectsGarbage) {
  expect_rejected("yesterday");
  expect_rejected("not a date");
  expect_rejected("2025/01/15 10:30:00");
  expect_rejected("15-01-2025");
  expect_rejected("2025-1-15");
  expect_rejected("2025-01-15T");
  expect_rejected("2025-01-15T10:30:00+");
  expect_rejected("2025-01-15T10:30:00Zjunk");
  expect_rejected("📅");
  expect_rejected("1736937000abc");
}

TEST(ParseEventTime, RejectsTheEmptyString) {
  expect_rejected("");
}

}  // namespace
}  // namespace leadsync
