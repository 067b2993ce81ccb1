// What a sync of one source works with: its window, what it reports, where pages go.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace leadsync::sync {

// A fetch window in Unix seconds: events with since < time <= until.
struct SyncWindow {
  std::int64_t since = 0;
  std::int64_t until = 0;
};

// The counts one ingest_leads call returns.
struct IngestCounts {
  std::int64_t inserted_new = 0;
  std::int64_t duplicate_same_source = 0;
  std::int64_t cross_source_history = 0;
  std::int64_t rejected = 0;

  IngestCounts& operator+=(const IngestCounts& other) {
    inserted_new += other.inserted_new;
    duplicate_same_source += other.duplicate_same_source;
    cross_source_history += other.cross_source_history;
    rejected += other.rejected;
    return *this;
  }
};

// pages, fetched and filtered count the pages handed to the sink: not one fetched after a
// page whose ingest failed (ingest_page then throws that failure instead of taking it).
struct SyncReport {
  std::string source_type;
  std::string account = "default";  // which account of the platform (config.hpp, kDefaultAccount)
  SyncWindow window;
  int pages = 0;
  std::int64_t fetched = 0;   // records the platform returned
  std::int64_t filtered = 0;  // records dropped by a configured filter, never sent to the database
  IngestCounts counts;
};

// Where each page's records go: the database (libpq in leadsync-fetch, SPI inside the
// extension). Each page is one atomic ingest of a JSON array of payloads. A sink may
// still be ingesting a page when ingest_page returns (leadsync-fetch sends it, then
// fetches the next page while the server works): each call returns the counts of the
// pages whose ingest completed during it, and finish() waits for the rest and returns
// theirs. So a sync's counts are the sum of every ingest_page and one last finish().
class PageSink {
 public:
  virtual ~PageSink() = default;
  virtual IngestCounts ingest_page(std::string_view source_type, const std::string& payloads_json) = 0;
  virtual IngestCounts finish() { return {}; }
};

// Human-readable progress; never receives a secret.
using ProgressLog = std::function<void(const std::string& line)>;

// A failure that ends the sync. `retryable` says whether running again later may help
// (throttling that outlasted the retries) or not (an expired token, a bad request).
class SyncError : public std::runtime_error {
 public:
  SyncError(const std::string& message, bool retryable) : std::runtime_error(message), retryable_(retryable) {}
  bool retryable() const { return retryable_; }

 private:
  bool retryable_;
};

// The caller asked the sync to stop (query cancel, statement_timeout, shutdown).
class SyncInterrupted : public std::runtime_error {
 public:
  SyncInterrupted() : std::runtime_error("sync interrupted") {}
};

}  // namespace leadsync::sync
