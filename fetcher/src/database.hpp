// The fetcher's side of PostgreSQL (libpq): ingest pages, keep the sync window.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sync/retry.hpp"
#include "sync/sync_types.hpp"

struct pg_conn;

namespace leadsync::sync {

struct SourceStatus {
  std::string display_name, source_type, account, total, today, synced_until, last_success_at, last_error,
      last_error_at;
};

// A row of sync_runs, as text.
struct SyncRun {
  std::string finished_at, source_type, account, path, since, until, pages, fetched, inserted_new,
      duplicate_same_source, cross_source_history, rejected, error;
};

// Which runs `history` lists: newest first; empty filters match all.
struct HistoryQuery {
  std::string source_type, account;
  int limit = 20;
};

// A statement the server refused (not a lost connection): its SQLSTATE says why.
class DatabaseError : public SyncError {
 public:
  DatabaseError(const std::string& message, std::string sqlstate)
      : SyncError(message, false), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

// A row of the webhook inbox claimed for resolving.
struct InboxItem {
  std::string id, external_id, notification;
  int attempts = 0;
};

class Database : public PageSink {
 public:
  // `conninfo`: a libpq URI or key=value string; empty uses the PG* variables.
  // `schema`: where the leadsync extension is installed.
  Database(std::string conninfo, std::string schema, RetryPolicy retry, ProgressLog log);
  ~Database() override;

  // One ingest_leads call, its own transaction, sent without waiting: the server ingests
  // the page while the caller fetches the next one. Returns the counts of the page sent
  // before it (one page at most is in flight); finish() waits for the last. A lost
  // connection or a server restart is retried (ingest is idempotent, so a page whose
  // commit was not confirmed is simply sent again); an SQL error is not.
  IngestCounts ingest_page(std::string_view source_type, const std::string& payloads_json) override;
  IngestCounts finish() override;

  // Unix seconds where the next window of an account of `source_type` starts.
  std::int64_t window_start(const std::string& source_type, const std::string& account, long overlap_seconds,
                            long first_lookback_seconds);
  // A run of leadsync-fetch that started at `started_at` (Unix seconds): its window (if
  // every page was ingested) and its row in sync_runs.
  void record_success(const std::string& source_type, const std::string& account, const SyncWindow& window,
                      const std::string& summary_json, std::int64_t started_at);
  void record_failure(const std::string& source_type, const std::string& account, const std::string& message,
                      const SyncWindow& window, const std::string& summary_json, std::int64_t started_at);
  std::vector<SourceStatus> status();
  std::vector<SyncRun> history(const HistoryQuery& query);
  // The same as JSON arrays of objects, named as the columns of sync_status() / sync_runs.
  std::string status_json();
  std::string history_json(const HistoryQuery& query);

  // The webhook server's statements, each its own transaction, tried as the retry policy
  // says (the server's is short: a webhook is answered 503 rather than kept waiting).
  IngestCounts ingest_now(const std::string& source_type, const std::string& payloads_json);
  int inbox_add(const std::string& source_type, const std::string& notifications_json);
  std::vector<InboxItem> inbox_claim(const std::string& source_type, int max_items, double lease_seconds);
  // Each records the attempt as a run of `account` that started at `started_at`.
  // nullopt: the row was resolved already (by another resolver), nothing ingested.
  std::optional<IngestCounts> inbox_resolve(const std::string& id, const std::string& lead_json,
                                            const std::string& account, std::int64_t started_at);
  void inbox_fail(const std::string& id, const std::string& error, double retry_in_seconds,
                  const std::string& account, std::int64_t started_at);
  std::int64_t inbox_pending();
  void ping();

 private:
  struct Rows;
  // The first attempt at a statement, when the caller made it (the page in flight): sent,
  // its result still to be read, or not sent, for the reason in `problem`.
  struct FirstAttempt {
    bool sent = false;
    std::string problem;
  };
  struct Page {  // the page in flight
    std::string source_type;
    std::vector<std::string> parameters;  // ingest_leads' two arguments
    FirstAttempt sending;
  };
  // max_attempts < 0: the retry policy's. first: the first attempt, if already made.
  Rows query(const std::string& sql, const std::vector<std::string>& parameters, const std::string& what,
             int max_attempts = -1, const FirstAttempt* first = nullptr);
  // Sends a statement without waiting for its result; false, with the reason in
  // `problem`, when it could not be sent (a connection found lost since its last
  // statement included: that is a failed attempt, not a silent reconnect).
  bool send(const std::string& sql, const std::vector<std::string>& parameters, std::string& problem);
  Rows receive();
  void connect();
  std::string quoted_schema();

  std::string conninfo_;
  std::string schema_;
  RetryPolicy retry_;
  ProgressLog log_;
  std::unique_ptr<pg_conn, void (*)(pg_conn*)> connection_;
  // The statements prepared on this connection: SQL text -> statement name. Each is
  // parsed and planned once per connection, not once per call (a webhook is one call).
  std::map<std::string, std::string> prepared_;
  bool prepare_statements_ = true;  // false once a prepared statement vanished (see query())
  std::optional<Page> in_flight_;
};

}  // namespace leadsync::sync
