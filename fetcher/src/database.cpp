// libpq behind RAII, parameterized queries only.
#include "database.hpp"

#include <libpq-fe.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace leadsync::sync {
namespace {

using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// invalid_sql_statement_name: "prepared statement ... does not exist".
constexpr const char* kNoSuchPreparedStatement = "26000";

// SQLSTATE classes worth another try: connection exceptions, the server shutting down
// or starting, serialization failures and deadlocks, insufficient resources.
bool is_transient(const char* sqlstate) {
  if (sqlstate == nullptr) return true;  // no SQLSTATE: the connection itself failed
  const std::string code(sqlstate);
  return code.rfind("08", 0) == 0 || code.rfind("57P", 0) == 0 || code.rfind("40", 0) == 0 ||
         code.rfind("53", 0) == 0;
}

// libpq's messages span lines ("server closed the connection unexpectedly\n\tThis
// probably means..."): one line each, for logs and the summary.
std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\t') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  std::string collapsed;
  for (char c : text)
    if (!(c == ' ' && !collapsed.empty() && collapsed.back() == ' ')) collapsed += c;
  return collapsed;
}

}  // namespace

struct Database::Rows {
  Result result{nullptr, PQclear};
  int count() const { return PQntuples(result.get()); }
  std::string value(int row, int column) const {
    return PQgetisnull(result.get(), row, column) ? std::string() : PQgetvalue(result.get(), row, column);
  }
};

Database::Database(std::string conninfo, std::string schema, RetryPolicy retry, ProgressLog log)
    : conninfo_(std::move(conninfo)), schema_(std::move(schema)), retry_(retry), log_(std::move(log)),
      connection_(nullptr, PQfinish) {}

Database::~Database() = default;

