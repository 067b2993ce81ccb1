#include "metrics.hpp"

#include <sstream>

namespace leadsync::serve {

void Metrics::request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  auto& buckets = latency_[route];
  std::size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
  ++buckets[bucket];
  latency_sum_[route] += seconds;
}

void Metrics::outcomes(const std::string& source_type, const sync::IngestCounts& counts) {
  std::lock_guard<std::mutex> lock(mutex_);
  outcomes_[{source_type, "inserted_new"}] += counts.inserted_new;
  outcomes_[{source_type, "duplicate_same_source"}] += counts.duplicate_same_source;
  outcomes_[{source_type, "cross_source_history"}] += counts.cross_source_history;
  outcomes_[{source_type, "rejected"}] += counts.rejected;
}

void Metrics::database_error() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++database_errors_;
}

std::string Metrics::render(std::int64_t pending) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  out << "# HELP leadsync_webhook_requests_total Webhook server requests by route and status.\n"
         "# TYPE leadsync_webhook_requests_total counter\n";
  for (const auto& [key, count] : requests_)
    out << "leadsync_webhook_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << count
        << "\n";
  out << "# HELP leadsync_webhook_ingest_outcomes_total Payloads ingested by source and case.\n"
         "# TYPE leadsync_webhook_ingest_outcomes_total counter\n";
  for (const auto& [key, count] : outcomes_)
    out << "leadsync_webhook_ingest_outcomes_total{source_type=\"" << key.first << "\",case=\"" << key.second
        << "\"} " << count << "\n";
  out << "# HELP leadsync_webhook_request_seconds Time from a request's headers to its answer.\n"
         "# TYPE leadsync_webhook_request_seconds histogram\n";
  for (const auto& [route, buckets] : latency_) {
    std::int64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += buckets[i];
      out << "leadsync_webhook_request_seconds_bucket{route=\"" << route << "\",le=\"" << kBuckets[i] << "\"} "
          << cumulative << "\n";
    }
    cumulative += buckets[kBuckets.size()];
    out << "leadsync_webhook_request_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} " << cumulative << "\n"
        << "leadsync_webhook_request_seconds_sum{route=\"" << route << "\"} " << latency_sum_.at(route) << "\n"
        << "leadsync_webhook_request_seconds_count{route=\"" << route << "\"} " << cumulative << "\n";
  }
  out << "# HELP leadsync_webhook_inbox_pending Notifications committed but not yet resolved (-1: unknown).\n"
         "# TYPE leadsync_webhook_inbox_pending gauge\n"
      << "leadsync_webhook_inbox_pending " << pending << "\n"
      << "# HELP leadsync_webhook_database_errors_total Statements that failed or found the database unreachable.\n"
         "# TYPE leadsync_webhook_database_errors_total counter\n"
      << "leadsync_webhook_database_errors_total " << database_errors_ << "\n";
  return out.str();
}

}  // namespace leadsync::serve
