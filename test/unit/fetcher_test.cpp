// Unit tests of the fetcher's pure parts: settings, redaction, time formats, backoff.
#include <gtest/gtest.h>

#include <map>

#include "sync/config.hpp"
#include "sync/retry.hpp"
#include "sync/time_format.hpp"

namespace leadsync::sync {
namespace {

struct FakeSettings {
  std::map<std::string, std::string> values;
  SettingLookup lookup() const {
    return [this](const char* name) {
      auto it = values.find(name);
      return it == values.end() ? std::string() : it->second;
    };
  }
};

TEST(FetchConfig, NamesEveryMissingRequiredSettingOfTheCommand) {
  FakeSettings settings;
  std::vector<std::string> missing, invalid;
  load_config("google", false, settings.lookup(), missing, invalid);
  EXPECT_EQ(missing, (std::vector<std::string>{"GOOGLE_ADS_CUSTOMER_ID", "GOOGLE_OAUTH_CLIENT_ID",
                                               "GOOGLE_OAUTH_CLIENT_SECRET", "GOOGLE_OAUTH_REFRESH_TOKEN"}));
  EXPECT_TRUE(invalid.empty());
}

TEST(FetchConfig, MetaNeedsNoPageIdWhenFormsAreGiven) {
  FakeSettings settings{{{"META_ACCESS_TOKEN", "token"}, {"META_FORM_IDS", " 11, 22 ,,33 "}}};
  std::vector<std::string> missing, invalid;
  FetchConfig config = load_config("meta", false, settings.lookup(), missing, invalid);
  EXPECT_TRUE(missing.empty());
  EXPECT_EQ(config.meta.form_ids, (std::vector<std::string>{"11", "22", "33"}));
  missing.clear();
  load_config("meta", true, FakeSettings{{{"META_ACCESS_TOKEN", "token"}}}.lookup(), missing, invalid);
  EXPECT_TRUE(missing.empty()) << "--form-id stands in for META_PAGE_ID";
  load_config("meta", false, FakeSettings{{{"META_ACCESS_TOKEN", "token"}}}.lookup(), missing, invalid);
  EXPECT_EQ(missing, std::vector<std::string>{"META_PAGE_ID"});
}

TEST(Accounts, WithoutAListThereIsOneDefaultAccount) {
  std::vector<std::string> invalid;
  EXPECT_EQ(configured_accounts("meta", FakeSettings{}.lookup(), invalid), std::vector<std::string>{"default"});
  EXPECT_TRUE(invalid.empty());
}

TEST(Accounts, EachPlatformListsItsOwn) {
  FakeSettings settings{{{"META_ACCOUNTS", "andheri, thane"}, {"GOOGLE_ADS_ACCOUNTS", "c1234567890"},
                         {"KNOWLARITY_ACCOUNTS", "sales,service"}}};
  std::vector<std::string> invalid;
  EXPECT_EQ(configured_accounts("meta", settings.lookup(), invalid), (std::vector<std::string>{"andheri", "thane"}));
  EXPECT_EQ(configured_accounts("google", settings.lookup(), invalid), std::vector<std::string>{"c1234567890"});
  EXPECT_EQ(configured_accounts("knowlarity", settings.lookup(), invalid),
            (std::vector<std::string>{"sales", "service"}));
  EXPECT_TRUE(invalid.empty());
}

TEST(Accounts, BadOrRepeatedNamesAreNamed) {
  std::vector<std::string> invalid;
  configured_accounts("meta", FakeSettings{{{"META_ACCOUNTS", "Andheri,thane,thane,a-b"}}}.lookup(), invalid);
  ASSERT_EQ(invalid.size(), 3u);
  EXPECT_NE(invalid[0].find("\"Andheri\""), std::string::npos);
  EXPECT_NE(invalid[1].find("\"a-b\""), std::string::npos);
  EXPECT_NE(invalid[2].find("listed twice"), std::string::npos);
  EXPECT_TRUE(is_account_name("default"));
  EXPECT_TRUE(is_account_name(std::string(63, 'a')));
  EXPECT_FALSE(is_account_name(std::string(64, 'a')));
  EXPECT_FALSE(is_account_name(""));
}

TEST(Accounts, AnAccountReadsItsOwnPlatformSettingsFirst) {
  FakeSettings settings{{{"META_ACCESS_TOKEN", "shared-token"}, {"META_PAGE_ID", "1"}, {"META_PAGE_ID_THANE", "2"},
                         {"DATABASE_URL", "dbname=crm"}, {"DATABASE_URL_THANE", "dbname=other"},
                         {"LEADSYNC_OVERLAP_MINUTES_THANE", "99"}}};
  std::vector<std::string> missing, invalid;
  FetchConfig thane = load_config("meta", false, account_setting("meta", "thane", settings.lookup()), missing, invalid);
  EXPECT_EQ(thane.meta.page_id, "2") << "its own";
  EXPECT_EQ(thane.meta.access_token, "shared-token") << "the shared one, where it has none";
  EXPECT_EQ(thane.database_url, "dbname=crm") << "only the platform's settings are per account";
  EXPECT_EQ(thane.overlap_seconds, 600);
  FetchConfig andheri = load_config("meta", false, account_setting("meta", "andheri", settings.lookup()), missing,
                                    invalid);
  EXPECT_EQ(andheri.meta.page_id, "1");
  EXPECT_TRUE(missing.empty());
  EXPECT_TRUE(invalid.empty());
}

TEST(Accounts, ServeReadsEachPageWithItsToken) {
  FakeSettings settings{{{"META_APP_SECRET", "app-secret"}, {"META_ACCOUNTS", "andheri,thane"},
                         {"META_PAGE_ID_ANDHERI", "101"}, {"META_ACCESS_TOKEN_ANDHERI", "token-a"},
                         {"META_PAGE_ID_THANE", "202"}, {"META_ACCESS_TOKEN", "token-shared"}}};
  std::vector<std::string> missing, invalid;
  FetchConfig config = load_config("serve", false, settings.lookup(), missing, invalid);
  EXPECT_TRUE(invalid.empty()) << (invalid.empty() ? "" : invalid[0]);
  ASSERT_EQ(config.webhook.meta_accounts.size(), 2u);
  EXPECT_EQ(config.webhook.meta_accounts[0].page_id, "101");
  EXPECT_EQ(config.webhook.meta_accounts[0].access_token, "token-a");
  EXPECT_EQ(config.webhook.meta_accounts[1].access_token, "token-shared");
  EXPECT_EQ(redact("token-a token-shared app-secret", config.secrets), "[REDACTED] [REDACTED] [REDACTED]");
  FakeSettings one_page{{{"META_APP_SECRET", "app-secret"}, {"META_ACCOUNTS", "andheri,thane"},
                         {"META_PAGE_ID", "101"}, {"META_ACCESS_TOKEN", "token-shared"}}};
  invalid.clear();
  load_config("serve", false, one_page.lookup(), missing, invalid);
  ASSERT_EQ(invalid.size(), 1u) << "two accounts on one page: which would read its leads?";
  EXPECT_NE(invalid[0].find("same page 101"), std::string::npos);
  FakeSettings no_page{{{"META_APP_SECRET", "app-secret"}, {"META_ACCOUNTS", "andheri"},
                        {"META_ACCESS_TOKEN_ANDHERI", "token-a"}}};
  invalid.clear();
  load_config("serve", false, no_page.lookup(), missing, invalid);
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_NE(invalid[0].find("META_PAGE_ID_ANDHERI"), std::string::npos);
}

TEST(Accounts, IdentityIsWhatAnAccountReads) {
  FetchConfig a, b;
  a.meta.page_id = b.meta.page_id = "101";
  a.meta.form_ids = {"2", "1"};
  b.meta.form_ids = {"1", "2"};
  EXPECT_EQ(account_identity("meta", a), account_identity("meta", b)) << "the same forms in another order";
  b.meta.form_ids = {"1"};
  EXPECT_NE(account_identity("meta", a), account_identity("meta", b));
  a.google.customer_id = "1";
  b.google.customer_id = "2";
  EXPECT_NE(account_identity("google", a), account_identity("google", b));
  EXPECT_EQ(account_identity("knowlarity", a), account_identity("knowlarity", b)) << "both read every call";
}

TEST(FetchConfig, DefaultsMatchTheDocumentedOnes) {
  FakeSettings settings{{{"KNOWLARITY_API_KEY", "k"}, {"KNOWLARITY_AUTH_TOKEN", "t"}}};
  std::vector<std::string> missing, invalid;
  FetchConfig config = load_config("knowlarity", false, settings.lookup(), missing, invalid);
  EXPECT_EQ(config.knowlarity.base_url, "https://kpi.knowlarity.com");
  EXPECT_EQ(config.knowlarity.channel, "Basic");
  EXPECT_EQ(config.overlap_seconds, 600);
  EXPECT_EQ(config.first_lookback_seconds, 24 * 3600);
  EXPECT_EQ(config.schema, "public");
  EXPECT_EQ(config.secrets, (std::vector<std::string>{"k", "t"}));
}

TEST(FetchConfig, RejectsUnusableNumbersAndUrls) {
  FakeSettings settings{{{"KNOWLARITY_API_KEY", "k"},
                         {"KNOWLARITY_AUTH_TOKEN", "t"},
                         {"LEADSYNC_OVERLAP_MINUTES", "ten"},
                         {"LEADSYNC_RETRY_ATTEMPTS", "0"},
                         {"KNOWLARITY_BASE_URL", "file:///etc/passwd"}}};
  std::vector<std::string> missing, invalid;
  load_config("knowlarity", false, settings.lookup(), missing, invalid);
  ASSERT_EQ(invalid.size(), 3u);
  EXPECT_NE(invalid[0].find("LEADSYNC_OVERLAP_MINUTES=ten"), std::string::npos);
  EXPECT_NE(invalid[1].find("LEADSYNC_RETRY_ATTEMPTS=0 is not a number from 1 to 100"), std::string::npos);
  EXPECT_NE(invalid[2].find("KNOWLARITY_BASE_URL must be an http:// or https:// URL"), std::string::npos);
}

TEST(Redact, MasksSecretsPlainAndUrlEncoded) {
  const std::vector<std::string> secrets = {"EAAB/token+x=="};
  EXPECT_EQ(redact("token EAAB/token+x== leaked", secrets), "token [REDACTED] leaked");
  EXPECT_EQ(redact("https://g/x?access_token=EAAB%2Ftoken%2Bx%3D%3D&after=1", secrets),
            "https://g/x?access_token=[REDACTED]&after=1");
  EXPECT_EQ(redact("nothing secret here", secrets), "nothing secret here");
}

TEST(TimeFormat, FormatsInstantsForSummariesAndPlatforms) {
  EXPECT_EQ(format_iso_utc(1760950154), "2025-10-20T08:49:14Z");
  EXPECT_EQ(format_with_offset(1760950154, 330), "2025-10-20 14:19:14+05:30");
  EXPECT_EQ(format_with_offset(1760950154, -420, 'T'), "2025-10-20T01:49:14-07:00");
  EXPECT_EQ(format_iso_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_iso_utc(951782400), "2000-02-29T00:00:00Z");
}

TEST(TimeFormat, ParsesCommandLineTimesAsUtcWithoutOffset) {
  EXPECT_EQ(parse_cli_time("2025-10-20T14:19:14+05:30"), 1760950154);
  EXPECT_EQ(parse_cli_time("2025-10-20T08:49:14"), 1760950154);
  EXPECT_EQ(parse_cli_time("1760950154"), 1760950154);
  EXPECT_EQ(parse_cli_time("yesterday"), std::nullopt);
}

TEST(Backoff, GrowsExponentiallyWithJitterWithinTheCap) {
  RetryPolicy policy;
  policy.base_delay_seconds = 1;
  policy.max_delay_seconds = 8;
  for (int round = 0; round < 200; ++round) {
    const double first = backoff_seconds(policy, 1, -1);
    EXPECT_GE(first, 0.5);
    EXPECT_LE(first, 1.0);
    const double third = backoff_seconds(policy, 3, -1);
    EXPECT_GE(third, 2.0);
    EXPECT_LE(third, 4.0);
    const double capped = backoff_seconds(policy, 10, -1);
    EXPECT_GE(capped, 4.0);
    EXPECT_LE(capped, 8.0);
  }
}

TEST(Backoff, HonoursThePlatformsHintEvenAboveTheCap) {
  RetryPolicy policy;
  policy.base_delay_seconds = 1;
  policy.max_delay_seconds = 8;
  EXPECT_DOUBLE_EQ(backoff_seconds(policy, 1, 120), 120);
}

TEST(HttpStatus, RetriesRateLimitsAndServerErrorsOnly) {
  HttpResponse response;
  response.status = 200;
  EXPECT_EQ(classify_http_status(response).kind, Verdict::Done);
  response.status = 429;
  response.headers["retry-after"] = "7";
  Verdict limited = classify_http_status(response);
  EXPECT_EQ(limited.kind, Verdict::Retry);
  EXPECT_DOUBLE_EQ(limited.wait_seconds, 7);
  response.status = 503;
  EXPECT_EQ(classify_http_status(response).kind, Verdict::Retry);
  response.status = 404;
  EXPECT_EQ(classify_http_status(response).kind, Verdict::Fail);
}

}  // namespace
}  // namespace leadsync::sync