void Database::connect() {
  // dbname is expanded as a full connection string or URI; the PG* variables fill the rest.
  const char* keywords[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {conninfo_.empty() ? nullptr : conninfo_.c_str(), "leadsync-fetch", nullptr};
  connection_.reset(PQconnectdbParams(keywords, values, 1));
  prepared_.clear();
  if (connection_ == nullptr) throw std::bad_alloc();
  // The server's notices and warnings (a trigger's RAISE WARNING, the FATAL that ends a
  // terminated session) go to the progress log, redacted and prefixed like every line,
  // not raw to stderr as libpq would print them.
  PQsetNoticeProcessor(
      connection_.get(),
      [](void* self, const char* message) {
        try {
          static_cast<Database*>(self)->log_("server: " + one_line(message));
        } catch (...) {  // nothing may unwind through libpq
        }
      },
      this);
}

std::string Database::quoted_schema() {
  char* escaped = PQescapeIdentifier(connection_.get(), schema_.c_str(), schema_.size());
  if (escaped == nullptr) throw SyncError("LEADSYNC_SCHEMA: cannot quote \"" + schema_ + "\"", false);
  std::string quoted(escaped);
  PQfreemem(escaped);
  return quoted;
}

Database::Rows Database::query(const std::string& sql_template, const std::vector<std::string>& parameters,
                               const std::string& what, int max_attempts, const FirstAttempt* first) {
  // A page's result still unread would be taken for this statement's.
  if (in_flight_) throw std::logic_error("leadsync-fetch: a query while a page is in flight (finish() first)");
  if (max_attempts < 0) max_attempts = retry_.max_attempts;
  double waited = 0;
  for (int attempt = 1;; ++attempt) {
    std::string problem;
    bool sent;
    if (attempt == 1 && first != nullptr) {
      sent = first->sent;
      problem = first->problem;
    } else {
      sent = send(sql_template, parameters, problem);
    }
    if (sent) {
      Rows rows = receive();
      const ExecStatusType status = PQresultStatus(rows.result.get());
      if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return rows;
      const char* sqlstate = PQresultErrorField(rows.result.get(), PG_DIAG_SQLSTATE);
      problem = one_line(rows.result != nullptr ? PQresultErrorMessage(rows.result.get())
                                                : PQerrorMessage(connection_.get()));
      if (prepare_statements_ && sqlstate != nullptr && std::string(sqlstate) == kNoSuchPreparedStatement) {
        // A statement prepared on this session is gone: a pooler in transaction mode hands
        // each statement to another server session, or DEALLOCATE ran. From now on every
        // statement is sent unprepared, and this one again.
        prepare_statements_ = false;
        log_(what + ": " + problem + "; sending statements unprepared from now on");
      } else if (!is_transient(sqlstate) && PQstatus(connection_.get()) == CONNECTION_OK) {
        throw DatabaseError(what + ": " + problem, sqlstate != nullptr ? sqlstate : "");
      }
    }
    // The next attempt, or the next statement after giving up (record_failure), starts on
    // a new connection.
    connection_.reset();
    if (attempt >= max_attempts)
      throw SyncError(what + ": " + problem + " (gave up after " + std::to_string(attempt) + " attempts)", true);
    const double wait = backoff_seconds(retry_, attempt, -1);
    if (waited + wait > retry_.max_total_seconds)
      throw SyncError(what + ": " + problem + " (gave up: retry budget spent)", true);
    log_(what + ": " + problem + "; retrying in " + std::to_string(std::lround(wait * 1000)) + " ms");
    sleep_seconds(wait);
    waited += wait;
  }
}

bool Database::send(const std::string& sql_template, const std::vector<std::string>& parameters,
                    std::string& problem) {
  if (connection_ == nullptr) connect();
  if (PQstatus(connection_.get()) != CONNECTION_OK) {
    problem = one_line(PQerrorMessage(connection_.get()));
    return false;
  }
  // "@." stands for the extension's schema, quoted.
  std::string sql = sql_template;
  const std::string schema = quoted_schema();
  for (std::size_t at; (at = sql.find("@.")) != std::string::npos;) sql.replace(at, 1, schema);
  std::vector<const char*> values;
  for (const std::string& parameter : parameters) values.push_back(parameter.c_str());
  const int count = static_cast<int>(values.size());
  auto statement = prepared_.find(sql);
  if (!prepare_statements_) {
    statement = prepared_.end();
  } else if (statement == prepared_.end()) {
    const std::string name = "leadsync_" + std::to_string(prepared_.size() + 1);
    Result prepared(PQprepare(connection_.get(), name.c_str(), sql.c_str(), count, nullptr), PQclear);
    if (PQresultStatus(prepared.get()) == PGRES_COMMAND_OK) statement = prepared_.emplace(sql, name).first;
    // Otherwise sent unprepared below: its error (a missing function, a lost connection)
    // then comes back as the statement's own, with its SQLSTATE.
  }
  const int sent = statement != prepared_.end()
                       ? PQsendQueryPrepared(connection_.get(), statement->second.c_str(), count, values.data(),
                                             nullptr, nullptr, 0)
                       : PQsendQueryParams(connection_.get(), sql.c_str(), count, nullptr, values.data(), nullptr,
                                           nullptr, 0);
  if (sent == 1) return true;
  problem = one_line(PQerrorMessage(connection_.get()));
  return false;
}

// The statement's last result (an error ends it); null when the connection broke first.
Database::Rows Database::receive() {
  Rows rows;
  while (PGresult* next = PQgetResult(connection_.get())) rows.result.reset(next);
  return rows;
}

namespace {
constexpr const char* kIngestSql = "SELECT @.ingest_leads($1, $2::jsonb)";

// ingest_leads' summary {"insertedNew": 1, ...} as counts.
IngestCounts counts_of(const std::string& summary, const std::string& what) {
  const auto result = nlohmann::json::parse(summary, nullptr, false);
  if (!result.is_object()) throw SyncError(what + " returned no summary", false);
  IngestCounts counts;
  counts.inserted_new = result.value("insertedNew", 0);
  counts.duplicate_same_source = result.value("duplicateSameSource", 0);
  counts.cross_source_history = result.value("crossSourceHistory", 0);
  counts.rejected = result.value("rejected", 0);
  return counts;
}
}  // namespace

IngestCounts Database::ingest_page(std::string_view source_type, const std::string& payloads_json) {
  const IngestCounts before = finish();
  Page page{std::string(source_type), {std::string(source_type), payloads_json}, {}};
  page.sending.sent = send(kIngestSql, page.parameters, page.sending.problem);  // if not, finish() retries
  in_flight_ = std::move(page);
  return before;
}

IngestCounts Database::finish() {
  if (!in_flight_) return {};
  const Page page = std::move(*in_flight_);
  in_flight_.reset();
  const std::string what = page.source_type + ": ingest_leads";
  return counts_of(query(kIngestSql, page.parameters, what, -1, &page.sending).value(0, 0), what);
}

IngestCounts Database::ingest_now(const std::string& source_type, const std::string& payloads_json) {
  const std::string what = source_type + ": ingest_leads";
  return counts_of(query(kIngestSql, {source_type, payloads_json}, what).value(0, 0), what);
}

int Database::inbox_add(const std::string& source_type, const std::string& notifications_json) {
  return std::stoi(query("SELECT @.webhook_inbox_add($1, $2::jsonb)", {source_type, notifications_json},
                         source_type + ": saving the notification").value(0, 0));
}

std::vector<InboxItem> Database::inbox_claim(const std::string& source_type, int max_items, double lease_seconds) {
  Rows rows = query("SELECT id, external_id, notification, attempts FROM"
                    " @.webhook_inbox_claim($1, $2::int, make_interval(secs => $3::float8))",
                    {source_type, std::to_string(max_items), std::to_string(lease_seconds)},
                    source_type + ": claiming notifications");
  std::vector<InboxItem> items;
  for (int row = 0; row < rows.count(); ++row)
    items.push_back({rows.value(row, 0), rows.value(row, 1), rows.value(row, 2), std::stoi(rows.value(row, 3))});
  return items;
}

std::optional<IngestCounts> Database::inbox_resolve(const std::string& id, const std::string& lead_json,
                                                    const std::string& account, std::int64_t started_at) {
  const std::string what = "inbox row " + id + ": ingest";
  Rows rows = query("SELECT @.webhook_inbox_resolve($1::bigint, $2::jsonb, $3, to_timestamp($4::bigint))",
                    {id, lead_json, account, std::to_string(started_at)}, what);
  if (rows.value(0, 0).empty()) return std::nullopt;
  return counts_of(rows.value(0, 0), what);
}

void Database::inbox_fail(const std::string& id, const std::string& error, double retry_in_seconds,
                          const std::string& account, std::int64_t started_at) {
  query("SELECT @.webhook_inbox_fail($1::bigint, $2, make_interval(secs => $3::float8), $4, to_timestamp($5::bigint))",
        {id, error, std::to_string(retry_in_seconds), account, std::to_string(started_at)},
        "inbox row " + id + ": recording the failure");
}

std::int64_t Database::inbox_pending() {
  return std::stoll(query("SELECT coalesce(sum(pending), 0)::bigint FROM @.webhook_inbox_status()", {},
                          "reading the inbox").value(0, 0));
}

void Database::ping() { query("SELECT 1", {}, "health check"); }

std::int64_t Database::window_start(const std::string& source_type, const std::string& account,
                                    long overlap_seconds, long first_lookback_seconds) {
  Rows rows = query(
      "SELECT floor(extract(epoch FROM @.sync_window_start($1, make_interval(secs => $2::int),"
      " make_interval(secs => $3::int), $4)))::bigint",
      {source_type, std::to_string(overlap_seconds), std::to_string(first_lookback_seconds), account},
      source_type + " (" + account + "): reading the saved sync window");
  return std::stoll(rows.value(0, 0));
}

void Database::record_success(const std::string& source_type, const std::string& account, const SyncWindow& window,
                              const std::string& summary_json, std::int64_t started_at) {
  query("SELECT @.record_sync_success($1, to_timestamp($2::bigint), to_timestamp($3::bigint), $4::jsonb, $5,"
        " 'fetcher', to_timestamp($6::bigint))",
        {source_type, std::to_string(window.since), std::to_string(window.until), summary_json, account,
         std::to_string(started_at)},
        source_type + " (" + account + "): saving the sync window");
}

void Database::record_failure(const std::string& source_type, const std::string& account, const std::string& message,
                              const SyncWindow& window, const std::string& summary_json, std::int64_t started_at) {
  // One attempt: this runs after a failure, often of the database itself.
  query("SELECT @.record_sync_failure($1, $2, $3, 'fetcher', to_timestamp($4::bigint), to_timestamp($5::bigint),"
        " to_timestamp($6::bigint), $7::jsonb)",
        {source_type, message, account, std::to_string(started_at), std::to_string(window.since),
         std::to_string(window.until), summary_json},
        source_type + " (" + account + "): recording the failure", 1);
}

namespace {
constexpr const char* kTimeFormat = "'YYYY-MM-DD HH24:MI:SS TZ'";
constexpr const char* kStatusSql = "SELECT * FROM @.sync_status()";
// $1 source type, $2 account (empty: any), $3 how many, newest first.
constexpr const char* kHistorySql =
    "SELECT * FROM @.sync_runs WHERE ($1 = '' OR source_type = $1) AND ($2 = '' OR account = $2)"
    " ORDER BY finished_at DESC, id DESC LIMIT $3::int";
}  // namespace

std::vector<SourceStatus> Database::status() {
  Rows rows = query(std::string("SELECT display_name, source_type, account, total_leads_count, todays_leads_count,"
                                " to_char(synced_until, ") + kTimeFormat + "), to_char(last_success_at, " +
                        kTimeFormat + "), last_error, to_char(last_error_at, " + kTimeFormat + ") FROM (" +
                        kStatusSql + ") AS s",
                    {}, "status");
  std::vector<SourceStatus> statuses;
  for (int row = 0; row < rows.count(); ++row)
    statuses.push_back({rows.value(row, 0), rows.value(row, 1), rows.value(row, 2), rows.value(row, 3),
                        rows.value(row, 4), rows.value(row, 5), rows.value(row, 6), rows.value(row, 7),
                        rows.value(row, 8)});
  return statuses;
}

std::vector<SyncRun> Database::history(const HistoryQuery& history) {
  Rows rows = query(std::string("SELECT to_char(finished_at, ") + kTimeFormat +
                        "), source_type, account, path, to_char(since, " + kTimeFormat + "), to_char(until, " +
                        kTimeFormat + "), pages, fetched, inserted_new, duplicate_same_source, cross_source_history,"
                        " rejected, error FROM (" + kHistorySql + ") AS r ORDER BY finished_at DESC, id DESC",
                    {history.source_type, history.account, std::to_string(history.limit)}, "history");
  std::vector<SyncRun> runs;
  for (int row = 0; row < rows.count(); ++row) {
    SyncRun run;
    std::string* fields[] = {&run.finished_at, &run.source_type, &run.account, &run.path, &run.since, &run.until,
                             &run.pages, &run.fetched, &run.inserted_new, &run.duplicate_same_source,
                             &run.cross_source_history, &run.rejected, &run.error};
    for (int column = 0; column < 13; ++column) *fields[column] = rows.value(row, column);
    runs.push_back(std::move(run));
  }
  return runs;
}

std::string Database::status_json() {
  return query(std::string("SELECT coalesce(json_agg(s), '[]') FROM (") + kStatusSql + ") AS s", {}, "status")
      .value(0, 0);
}

std::string Database::history_json(const HistoryQuery& history) {
  return query(std::string("SELECT coalesce(json_agg(r), '[]') FROM (") + kHistorySql + ") AS r",
               {history.source_type, history.account, std::to_string(history.limit)}, "history")
      .value(0, 0);
}

}  // namespace leadsync::sync
