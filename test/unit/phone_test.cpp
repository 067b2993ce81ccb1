// normalize_phone and unicode_decimal_digit_value (DESIGN.md, "Phone normalization").
#include "core/phone.hpp"

#include <string>

#include <gtest/gtest.h>

namespace leadsync {
namespace {

// The normalized digits, or "<null>" so a failure shows what came back.
std::string normalized(std::string_view text) {
  auto phone = normalize_phone(text);
  return phone ? phone->str() : std::string("<null>");
}

const std::string kNull = "<null>";

TEST(NormalizePhone, GivesTheDesignDocumentExamplesTheSameTenDigits) {
  EXPECT_EQ(normalized("+91-98765 43210"), "9876543210");
  EXPECT_EQ(normalized("p:+919876543210"), "9876543210");
  EXPECT_EQ(normalized("09876543210"), "9876543210");
  EXPECT_EQ(normalized("919876543210"), "9876543210");
}

TEST(NormalizePhone, ReturnsNullForFewerThanTenDigits) {
  EXPECT_EQ(normalized("987654321"), kNull);
  EXPECT_EQ(normalized("+91 98765"), kNull);
  EXPECT_EQ(normalized("1"), kNull);
  EXPECT_EQ(normalized("phone: n/a"), kNull);
}

TEST(NormalizePhone, ReturnsNullForTheEmptyString) {
  EXPECT_EQ(normalized(""), kNull);
}

TEST(NormalizePhone, KeepsExactlyTenDigitsAsTheyAre) {
  EXPECT_EQ(normalized("9876543210"), "9876543210");
  EXPECT_EQ(normalized("0000000000"), "0000000000");
  EXPECT_EQ(normalized("(987) 654-3210"), "9876543210");
}

TEST(NormalizePhone, KeepsTheLastTenDigitsOfALongerNumber) {
  EXPECT_EQ(normalized("12345678901"), "2345678901");
  EXPECT_EQ(normalized("0091 98765 43210"), "9876543210");
  EXPECT_EQ(normalized("1234567890123456789"), "0123456789");
}

TEST(NormalizePhone, ReadsDevanagariDigits) {
  EXPECT_EQ(normalized("९८७६५४३२१०"), "9876543210");
  EXPECT_EQ(normalized("+९१ ९८७६५ ४३२१०"), "9876543210");
  EXPECT_EQ(normalized("०१२३४५६७८९"), "0123456789");
}

TEST(NormalizePhone, ReadsFullWidthDigits) {
  EXPECT_EQ(normalized("９８７６５４３２１０"), "9876543210");
  EXPECT_EQ(normalized("＋９１－９８７６５　４３２１０"), "9876543210");
}

TEST(NormalizePhone, ReadsArabicIndicAndExtendedArabicIndicDigits) {
  EXPECT_EQ(normalized("٩٨٧٦٥٤٣٢١٠"), "9876543210");  // U+0660..U+0669
  EXPECT_EQ(normalized("۹۸۷۶۵۴۳۲۱۰"), "9876543210");  // U+06F0..U+06F9
}

TEST(NormalizePhone, ReadsDigitsOfMixedScriptsInOneNumber) {
  // Devanagari, ASCII, full-width, Bengali and Arabic-Indic digits in one string.
  EXPECT_EQ(normalized("+९१ 98 ７６ ৫৪ ٣٢١٠"), "9876543210");
}

TEST(NormalizePhone, ReadsFourByteUtf8Digits) {
  // MATHEMATICAL BOLD DIGIT ZERO..NINE, U+1D7CE..U+1D7D7.
  EXPECT_EQ(normalized("𝟗𝟖𝟕𝟔𝟓𝟒𝟑𝟐𝟏𝟎"), "9876543210");
}

TEST(NormalizePhone, ReturnsNullForEmojiAndControlCharactersWithoutDigits) {
  EXPECT_EQ(normalized("📞📱☎️😀"), kNull);
  EXPECT_EQ(normalized("\t\r\n\x01\x1b\x7f"), kNull);
  EXPECT_EQ(normalized(std::string("\0\0\0\0\0\0\0\0\0\0\0\0", 12)), kNull);
}

TEST(NormalizePhone, ReadsDigitsMixedWithEmojiAndControlCharacters) {
  EXPECT_EQ(normalized("📞98765😀43210📱"), "9876543210");
  EXPECT_EQ(normalized("98765\t\x01\n43210"), "9876543210");
  EXPECT_EQ(normalized(std::string("98765\0" "43210", 11)), "9876543210");
}

TEST(NormalizePhone, DoesNotCountSuperscriptsFractionsOrCircledNumbersAsDigits) {
  // ² ³ ¹ ½ ① Ⅴ are numbers but not decimal digits (category No / Nl).
  EXPECT_EQ(normalized("987654321²"), kNull);
  EXPECT_EQ(normalized("98765432¹½"), kNull);
  EXPECT_EQ(normalized("①②③④⑤⑥⑦⑧⑨⑩"), kNull);
  EXPECT_EQ(normalized("ⅤⅤⅤⅤⅤⅤⅤⅤⅤⅤ"), kNull);
}

TEST(NormalizePhone, SkipsInvalidUtf8BytesWithoutLosingTheAsciiDigitsAroundThem) {
  EXPECT_EQ(normalized("\xff" "98765" "\xfe\x80\xbf" "43210" "\xc3"), "9876543210");
  // A lone lead byte followed by ASCII digits: the digits are not eaten as continuation bytes.
  EXPECT_EQ(normalized("\xe0" "9876543210"), "9876543210");
  EXPECT_EQ(normalized("\xe0\xa5" "9876543210"), "9876543210");
  EXPECT_EQ(normalized("\xf0\x9d\x9f" "9876543210"), "9876543210");
  // A Devanagari digit cut short at the end of the text.
  EXPECT_EQ(normalized("987654321" "\xe0\xa5"), kNull);
  EXPECT_EQ(normalized("\xc0\xc1\xf5\xf8\xff\xff\xff\xff\xff\xff\xff\xff"), kNull);
}

TEST(NormalizePhone, DoesNotReadOverlongUtf8EncodingsAsDigits) {
  // "\xe0\x80\xb0" and "\xf0\x80\x80\xb0" are overlong, invalid encodings of '0'.
  EXPECT_EQ(normalized("987654321" "\xe0\x80\xb0"), kNull);
  EXPECT_EQ(normalized("987654321" "\xf0\x80\x80\xb0"), kNull);
  // "\xf0\x80\xa5\xa6" is an overlong, invalid encoding of DEVANAGARI DIGIT ZERO.
  EXPECT_EQ(normalized("987654321" "\xf0\x80\xa5\xa6"), kNull);
}

TEST(NormalizePhone, KeepsTheLastTenDigitsOfAOneMegabyteString) {
  std::string digits(1 << 20, '0');
  for (std::size_t i = 0; i < digits.size(); ++i) digits[i] = static_cast<char>('0' + i * 7 % 10);
  EXPECT_EQ(normalized(digits), digits.substr(digits.size() - 10));
}

TEST(NormalizePhone, KeepsTheLastTenDigitsOfAOneMegabyteStringOfMostlyEmoji) {
  std::string text;
  for (int i = 0; i < (1 << 18); ++i) text += "📞";
  text += "९८७६५४३२१०";
  EXPECT_EQ(normalized(text), "9876543210");
  EXPECT_EQ(normalized(text.substr(0, 1 << 20)), kNull);
}

TEST(UnicodeDecimalDigitValue, ReadsAsciiDigits) {
  for (char32_t c = U'0'; c <= U'9'; ++c) EXPECT_EQ(unicode_decimal_digit_value(c), static_cast<int>(c - U'0'));
}

TEST(UnicodeDecimalDigitValue, ReadsEveryDigitOfSeveralScripts) {
  const char32_t zeros[] = {
      0x0660,   // ARABIC-INDIC
      0x06F0,   // EXTENDED ARABIC-INDIC
      0x0966,   // DEVANAGARI
      0x09E6,   // BENGALI
      0x0BE6,   // TAMIL
      0x0C66,   // TELUGU
      0x0E50,   // THAI
      0xFF10,   // FULLWIDTH
      0x104A0,  // OSMANYA
      0x1D7CE,  // MATHEMATICAL BOLD
      0x1D7F6,  // MATHEMATICAL MONOSPACE (the last run of that block)
      0x1FBF0,  // SEGMENTED (the last run in Unicode 14)
  };
  for (char32_t zero : zeros) {
    SCOPED_TRACE(testing::Message() << "run starting at U+" << std::hex << static_cast<unsigned>(zero));
    for (int value = 0; value < 10; ++value) EXPECT_EQ(unicode_decimal_digit_value(zero + value), value);
  }
}

TEST(UnicodeDecimalDigitValue, ReturnsMinusOneForNumbersThatAreNotDecimalDigits) {
  EXPECT_EQ(unicode_decimal_digit_value(0x00B2), -1);  // SUPERSCRIPT TWO
  EXPECT_EQ(unicode_decimal_digit_value(0x00B9), -1);  // SUPERSCRIPT ONE
  EXPECT_EQ(unicode_decimal_digit_value(0x00BD), -1);  // VULGAR FRACTION ONE HALF
  EXPECT_EQ(unicode_decimal_digit_value(0x2164), -1);  // ROMAN NUMERAL FIVE
  EXPECT_EQ(unicode_decimal_digit_value(0x2460), -1);  // CIRCLED DIGIT ONE
  EXPECT_EQ(unicode_decimal_digit_value(0x0F2A), -1);  // TIBETAN DIGIT HALF ONE
  EXPECT_EQ(unicode_decimal_digit_value(0x2070), -1);  // SUPERSCRIPT ZERO
}

TEST(UnicodeDecimalDigitValue, ReturnsMinusOneJustOutsideEachDigitRun) {
  EXPECT_EQ(unicode_decimal_digit_value(U'/'), -1);
  EXPECT_EQ(unicode_decimal_digit_value(U':'), -1);
  EXPECT_EQ(unicode_decimal_digit_value(0x0965), -1);  // DEVANAGARI DOUBLE DANDA
  EXPECT_EQ(unicode_decimal_digit_value(0x0970), -1);  // DEVANAGARI ABBREVIATION SIGN
  EXPECT_EQ(unicode_decimal_digit_value(0xFF0F), -1);
  EXPECT_EQ(unicode_decimal_digit_value(0xFF1A), -1);
  EXPECT_EQ(unicode_decimal_digit_value(0x1D7CD), -1);
  EXPECT_EQ(unicode_decimal_digit_value(0x1FBFA), -1);
}

TEST(UnicodeDecimalDigitValue, ReturnsMinusOneForLettersEmojiAndOutOfRangeValues) {
  EXPECT_EQ(unicode_decimal_digit_value(0), -1);
  EXPECT_EQ(unicode_decimal_digit_value(U'A'), -1);
  EXPECT_EQ(unicode_decimal_digit_value(0x0915), -1);  // DEVANAGARI LETTER KA
  EXPECT_EQ(unicode_decimal_digit_value(0x1F4DE), -1);  // TELEPHONE RECEIVER
  EXPECT_EQ(unicode_decimal_digit_value(0xFFFD), -1);
  EXPECT_EQ(unicode_decimal_digit_value(0x10FFFF), -1);
  EXPECT_EQ(unicode_decimal_digit_value(0x110000), -1);
  EXPECT_EQ(unicode_decimal_digit_value(0xFFFFFFFF), -1);
}

}  // namespace
}  // namespace leadsync
