// sync_source and configure_source: the platform adapters of leadsync-fetch, run in the
// calling backend with an SPI sink, for syncs scheduled by pg_cron.
//
// A sync is for one account of a platform and runs in the caller's transaction. When the
// platform fails, the pages ingested before stay (as with leadsync-fetch), the window
// does not move, and the failure is recorded (sync_state, sync_runs) and returned, not
// raised, so that it is kept; run_sync raises it after committing, for pg_cron. A
// database error or a cancel raises, and rolls the whole run back.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "sync/config.hpp"
#include "sync/platforms.hpp"
#include "sync/summary.hpp"
#include "sync/time_format.hpp"
#include "pg/guard.hpp"
#include "pg/ingest.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "utils/backend_status.h"
}

namespace leadsync::pg {
namespace {

// The fetcher's command for each source type sync_source can fetch.
std::string command_for(const std::string& source_type) {
  if (source_type == "meta_form") return "meta";
  if (source_type == "knowlarity_call") return "knowlarity";
  if (source_type == "google_ads") return "google";
  throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                 "leadsync: sync_source cannot fetch \"" + source_type + "\"",
                 "It fetches meta_form, knowlarity_call and google_ads; other sources push their leads "
                 "with ingest_leads.");
}

std::string text_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  if (PG_ARGISNULL(index))
    throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string("leadsync: ") + name + " must not be NULL");
  char* value = call_postgres([&] { return text_to_cstring(PG_GETARG_TEXT_PP(index)); });
  return std::string(value);
}

// The account argument (index), 'default' when the caller is a 0.2.0 signature.
std::string account_argument(FunctionCallInfo fcinfo, int index) {
  const std::string account = PG_NARGS() > index ? text_argument(fcinfo, index, "account") : sync::kDefaultAccount;
  if (!sync::is_account_name(account))
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "leadsync: \"" + account + "\" is not an account name",
                   "An account name is 1 to 63 lower-case letters, digits and _.");
  return account;
}

// Runs one query with text parameters; returns its rows as text (NULL as "").
std::vector<std::vector<std::string>> query_text(const std::string& sql, const std::vector<std::string>& parameters) {
  std::vector<Datum> values;
  for (const std::string& parameter : parameters) values.push_back(call_postgres([&] {
    return PointerGetDatum(cstring_to_text_with_len(parameter.data(), static_cast<int>(parameter.size())));
  }));
  std::vector<Oid> types(parameters.size(), TEXTOID);
  const uint64 count = call_postgres([&] {
    int rc = SPI_execute_with_args(sql.c_str(), static_cast<int>(values.size()), types.data(), values.data(),
                                   nullptr, false, 0);
    if (rc < 0) elog(ERROR, "leadsync: SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
    return SPI_processed;
  });
  std::vector<std::vector<std::string>> rows;
  if (SPI_tuptable == nullptr) return rows;  // a statement without RETURNING
  for (uint64 row = 0; row < count; ++row) {
    std::vector<std::string> columns;
    for (int column = 1; column <= SPI_tuptable->tupdesc->natts; ++column) {
      char* value = call_postgres([&] { return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column); });
      columns.emplace_back(value ? value : "");
    }
    rows.push_back(std::move(columns));
  }
  return rows;
}

std::string with_schema(std::string sql, const std::string& schema) {
  for (std::size_t at; (at = sql.find("@S@")) != std::string::npos;) sql.replace(at, 3, schema);
  return sql;
}

// Each page goes through the same ingest as ingest_leads, in this transaction.
class SpiSink : public sync::PageSink {
 public:
  explicit SpiSink(Oid function_oid) : function_oid_(function_oid) {}

  sync::IngestCounts ingest_page(std::string_view source_type, const std::string& payloads_json) override {
    Jsonb* payloads = call_postgres(
        [&] { return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(payloads_json.c_str()))); });
    const BatchOutcome outcome = ingest_array(function_oid_, std::string(source_type), payloads);
    call_postgres([&] { pfree(payloads); });
    return {outcome.inserted_new, outcome.duplicate_same_source, outcome.cross_source_history, outcome.rejected};
  }

 private:
  Oid function_oid_;
};

// True once PostgreSQL wants this backend to stop what it is doing: a cancel
// (pg_cancel_backend, statement_timeout) or a shutdown. Reads flags only.
bool interrupt_pending() { return InterruptPending && (QueryCancelPending || ProcDiePending); }

