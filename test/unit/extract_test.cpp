// extract_lead over the platforms' documented sample payloads (test/data/api-samples/),
// read through NlohmannJsonAccess; plus the rejections and field priorities.
#include "core/extract.hpp"

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "nlohmann_json_access.hpp"

#ifndef LEADSYNC_TEST_DATA_DIR
#error "LEADSYNC_TEST_DATA_DIR must name test/data/api-samples (set by CMakeLists.txt)"
#endif

namespace leadsync {
namespace {

using json = nlohmann::json;

// EXPECT_PRED2(contains, text, part) shows both strings when it fails.
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

constexpr std::int64_t kMicros = 1'000'000;

json load_sample(const std::string& relative_path) {
  const std::string path = std::string(LEADSYNC_TEST_DATA_DIR) + "/" + relative_path;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open sample " + path);
  return json::parse(in);
}

Extraction extract(SourceKind kind, const json& payload) {
  return extract_lead(kind, NlohmannJsonAccess(payload));
}

// What a sample lead is expected to become.
struct ExpectedLead {
  std::string phone;
  std::optional<std::string> full_name;
  std::string external_id;
  std::optional<std::int64_t> unix_seconds;  // nullopt: the payload has no event time
};

void expect_lead(const Extraction& extraction, const ExpectedLead& expected) {
  ASSERT_TRUE(extraction.lead.has_value()) << "rejected: " << extraction.reject_reason;
  const Lead& lead = *extraction.lead;
  EXPECT_EQ(lead.phone.str(), expected.phone);
  EXPECT_EQ(lead.full_name, expected.full_name);
  EXPECT_EQ(lead.external_id, expected.external_id);
  if (expected.unix_seconds) {
    ASSERT_TRUE(lead.event_time.has_value());
    EXPECT_EQ(lead.event_time->unix_micros, *expected.unix_seconds * kMicros);
    EXPECT_TRUE(lead.event_time->has_utc_offset);
  } else {
    EXPECT_FALSE(lead.event_time.has_value());
  }
}

void expect_rejected(const Extraction& extraction, const std::string& reason) {
  EXPECT_FALSE(extraction.lead.has_value()) << "accepted phone " << extraction.lead->phone.str();
  EXPECT_EQ(extraction.reject_reason, reason);
}

// ---------------------------------------------------------------------------
// NlohmannJsonAccess
// ---------------------------------------------------------------------------

TEST(NlohmannJsonAccess, PrintsIntegersWithAllTheirDigits) {
  json doc = json::parse(R"([120210000000000001, 18446744073709551615, -9223372036854775808, 0, 444444444444])");
  NlohmannJsonAccess array(doc);
  ASSERT_EQ(array.size(), 5u);
  EXPECT_EQ(array.element(0).scalar_text(), "120210000000000001");
  EXPECT_EQ(array.element(1).scalar_text(), "18446744073709551615");
  EXPECT_EQ(array.element(2).scalar_text(), "-9223372036854775808");
  EXPECT_EQ(array.element(3).scalar_text(), "0");
  EXPECT_EQ(array.element(4).scalar_text(), "444444444444");
}

TEST(NlohmannJsonAccess, PrintsFloatsAsJsonDoes) {
  json doc = json::parse(R"([1.5, 1e20])");
  NlohmannJsonAccess array(doc);
  EXPECT_EQ(array.element(0).scalar_text(), doc[0].dump());
  EXPECT_EQ(array.element(1).scalar_text(), doc[1].dump());
}

TEST(NlohmannJsonAccess, GivesStringsTheirTextAndNothingForBooleansNullObjectsOrArrays) {
  json doc = json::parse(R"(["+91 98765 43210", "", true, false, null, {}, []])");
  NlohmannJsonAccess array(doc);
  EXPECT_EQ(array.element(0).scalar_text(), "+91 98765 43210");
  EXPECT_EQ(array.element(1).scalar_text(), "");
  for (std::size_t i = 2; i < 7; ++i) EXPECT_EQ(array.element(i).scalar_text(), std::nullopt) << i;
}

TEST(NlohmannJsonAccess, FindsObjectMembersByExactKeyOnly) {
  json doc = json::parse(R"({"id": "7", "nested": {"a": [1, 2]}})");
  NlohmannJsonAccess object(doc);
  EXPECT_TRUE(object.is_object());
  EXPECT_FALSE(object.is_array());
  EXPECT_EQ(object.type_name(), "object");
  ASSERT_TRUE(object.member("id").has_value());
  EXPECT_EQ(object.member("id")->scalar_text(), "7");
  EXPECT_FALSE(object.member("ID").has_value());
  EXPECT_FALSE(object.member("missing").has_value());
  auto a = object.member("nested")->member("a");
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->is_array());
  EXPECT_EQ(a->size(), 2u);
  EXPECT_EQ(a->element(1).scalar_text(), "2");
}

TEST(NlohmannJsonAccess, TreatsNonObjectsAsHavingNoMembersAndNonArraysAsEmpty) {
  json doc = json::parse(R"(["x", 3, null])");
  NlohmannJsonAccess array(doc);
  EXPECT_EQ(array.type_name(), "array");
  EXPECT_FALSE(array.member("x").has_value());
  EXPECT_EQ(array.element(0).size(), 0u);
  EXPECT_EQ(array.element(0).type_name(), "string");
  EXPECT_EQ(array.element(1).type_name(), "number");
  EXPECT_EQ(array.element(2).type_name(), "null");
  EXPECT_FALSE(array.element(2).member("x").has_value());
}

// ---------------------------------------------------------------------------
// Built-in sources
// ---------------------------------------------------------------------------

TEST(FindBuiltinSource, FindsEachPlatformBySourceType) {
  auto meta = find_builtin_source("meta_form");
  ASSERT_TRUE(meta.has_value());
  EXPECT_EQ(meta->kind, SourceKind::MetaForm);
  EXPECT_EQ(meta->display_name, "Meta");
  auto knowlarity = find_builtin_source("knowlarity_call");
  ASSERT_TRUE(knowlarity.has_value());
  EXPECT_EQ(knowlarity->kind, SourceKind::KnowlarityCall);
  EXPECT_EQ(knowlarity->display_name, "Knowlarity");
  auto google = find_builtin_source("google_ads");
  ASSERT_TRUE(google.has_value());
  EXPECT_EQ(google->kind, SourceKind::GoogleAds);
  EXPECT_EQ(google->display_name, "Google");
}

TEST(FindBuiltinSource, FindsNothingForOtherNames) {
  EXPECT_FALSE(find_builtin_source("Meta").has_value());
  EXPECT_FALSE(find_builtin_source("meta").has_value());
  EXPECT_FALSE(find_builtin_source("").has_value());
  EXPECT_FALSE(find_builtin_source("my_custom_source").has_value());
}

// ---------------------------------------------------------------------------
// Meta Lead Ads
// ---------------------------------------------------------------------------

TEST(ExtractMetaForm, TurnsEveryLeadOfTheFirstSamplePageIntoALead) {
  json page = load_sample("meta/leads_page1.json");
  const ExpectedLead expected[] = {
      {"9876543210", "Rohit Sharma", "2468013579246801", 1792486154},  // 2026-10-20T08:49:14+0000
      {"9845012345", "Priya Nair", "2468013579246802", 1792485662},    // first_name + last_name
  };
  ASSERT_EQ(page.at("data").size(), std::size(expected));
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    SCOPED_TRACE(testing::Message() << "data[" << i << "]");
    expect_lead(extract(SourceKind::MetaForm, page["data"][i]), expected[i]);
  }
}

