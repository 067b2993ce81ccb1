// The webhook server's decisions from bytes alone (fetcher/src/webhook_rules.cpp).
#include "webhook_rules.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace {

using leadsync::serve::custom_payloads;
using leadsync::serve::is_json_content_type;
using leadsync::serve::is_valid_source_type;
using leadsync::serve::meta_leadgen_changes;
using leadsync::serve::meta_signature;
using leadsync::serve::meta_signature_valid;
using leadsync::serve::parse_json_body;
using leadsync::serve::secrets_equal;
using nlohmann::json;

// HMAC-SHA256 of {"object":"page"} under "app-secret", computed by Python's hmac module.
constexpr const char* kBody = R"({"object":"page"})";
constexpr const char* kSignature = "sha256=ae958d6f00b134dd32b95a9a76bedaaeb068c0949769358355023f7d1a0c580b";

TEST(MetaSignature, IsTheHexHmacSha256OfTheRawBody) {
  EXPECT_EQ(meta_signature("app-secret", kBody), kSignature);
  EXPECT_TRUE(meta_signature_valid("app-secret", kBody, kSignature));
}

TEST(MetaSignature, AcceptsUpperCaseHex) {
  std::string upper = kSignature;
  for (std::size_t i = 7; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(meta_signature_valid("app-secret", kBody, upper));
}

TEST(MetaSignature, RefusesEveryOtherSignature) {
  EXPECT_FALSE(meta_signature_valid("app-secret", kBody, ""));
  EXPECT_FALSE(meta_signature_valid("app-secret", kBody, "sha256="));
  EXPECT_FALSE(meta_signature_valid("app-secret", kBody, std::string(kSignature).substr(7)));  // no prefix
  EXPECT_FALSE(meta_signature_valid("app-secret", kBody, std::string(kSignature) + "0"));
  EXPECT_FALSE(meta_signature_valid("app-secret", kBody, std::string(kSignature, 70)));     // truncated
  EXPECT_FALSE(meta_signature_valid("other-secret", kBody, kSignature));
  EXPECT_FALSE(meta_signature_valid("app-secret", R"({"object":"page" })", kSignature));  // one byte more
  EXPECT_FALSE(meta_signature_valid("", kBody, meta_signature("", kBody)));  // no secret configured
}

TEST(SecretsEqual, ComparesWholeValuesAndNeverMatchesAnUnsetSecret) {
  EXPECT_TRUE(secrets_equal("k3y-value", "k3y-value"));
  EXPECT_FALSE(secrets_equal("k3y-value", "k3y-valu"));
  EXPECT_FALSE(secrets_equal("k3y-value", "k3y-value "));
  EXPECT_FALSE(secrets_equal("", ""));
  EXPECT_FALSE(secrets_equal("", "anything"));
}

TEST(ParseJsonBody, GivesTheValueOrSaysWhy) {
  std::string error;
  EXPECT_EQ(parse_json_body(R"({"a": [1]})", error), json::parse(R"({"a": [1]})"));
  EXPECT_EQ(error, "");
  parse_json_body("{\"a\": ", error);
  EXPECT_EQ(error, "malformed JSON");
  parse_json_body("", error);
  EXPECT_EQ(error, "malformed JSON");
  parse_json_body(std::string(100, '[') + std::string(100, ']'), error);
  EXPECT_EQ(error, "JSON nested deeper than 64 levels");
}

TEST(ContentType, IsJsonWithOrWithoutParameters) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("application/json; charset=utf-8"));
  EXPECT_TRUE(is_json_content_type("Application/JSON"));
  EXPECT_FALSE(is_json_content_type(""));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type("application/x-www-form-urlencoded"));
  EXPECT_FALSE(is_json_content_type("application/jsonp"));
}

TEST(SourceTypeInPath, IsLowerCaseWordCharactersOnly) {
  EXPECT_TRUE(is_valid_source_type("crm_webhook"));
  EXPECT_TRUE(is_valid_source_type("web2"));
  EXPECT_FALSE(is_valid_source_type(""));
  EXPECT_FALSE(is_valid_source_type("2web"));
  EXPECT_FALSE(is_valid_source_type("CRM"));
  EXPECT_FALSE(is_valid_source_type("../etc"));
  EXPECT_FALSE(is_valid_source_type("a%20b"));
  EXPECT_FALSE(is_valid_source_type(std::string(64, 'a')));
}

json load_sample(const std::string& name) {
  std::ifstream file(std::string(LEADSYNC_TEST_DATA_DIR) + "/" + name);
  std::stringstream text;
  text << file.rdbuf();
  return json::parse(text.str());
}

TEST(MetaLeadgenChanges, ReadsEveryLeadgenChangeOfTheDocumentedSample) {
  std::string error;
  const auto leads = meta_leadgen_changes(load_sample("meta/webhook_leadgen.json"), error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(leads.size(), 2u);
  EXPECT_EQ(leads[0].leadgen_id, "123123123123");
  EXPECT_EQ(leads[1].leadgen_id, "123123123124");
  EXPECT_EQ(leads[0].notification["page_id"], 123123123);
}

TEST(MetaLeadgenChanges, KeepsIdsAbove2To53Exact) {
  std::string error;
  const auto leads = meta_leadgen_changes(json::parse(R"({"entry": [{"changes": [
      {"field": "leadgen", "value": {"leadgen_id": 9007199254740993}},
      {"field": "leadgen", "value": {"leadgen_id": "1200000000000000017"}}]}]})"), error);
  ASSERT_EQ(leads.size(), 2u) << error;
  EXPECT_EQ(leads[0].leadgen_id, "9007199254740993");
  EXPECT_EQ(leads[1].leadgen_id, "1200000000000000017");
}

TEST(MetaLeadgenChanges, SkipsOtherFieldsAndRefusesOtherShapes) {
  std::string error;
  EXPECT_TRUE(meta_leadgen_changes(json::parse(R"({"entry": [{"changes": [{"field": "feed", "value": {}}]}]})"),
                                   error).empty());
  EXPECT_EQ(error, "");
  for (const char* bad : {R"([])", R"({"object": "page"})", R"({"entry": {}})",
                          R"({"entry": [{"changes": [{"field": "leadgen", "value": {}}]}]})",
                          R"({"entry": [{"changes": [{"field": "leadgen", "value": {"leadgen_id": "12a"}}]}]})",
                          R"({"entry": [{"changes": [{"field": "leadgen", "value": {"leadgen_id": -5}}]}]})",
                          R"({"entry": [{"changes": [{"field": "leadgen", "value": {"leadgen_id": 1.5}}]}]})"}) {
    meta_leadgen_changes(json::parse(bad), error);
    EXPECT_NE(error, "") << bad;
  }
}

TEST(CustomPayloads, TakesAnObjectOrABoundedArray) {
  std::string error;
  EXPECT_EQ(custom_payloads(json::parse(R"({"phone": "1"})"), 10, error), json::parse(R"([{"phone": "1"}])"));
  EXPECT_EQ(custom_payloads(json::parse(R"([{"phone": "1"}, 7])"), 10, error), json::parse(R"([{"phone": "1"}, 7])"));
  EXPECT_EQ(error, "");
  custom_payloads(json::parse(R"("text")"), 10, error);
  EXPECT_EQ(error, "the body must be a JSON object or an array of them");
  custom_payloads(json::parse(R"([])"), 10, error);
  EXPECT_EQ(error, "an array of 1 to 10 payloads is expected");
  custom_payloads(json::parse(R"([{}, {}, {}])"), 2, error);
  EXPECT_EQ(error, "an array of 1 to 2 payloads is expected");
}

}  // namespace
