// The small SQL-callable functions and the module's load hook.
#include <string>

#include "core/phone.hpp"
#include "core/source_types.hpp"
#include "pg/field_map.hpp"
#include "pg/guard.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "commands/trigger.h"
#include "utils/inval.h"

PG_MODULE_MAGIC;

void _PG_init(void);
PG_FUNCTION_INFO_V1(leadsync_normalize_phone);
PG_FUNCTION_INFO_V1(leadsync_business_timezone);
PG_FUNCTION_INFO_V1(leadsync_sync_runs_retention);
PG_FUNCTION_INFO_V1(leadsync_check_field_map);
PG_FUNCTION_INFO_V1(leadsync_forget_remembered_sources);

void _PG_init(void) { leadsync::pg::define_settings(); }

// Hot path: no allocation beyond the result, no exception possible in the core call.
Datum leadsync_normalize_phone(PG_FUNCTION_ARGS) {
  text* phone = PG_GETARG_TEXT_PP(0);
  char digits[leadsync::PhoneNumber::kDigits];
  if (!leadsync::normalize_phone_to({VARDATA_ANY(phone), VARSIZE_ANY_EXHDR(phone)}, digits)) PG_RETURN_NULL();
  text* result = static_cast<text*>(palloc(VARHDRSZ + leadsync::PhoneNumber::kDigits));
  SET_VARSIZE(result, VARHDRSZ + leadsync::PhoneNumber::kDigits);
  memcpy(VARDATA(result), digits, leadsync::PhoneNumber::kDigits);
  PG_RETURN_TEXT_P(result);
}

Datum leadsync_business_timezone(PG_FUNCTION_ARGS) {
  PG_RETURN_TEXT_P(cstring_to_text(leadsync::pg::business_timezone_name()));
}

Datum leadsync_sync_runs_retention(PG_FUNCTION_ARGS) {
  const int minutes = leadsync::pg::sync_runs_retention_minutes();
  Interval* retention = static_cast<Interval*>(palloc0(sizeof(Interval)));
  retention->day = minutes / MINS_PER_HOUR / HOURS_PER_DAY;  // "90 days", not "2160:00:00"
  retention->time = static_cast<TimeOffset>(minutes % (MINS_PER_HOUR * HOURS_PER_DAY)) * USECS_PER_MINUTE;
  PG_RETURN_INTERVAL_P(retention);
}

Datum leadsync_check_field_map(PG_FUNCTION_ARGS) {
  return leadsync::pg::run_sql_function(fcinfo, [](FunctionCallInfo fcinfo) -> Datum {
    using leadsync::pg::SqlError;
    if (PG_ARGISNULL(1)) return Datum(0);
    if (PG_ARGISNULL(0)) throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "leadsync: source_type must not be NULL");
    const char* source_type = leadsync::pg::call_postgres([&] { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
    if (leadsync::find_builtin_source(source_type)) {
      throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                     std::string("leadsync: \"") + source_type +
                         "\" is a built-in source; its payloads are read by its own adapter, not a field_map",
                     "Register a source_type of your own for payloads of another shape.");
    }
    Jsonb* field_map = leadsync::pg::call_postgres([&] { return PG_GETARG_JSONB_P(1); });
    leadsync::pg::compile_field_map(field_map);
    return Datum(0);
  });
}

// The triggers sources_forget_remembered (each row updated or deleted) and
// sources_forget_remembered_on_truncate: a relcache invalidation of the sources table
// makes every backend forget the source ids it remembers (remembered_sources.hpp), this
// one at its next command, the others when this transaction commits.
Datum leadsync_forget_remembered_sources(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) elog(ERROR, "leadsync: forget_remembered_sources must be called as a trigger");
  CacheInvalidateRelcache(reinterpret_cast<TriggerData*>(fcinfo->context)->tg_relation);
  return PointerGetDatum(nullptr);
}
}