std::int64_t unix_seconds_of(Datum timestamp) {
  return static_cast<std::int64_t>(DatumGetTimestampTz(timestamp) / USECS_PER_SEC) +
         (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

Datum sync_source_body(FunctionCallInfo fcinfo) {
  const std::string source_type = text_argument(fcinfo, 0, "source_type");
  const std::string command = command_for(source_type);
  const auto time_argument = [&](int index) -> std::optional<std::int64_t> {
    if (PG_ARGISNULL(index)) return std::nullopt;
    return unix_seconds_of(PG_GETARG_DATUM(index));
  };
  const std::optional<std::int64_t> since_argument = time_argument(1);
  const std::optional<std::int64_t> until_argument = time_argument(2);
  const std::string account = account_argument(fcinfo, 3);
  const std::string started_at = std::to_string(sync::unix_now());

  call_postgres([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "leadsync: SPI_connect failed");
  });
  const Oid function_oid = fcinfo->flinfo->fn_oid;
  const std::string schema = quoted_extension_schema(function_oid);

  // The account's settings over the default account's (shared URLs or tokens are set once).
  const std::string account_settings = "(SELECT o.settings FROM @S@.source_settings AS o"
                                       " WHERE o.source_type OPERATOR(pg_catalog.=) $1"
                                       " AND o.account OPERATOR(pg_catalog.=) $2)";
  if (account != sync::kDefaultAccount &&
      query_text(with_schema("SELECT 1 WHERE " + account_settings + " IS NOT NULL", schema),
                 {source_type, account}).empty())
    throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                   "leadsync: sync_source('" + source_type + "'): account \"" + account + "\" is not configured",
                   "Set it with SELECT " + schema + ".configure_source('" + source_type +
                       "', '{\"NAME\": \"value\"}', '" + account + "').");
  std::map<std::string, std::string> stored;
  for (auto& row : query_text(with_schema("SELECT s.key, s.value FROM pg_catalog.jsonb_each_text("
                                          " COALESCE((SELECT o.settings FROM @S@.source_settings AS o"
                                          "  WHERE o.source_type OPERATOR(pg_catalog.=) $1"
                                          "  AND o.account OPERATOR(pg_catalog.=) 'default'), '{}')"
                                          " OPERATOR(pg_catalog.||) COALESCE(" + account_settings + ", '{}')) AS s",
                                          schema),
                              {source_type, account}))
    stored[row[0]] = row[1];
  std::vector<std::string> missing, invalid;
  sync::FetchConfig config = sync::load_config(
      command, false,
      [&stored](const char* name) {
        auto it = stored.find(name);
        return it == stored.end() ? std::string() : it->second;
      },
      missing, invalid);
  if (!missing.empty() || !invalid.empty()) {
    std::string problems;
    for (const std::string& name : missing) problems += (problems.empty() ? "" : "; ") + name + " is not set";
    for (const std::string& problem : invalid) problems += (problems.empty() ? "" : "; ") + problem;
    throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                   "leadsync: sync_source('" + source_type + "', account " + account + ") is not configured: " +
                       problems,
                   "Set it with SELECT " + schema + ".configure_source('" + source_type +
                       "', '{\"NAME\": \"value\"}', '" + account +
                       "'); the names are those of leadsync-fetch's environment.");
  }
  config.http.connect_timeout_ms = http_connect_timeout_ms();
  config.http.total_timeout_ms = http_timeout_ms();
  config.http.interrupted = interrupt_pending;

  sync::SyncWindow window;
  window.until = until_argument ? *until_argument : sync::unix_now();
  if (since_argument) {
    window.since = *since_argument;
  } else {
    window.since = std::stoll(query_text(with_schema("SELECT pg_catalog.floor(pg_catalog.date_part('epoch',"
                                                     " @S@.sync_window_start($1, pg_catalog.make_interval("
                                                     "secs => $2::pg_catalog.float8), pg_catalog.make_interval("
                                                     "secs => $3::pg_catalog.float8), $4)))::pg_catalog.int8",
                                                     schema),
                                         {source_type, std::to_string(config.overlap_seconds),
                                          std::to_string(config.first_lookback_seconds), account})[0][0]);
  }
  if (window.since >= window.until)
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "leadsync: sync_source: since must be before until");

  sync::HttpClient http(config.http);
  SpiSink sink(function_oid);
  sync::SyncContext context{http, sink, config.retry,
                            [&config](const std::string& line) {
                              const std::string redacted = sync::redact(line, config.secrets);
                              call_postgres([&] { elog(DEBUG1, "leadsync: %s", redacted.c_str()); });
                            },
                            {}};
  context.report.source_type = source_type;
  context.report.account = account;
  context.report.window = window;
  std::string failure;
  try {
    if (command == "meta")
      sync::sync_meta(config.meta, window, context);
    else if (command == "knowlarity")
      sync::sync_knowlarity(config.knowlarity, window, context);
    else
      sync::sync_google_ads(config.google, window, context);
    context.report.counts += sink.finish();
  } catch (const sync::SyncInterrupted&) {
    throw InterruptRequested{};
  } catch (const sync::SyncError& error) {
    failure = sync::redact(error.what(), config.secrets);
  }
  const std::string summary = sync::summary_json(context.report, false, failure);
  const std::vector<std::string> run = {source_type, account, started_at, std::to_string(window.since),
                                        std::to_string(window.until), summary};
  if (failure.empty()) {
    query_text(with_schema("SELECT @S@.record_sync_success($1, pg_catalog.to_timestamp($4::pg_catalog.float8),"
                           " pg_catalog.to_timestamp($5::pg_catalog.float8), $6::pg_catalog.jsonb, $2,"
                           " 'in_database', pg_catalog.to_timestamp($3::pg_catalog.float8))",
                           schema),
               run);
  } else {
    query_text(with_schema("SELECT @S@.record_sync_failure($1, $6::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'error',"
                           " $2, 'in_database', pg_catalog.to_timestamp($3::pg_catalog.float8),"
                           " pg_catalog.to_timestamp($4::pg_catalog.float8),"
                           " pg_catalog.to_timestamp($5::pg_catalog.float8), $6::pg_catalog.jsonb)",
                           schema),
               run);
    const std::string warning = "leadsync: sync_source('" + source_type + "', account " + account + ") failed: " +
                                failure;
    call_postgres([&] {
      ereport(WARNING, (errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION), errmsg("%s", warning.c_str()),
                        errhint("The pages ingested before the failure are kept; the window did not move, so "
                                "the next run covers it again.")));
    });
  }
  call_postgres([] { SPI_finish(); });
  return call_postgres([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(summary.c_str())); });
}