TEST(ExtractMetaForm, TurnsTheLeadOfTheLastSamplePageIntoALead) {
  json page = load_sample("meta/leads_page2_last.json");
  ASSERT_EQ(page.at("data").size(), 1u);
  expect_lead(extract(SourceKind::MetaForm, page["data"][0]),
              {"9812345678", "Anil Kumar", "2468013579246803", 1792454320});  // 2026-10-19T23:58:40+0000
}

TEST(ExtractMetaForm, JoinsFirstAndLastNameWithASpace) {
  json lead = json::parse(R"({"id": "1", "field_data": [
      {"name": "last_name", "values": ["Nair"]},
      {"name": "phone_number", "values": ["9845012345"]},
      {"name": "first_name", "values": ["Priya"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->full_name, "Priya Nair");
}

TEST(ExtractMetaForm, UsesAFirstNameOrALastNameAloneAsTheName) {
  json first_only = json::parse(R"({"field_data": [
      {"name": "first_name", "values": ["Priya"]}, {"name": "phone_number", "values": ["9845012345"]}]})");
  json last_only = json::parse(R"({"field_data": [
      {"name": "last_name", "values": ["Nair"]}, {"name": "phone_number", "values": ["9845012345"]}]})");
  auto first = extract(SourceKind::MetaForm, first_only);
  auto last = extract(SourceKind::MetaForm, last_only);
  ASSERT_TRUE(first.lead) << first.reject_reason;
  ASSERT_TRUE(last.lead) << last.reject_reason;
  EXPECT_EQ(first.lead->full_name, "Priya");
  EXPECT_EQ(last.lead->full_name, "Nair");
}

