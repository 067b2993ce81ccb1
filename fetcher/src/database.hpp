// The fetcher's side of PostgreSQL (libpq): ingest pages, keep the sync window.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sync/retry.hpp"
#include "sync/sync_types.hpp"

struct pg_conn;

namespace leadsync::sync {

struct SourceStatus {
  std::string display_name, source_type, total, today, synced_until, last_success_at, last_error, last_error_at;
};

class Database : public PageSink {
 public:
  // `conninfo`: a libpq URI or key=value string; empty uses the PG* variables.
  // `schema`: where the leadsync extension is installed.
  Database(std::string conninfo, std::string schema, RetryPolicy retry, ProgressLog log);
  ~Database() override;

  // One ingest_leads call, its own transaction. A lost connection or a server restart
  // is retried (ingest is idempotent, so a page whose commit was not confirmed is
  // simply sent again); an SQL error is not.
  IngestCounts ingest_page(std::string_view source_type, const std::string& payloads_json) override;

  // Unix seconds where the next window of `source_type` starts.
  std::int64_t window_start(const std::string& source_type, long overlap_seconds, long first_lookback_seconds);
  void record_success(const std::string& source_type, const SyncWindow& window, const std::string& summary_json);
  void record_failure(const std::string& source_type, const std::string& message);
  std::vector<SourceStatus> status();

 private:
  struct Rows;
  // max_attempts < 0: the retry policy's.
  Rows query(const std::string& sql, const std::vector<std::string>& parameters, const std::string& what,
             int max_attempts = -1);
  void connect();
  std::string quoted_schema();

  std::string conninfo_;
  std::string schema_;
  RetryPolicy retry_;
  ProgressLog log_;
  std::unique_ptr<pg_conn, void (*)(pg_conn*)> connection_;
};

}  // namespace leadsync::sync
