// leadsync.* settings.
#include "pg/settings.hpp"

#include "pg/postgres.hpp"

namespace leadsync::pg {
namespace {

constexpr const char* kDefaultTimezone = "";  // empty: follow the session's TimeZone
char* timezone_setting = nullptr;

constexpr int kMinTimeoutMs = 100;
constexpr int kMaxTimeoutMs = 3600 * 1000;
constexpr int kDefaultConnectTimeoutMs = 10 * 1000;
constexpr int kDefaultHttpTimeoutMs = 60 * 1000;
int connect_timeout_setting = kDefaultConnectTimeoutMs;
int http_timeout_setting = kDefaultHttpTimeoutMs;

constexpr int kMinutesPerDay = 24 * 60;
constexpr int kDefaultSyncRunsRetentionMinutes = 90 * kMinutesPerDay;
int sync_runs_retention_setting = kDefaultSyncRunsRetentionMinutes;

// Accepts an empty value or a zone PostgreSQL knows, so a typo fails at SET time
// instead of at the next ingest.
bool check_timezone(char** new_value, void**, GucSource) {
  if (*new_value == nullptr || (*new_value)[0] == '\0') return true;
  if (pg_tzset(*new_value) != nullptr) return true;
  GUC_check_errdetail("Time zone \"%s\" is not recognized.", *new_value);
  return false;
}

}  // namespace

void define_settings() {
  DefineCustomStringVariable(
      "leadsync.timezone",
      "The business time zone that decides which leads are today's.",
      "A zone name such as Asia/Kolkata; empty uses the session's TimeZone.",
      &timezone_setting, kDefaultTimezone, PGC_USERSET, 0, check_timezone, nullptr, nullptr);
  DefineCustomIntVariable(
      "leadsync.http_connect_timeout", "Connect timeout of each HTTP request of sync_source.", nullptr,
      &connect_timeout_setting, kDefaultConnectTimeoutMs, kMinTimeoutMs, kMaxTimeoutMs, PGC_USERSET, GUC_UNIT_MS,
      nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "leadsync.http_timeout", "Total timeout of each HTTP request of sync_source.", nullptr,
      &http_timeout_setting, kDefaultHttpTimeoutMs, kMinTimeoutMs, kMaxTimeoutMs, PGC_USERSET, GUC_UNIT_MS,
      nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "leadsync.sync_runs_retention", "How long sync_runs keeps a run; each run recorded removes older ones.",
      "A time such as 90d or 36h.", &sync_runs_retention_setting, kDefaultSyncRunsRetentionMinutes, 60,
      100 * 365 * kMinutesPerDay,
      // Superusers only (postgresql.conf, ALTER DATABASE/ROLE ... SET): a role that may only
      // record runs must not be able to delete the history by setting it short.
      PGC_SUSET, GUC_UNIT_MIN, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("leadsync");
}

int http_connect_timeout_ms() { return connect_timeout_setting; }
int http_timeout_ms() { return http_timeout_setting; }
int sync_runs_retention_minutes() { return sync_runs_retention_setting; }

const char* business_timezone_name() {
  if (timezone_setting != nullptr && timezone_setting[0] != '\0') return timezone_setting;
  return pg_get_timezone_name(session_timezone);
}

}  // namespace leadsync::pg