TEST(ExtractMetaForm, PrefersFullNameOverFirstAndLastName) {
  json lead = json::parse(R"({"field_data": [
      {"name": "first_name", "values": ["Priya"]},
      {"name": "last_name", "values": ["Nair"]},
      {"name": "full_name", "values": ["Priya R. Nair"]},
      {"name": "phone_number", "values": ["9845012345"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->full_name, "Priya R. Nair");
}

TEST(ExtractMetaForm, SkipsABlankFullNameForTheNextName) {
  json lead = json::parse(R"({"field_data": [
      {"name": "full_name", "values": ["   "]},
      {"name": "first_name", "values": ["Priya"]},
      {"name": "phone_number", "values": ["9845012345"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->full_name, "Priya");
}

TEST(ExtractMetaForm, LeavesTheNameEmptyWhenTheFormHasNone) {
  json lead = json::parse(R"({"id": "5", "field_data": [{"name": "phone_number", "values": ["9845012345"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->full_name, std::nullopt);
}

TEST(ExtractMetaForm, UsesMobileWhenPhoneNumberDoesNotNormalize) {
  json lead = json::parse(R"({"id": "1", "field_data": [
      {"name": "phone_number", "values": ["n/a"]},
      {"name": "mobile", "values": ["+91 90000 11111"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->phone.str(), "9000011111");
}

TEST(ExtractMetaForm, PrefersPhoneNumberOverMobileWhateverTheirOrderInTheForm) {
  json lead = json::parse(R"({"id": "1", "field_data": [
      {"name": "mobile", "values": ["+91 90000 11111"]},
      {"name": "phone_number", "values": ["+91 98765 43210"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->phone.str(), "9876543210");
}

TEST(ExtractMetaForm, MatchesFieldNamesWithoutRegardToCase) {
  json lead = json::parse(R"({"id": "1", "field_data": [
      {"name": "FULL_NAME", "values": ["Rohit Sharma"]},
      {"name": "Phone_Number", "values": ["+919876543210"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->phone.str(), "9876543210");
  EXPECT_EQ(extraction.lead->full_name, "Rohit Sharma");
}

TEST(ExtractMetaForm, KeepsNumericIdsAsTheirExactDigits) {
  json small = json::parse(R"({"id": 444444444444, "field_data": [{"name": "phone_number", "values": ["9876543210"]}]})");
  // Above 2^53: a double would round it to 120210000000000000.
  json large = json::parse(R"({"id": 120210000000000001, "field_data": [{"name": "phone_number", "values": ["9876543210"]}]})");
  auto a = extract(SourceKind::MetaForm, small);
  auto b = extract(SourceKind::MetaForm, large);
  ASSERT_TRUE(a.lead) << a.reject_reason;
  ASSERT_TRUE(b.lead) << b.reject_reason;
  EXPECT_EQ(a.lead->external_id, "444444444444");
  EXPECT_EQ(b.lead->external_id, "120210000000000001");
}

TEST(ExtractMetaForm, ReadsANumericPhoneValue) {
  json lead = json::parse(R"({"id": "1", "field_data": [{"name": "phone_number", "values": [919876543210]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->phone.str(), "9876543210");
}

TEST(ExtractMetaForm, AcceptsALeadWhoseCreatedTimeIsUnreadableWithoutAnEventTime) {
  json lead = json::parse(R"({"id": "1", "created_time": "sometime", "field_data": [
      {"name": "phone_number", "values": ["9876543210"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_FALSE(extraction.lead->event_time.has_value());
}

TEST(ExtractMetaForm, RejectsALeadWithoutAnyPhoneField) {
  json lead = json::parse(R"({"id": "1", "field_data": [
      {"name": "full_name", "values": ["Rohit Sharma"]},
      {"name": "email", "values": ["rohit@example.com"]}]})");
  expect_rejected(extract(SourceKind::MetaForm, lead), reason_no_phone_field());
  expect_rejected(extract(SourceKind::MetaForm, json::object()), reason_no_phone_field());
}

TEST(ExtractMetaForm, RejectsAPhoneOfFewerThanTenDigitsNamingTheRawPhone) {
  json lead = json::parse(R"({"id": "1", "field_data": [{"name": "phone_number", "values": ["+91 98765"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  expect_rejected(extraction, reason_phone_too_short("+91 98765"));
  EXPECT_PRED2(contains, extraction.reject_reason, "+91 98765");
}

TEST(ExtractMetaForm, RejectsAPhoneOfEmojiOnly) {
  json lead = json::parse(R"({"id": "1", "field_data": [{"name": "phone_number", "values": ["📞📱"]}]})");
  auto extraction = extract(SourceKind::MetaForm, lead);
  expect_rejected(extraction, reason_phone_too_short("📞📱"));
  EXPECT_PRED2(contains, extraction.reject_reason, "📞📱");
}

// ---------------------------------------------------------------------------
// Knowlarity call logs
// ---------------------------------------------------------------------------

TEST(ExtractKnowlarityCall, TurnsEveryRecordOfTheSampleCallLogIntoALeadWithoutAName) {
  json page1 = load_sample("knowlarity/calllog_page1.json");
  json page2 = load_sample("knowlarity/calllog_page2_last.json");
  ASSERT_EQ(page1.at("objects").size(), 2u);
  ASSERT_EQ(page2.at("objects").size(), 1u);
  {
    SCOPED_TRACE("page 1, objects[0]");  // 2026-10-20 11:11:21+05:30
    expect_lead(extract(SourceKind::KnowlarityCall, page1["objects"][0]),
                {"7330995416", std::nullopt, "93b4c091-ab5c-401f-9a0c-e99c20ffc95b", 1792474881});
  }
  {
    SCOPED_TRACE("page 1, objects[1]");  // 2026-10-20 11:16:14+05:30
    expect_lead(extract(SourceKind::KnowlarityCall, page1["objects"][1]),
                {"8019858999", std::nullopt, "70967713-ca23-4bce-92e9-8617a63e7e9e", 1792475174});
  }
  {
    SCOPED_TRACE("page 2, objects[0]");  // 2026-10-20 12:02:05+05:30
    expect_lead(extract(SourceKind::KnowlarityCall, page2["objects"][0]),
                {"9876543210", std::nullopt, "5c2f8e1a-7d3b-4a9e-b1c4-2e6f9a0d8b71", 1792477925});
  }
}

TEST(ExtractKnowlarityCall, UsesCallerIdWhenCustomerNumberIsMissing) {
  json call = json::parse(R"({"uuid": "u1", "caller_id": "+919876543210", "start_time": "2026-10-20 12:02:05+05:30"})");
  expect_lead(extract(SourceKind::KnowlarityCall, call), {"9876543210", std::nullopt, "u1", 1792477925});
}

TEST(ExtractKnowlarityCall, UsesCallerIdWhenCustomerNumberIsTooShort) {
  json call = json::parse(R"({"uuid": "u1", "customer_number": "12345", "caller_id": "+919876543210"})");
  expect_lead(extract(SourceKind::KnowlarityCall, call), {"9876543210", std::nullopt, "u1", std::nullopt});
}

TEST(ExtractKnowlarityCall, PrefersCustomerNumberOverCallerId) {
  json call = json::parse(R"({"uuid": "u1", "customer_number": "+917330995416", "caller_id": "+919876543210"})");
  auto extraction = extract(SourceKind::KnowlarityCall, call);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->phone.str(), "7330995416");
}

TEST(ExtractKnowlarityCall, UsesIdWhenUuidIsMissingOrBlank) {
  json no_uuid = json::parse(R"({"id": 98765, "customer_number": "+917330995416"})");
  json blank_uuid = json::parse(R"({"uuid": "", "id": "call-7", "customer_number": "+917330995416"})");
  auto a = extract(SourceKind::KnowlarityCall, no_uuid);
  auto b = extract(SourceKind::KnowlarityCall, blank_uuid);
  ASSERT_TRUE(a.lead) << a.reject_reason;
  ASSERT_TRUE(b.lead) << b.reject_reason;
  EXPECT_EQ(a.lead->external_id, "98765");
  EXPECT_EQ(b.lead->external_id, "call-7");
}

TEST(ExtractKnowlarityCall, PrefersUuidOverId) {
  json call = json::parse(R"({"uuid": "u1", "id": "i1", "customer_number": "+917330995416"})");
  auto extraction = extract(SourceKind::KnowlarityCall, call);
  ASSERT_TRUE(extraction.lead) << extraction.reject_reason;
  EXPECT_EQ(extraction.lead->external_id, "u1");
}

TEST(ExtractKnowlarityCall, RejectsARecordWithoutCustomerNumberOrCallerId) {
  json call = json::parse(R"({"uuid": "u1", "knowlarity_number": "+919873762618", "agent_number": "Call Missed"})");
  expect_rejected(extract(SourceKind::KnowlarityCall, call), reason_no_phone_field());
}

TEST(ExtractKnowlarityCall, RejectsACustomerNumberOfFewerThanTenDigitsNamingIt) {
  json call = json::parse(R"({"uuid": "u1", "customer_number": "+91 73309"})");
  auto extraction = extract(SourceKind::KnowlarityCall, call);
  expect_rejected(extraction, reason_phone_too_short("+91 73309"));
  EXPECT_PRED2(contains, extraction.reject_reason, "+91 73309");
}

// ---------------------------------------------------------------------------
// Google Ads lead forms
// ---------------------------------------------------------------------------

TEST(ExtractGoogleAds, TurnsTheSearchApiRowIntoALead) {
  json page = load_sample("google_ads/search_lead_form_submission_page1.json");
  ASSERT_EQ(page.at("results").size(), 1u);
  // submissionDateTime 2026-10-20 14:45:02+05:30
  expect_lead(extract(SourceKind::GoogleAds, page["results"][0]),
              {"9823456789", "Sneha Kulkarni", "CgkI3a2b4c5d6e7f", 1792487702});
}

TEST(ExtractGoogleAds, TurnsTheUnwrappedLeadFormSubmissionDataIntoTheSameLead) {
  json page = load_sample("google_ads/search_lead_form_submission_page1.json");
  expect_lead(extract(SourceKind::GoogleAds, page["results"][0]["leadFormSubmissionData"]),
              {"9823456789", "Sneha Kulkarni", "CgkI3a2b4c5d6e7f", 1792487702});
}

TEST(ExtractGoogleAds, TurnsTheLastSearchPageRowIntoALead) {
  json page = load_sample("google_ads/search_lead_form_submission_page2_last.json");
  ASSERT_EQ(page.at("results").size(), 1u);
  // submissionDateTime 2026-10-20 15:02:41+05:30
  expect_lead(extract(SourceKind::GoogleAds, page["results"][0]),
              {"9812345678", "Imran Shaikh", "CgkI9z8y7x6w5v4u", 1792488761});
}

TEST(ExtractGoogleAds, ReadsSnakeCaseApiRows) {
  json row = json::parse(R"({"lead_form_submission_data": {
      "resource_name": "customers/1/leadFormSubmissionData/abc",
      "submission_date_time": "2026-10-20 14:45:02+05:30",
      "lead_form_submission_fields": [
        {"field_type": "PHONE_NUMBER", "field_value": "+919823456789"},
        {"field_type": "FULL_NAME", "field_value": "Sneha Kulkarni"}]}})");
  expect_lead(extract(SourceKind::GoogleAds, row),
              {"9823456789", "Sneha Kulkarni", "customers/1/leadFormSubmissionData/abc", 1792487702});
}

TEST(ExtractGoogleAds, RejectsATestLeadAsATestLead) {
  // The documented sample is what Google's "send test data" sends: is_test true.
  expect_rejected(extract(SourceKind::GoogleAds, load_sample("google_ads/webhook_lead_docs_sample.json")),
                  "test lead");
  // Only the JSON boolean true marks one.
  for (const char* not_test : {R"("true")", "1", "false", "null"}) {
    json lead = load_sample("google_ads/webhook_lead_docs_sample.json");
    lead["is_test"] = json::parse(not_test);
    EXPECT_TRUE(extract(SourceKind::GoogleAds, lead).lead) << "is_test: " << not_test;
  }
}

TEST(ExtractGoogleAds, TurnsTheDocumentedWebhookSampleIntoALeadWithoutAnEventTime) {
  json lead = load_sample("google_ads/webhook_lead_docs_sample.json");
  lead["is_test"] = false;  // (the sample is a test lead)
  // "+11234567890": the last ten digits.
  expect_lead(extract(SourceKind::GoogleAds, lead),
              {"1234567890", "John Doe",
               "Cj0KCQjwit_8BRCoARIsAIx3Rj7g-AeL6z35IWb6VYiZUygtTfwD3hDlgSGmY-XTTlK3lfV1wcuIwIAaAmMxEALw_wcB",
               std::nullopt});
}

TEST(ExtractGoogleAds, TurnsTheIndianWebhookSampleIntoALead) {
  json lead = load_sample("google_ads/webhook_lead_india_constructed.json");
  // lead_submit_time 2026-10-20T09:15:02Z, the same instant as the API row above.
  expect_lead(extract(SourceKind::GoogleAds, lead),
              {"9823456789", "Sneha Kulkarni", "TeSter-9f3c1a7e-2b64-4d0e-8c11-5a1e2f7b9d10", 1792487702});
}

TEST(ExtractGoogleAds, JoinsFirstNameAndLastNameColumns) {
  json lead = json::parse(R"({"lead_id": "L1", "user_column_data": [
      {"column_id": "FIRST_NAME", "string_value": "Sneha"},
      {"column_id": "PHONE_NUMBER", "string_value": "+919823456789"},
      {"column_id": "LAST_NAME", "string_value": "Kulkarni"}]})");
  expect_lead(extract(SourceKind::GoogleAds, lead), {"9823456789", "Sneha Kulkarni", "L1", std::nullopt});
}

TEST(ExtractGoogleAds, JoinsFirstNameAndLastNameFieldsOfAnApiRow) {
  json row = json::parse(R"({"leadFormSubmissionData": {"id": "X", "leadFormSubmissionFields": [
      {"fieldType": "LAST_NAME", "fieldValue": "Kulkarni"},
      {"fieldType": "FIRST_NAME", "fieldValue": "Sneha"},
      {"fieldType": "PHONE_NUMBER", "fieldValue": "09823456789"}]}})");
  expect_lead(extract(SourceKind::GoogleAds, row), {"9823456789", "Sneha Kulkarni", "X", std::nullopt});
}

TEST(ExtractGoogleAds, RejectsASubmissionWithoutAPhoneNumberField) {
  json lead = json::parse(R"({"lead_id": "L1", "user_column_data": [
      {"column_id": "FULL_NAME", "string_value": "John Doe"},
      {"column_id": "EMAIL", "string_value": "john@example.com"}]})");
  expect_rejected(extract(SourceKind::GoogleAds, lead), reason_no_phone_field());
}

TEST(ExtractGoogleAds, RejectsAnObjectOfNoKnownShape) {
  json other = json::parse(R"({"error": {"code": 429, "message": "quota"}})");
  expect_rejected(extract(SourceKind::GoogleAds, other), reason_no_phone_field());
}

TEST(ExtractGoogleAds, RejectsAPhoneOfFewerThanTenDigitsNamingIt) {
  json lead = json::parse(R"({"lead_id": "L1", "user_column_data": [
      {"column_id": "PHONE_NUMBER", "string_value": "+1 555 0100"}]})");
  auto extraction = extract(SourceKind::GoogleAds, lead);
  expect_rejected(extraction, reason_phone_too_short("+1 555 0100"));
  EXPECT_PRED2(contains, extraction.reject_reason, "+1 555 0100");
}

// ---------------------------------------------------------------------------
// Payloads that are not objects, for every built-in source
// ---------------------------------------------------------------------------

TEST(ExtractLead, RejectsPayloadsThatAreNotObjectsNamingTheirJsonType) {
  const std::pair<const char*, const char*> payloads[] = {
      {R"([{"id": "1"}])", "array"},
      {R"("+919876543210")", "string"},
      {"9876543210", "number"},
      {"null", "null"},
      {"true", "boolean"},
  };
  for (SourceKind kind : {SourceKind::MetaForm, SourceKind::KnowlarityCall, SourceKind::GoogleAds}) {
    for (const auto& [text, type] : payloads) {
      SCOPED_TRACE(testing::Message() << "source kind " << static_cast<int>(kind) << ", payload " << text);
      json payload = json::parse(text);
      auto extraction = extract(kind, payload);
      expect_rejected(extraction, reason_not_an_object(type));
      EXPECT_PRED2(contains, extraction.reject_reason, "not a JSON object");
      EXPECT_PRED2(contains, extraction.reject_reason, type);
    }
  }
}

TEST(ExtractLead, RejectsCustomSourcesWhichHaveNoBuiltInAdapter) {
  json lead = json::parse(R"({"phone": "9876543210"})");
  auto extraction = extract(SourceKind::Custom, lead);
  EXPECT_FALSE(extraction.lead.has_value());
  EXPECT_FALSE(extraction.reject_reason.empty());
}

TEST(RejectReasons, AreDistinctAndNonEmpty) {
  EXPECT_FALSE(reason_no_phone_field().empty());
  EXPECT_NE(reason_no_phone_field(), reason_phone_too_short(""));
  EXPECT_NE(reason_phone_too_short("12345"), reason_phone_too_short("67890"));
}

}  // namespace
}  // namespace leadsync
