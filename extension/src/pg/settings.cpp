// leadsync.* settings.
#include "pg/settings.hpp"

#include "pg/postgres.hpp"

namespace leadsync::pg {
namespace {

constexpr const char* kDefaultTimezone = "";  // empty: follow the session's TimeZone
char* timezone_setting = nullptr;

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
  MarkGUCPrefixReserved("leadsync");
}

const char* business_timezone_name() {
  if (timezone_setting != nullptr && timezone_setting[0] != '\0') return timezone_setting;
  return pg_get_timezone_name(session_timezone);
}

}  // namespace leadsync::pg