// Stores a source's settings for sync_source: merged into what is stored, a null value
// removes that setting, NULL settings remove them all. Afterwards pg_stat_activity
// shows this call without its arguments.
Datum configure_source_body(FunctionCallInfo fcinfo) {
  const std::string source_type = text_argument(fcinfo, 0, "source_type");
  const std::string command = command_for(source_type);
  const std::string account = account_argument(fcinfo, 2);
  const std::vector<std::string> known = sync::setting_names(command);

  call_postgres([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "leadsync: SPI_connect failed");
  });
  const std::string schema = quoted_extension_schema(fcinfo->flinfo->fn_oid);
  if (PG_ARGISNULL(1)) {
    query_text(with_schema("DELETE FROM @S@.source_settings AS o WHERE o.source_type OPERATOR(pg_catalog.=) $1"
                           " AND o.account OPERATOR(pg_catalog.=) $2",
                           schema),
               {source_type, account});
  } else {
    // Only names leadsync-fetch knows for this platform, with string or null values;
    // anything else is named in a warning (never its value) and not stored.
    const std::string keys_sql =
        "SELECT s.key, pg_catalog.jsonb_typeof(s.value) FROM pg_catalog.jsonb_each($1::pg_catalog.jsonb) AS s";
    char* settings_text = call_postgres([&] {
      return DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(1)));
    });
    if (call_postgres([&] { return JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(1)); }) == 0)
      throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "leadsync: configure_source: settings must be a JSON object");
    std::string accepted_keys;  // a text[] literal of known names: [A-Z_] only, no quoting needed
    for (auto& row : query_text(keys_sql, {settings_text})) {
      const bool is_known = std::find(known.begin(), known.end(), row[0]) != known.end();
      if (!is_known || (row[1] != "string" && row[1] != "null")) {
        const std::string why = is_known ? "its value must be a string or null" : "it is not a setting of " + source_type;
        call_postgres([&] { elog(WARNING, "leadsync: configure_source ignored \"%s\": %s", row[0].c_str(), why.c_str()); });
        continue;
      }
      accepted_keys += (accepted_keys.empty() ? "" : ",") + row[0];
    }
    // The values go from the argument to the table in SQL, never through C++ strings. No
    // known setting: nothing is stored (a row of none would make an account "configured").
    if (!accepted_keys.empty())
      query_text(with_schema("WITH filtered AS ("
                             "  SELECT COALESCE(pg_catalog.jsonb_object_agg(s.key, s.value), '{}') AS settings"
                             "    FROM pg_catalog.jsonb_each($2::pg_catalog.jsonb) AS s"
                             "   WHERE s.key OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.text[]))"
                             " INSERT INTO @S@.source_settings AS o (source_type, account, settings)"
                             " SELECT $1, $4, pg_catalog.jsonb_strip_nulls(f.settings) FROM filtered AS f"
                             " ON CONFLICT ON CONSTRAINT source_settings_pkey DO UPDATE"
                             "   SET settings = pg_catalog.jsonb_strip_nulls(o.settings OPERATOR(pg_catalog.||)"
                             "                  (SELECT f.settings FROM filtered AS f)),"
                             "       updated_at = pg_catalog.now()",
                             schema),
                 {source_type, settings_text, "{" + accepted_keys + "}", account});
    call_postgres([&] { pfree(settings_text); });
  }
  call_postgres([] { SPI_finish(); });
  // What the session shows from now on instead of the call with its secrets.
  call_postgres([] { pgstat_report_activity(STATE_RUNNING, "SELECT configure_source(...) /* settings hidden */"); });
  return Datum(0);
}

}  // namespace
}  // namespace leadsync::pg

extern "C" {
PG_FUNCTION_INFO_V1(leadsync_sync_source);
PG_FUNCTION_INFO_V1(leadsync_configure_source);

Datum leadsync_sync_source(PG_FUNCTION_ARGS) {
  return leadsync::pg::run_sql_function(fcinfo, leadsync::pg::sync_source_body);
}

Datum leadsync_configure_source(PG_FUNCTION_ARGS) {
  return leadsync::pg::run_sql_function(fcinfo, leadsync::pg::configure_source_body);
}
}
