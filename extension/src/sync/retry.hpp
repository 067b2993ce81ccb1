// Bounded retries with exponential backoff and jitter, shared by every platform.
#pragma once

#include <functional>
#include <string>

#include "sync/http_client.hpp"
#include "sync/sync_types.hpp"

namespace leadsync::sync {

struct RetryPolicy {
  int max_attempts = 6;            // attempts per request, the first included
  double base_delay_seconds = 1;   // doubled after each failed attempt
  double max_delay_seconds = 60;   // one wait never exceeds this...
  double max_total_seconds = 300;  // ...and all waits of one request together never this
};

// What a platform makes of one HTTP response.
struct Verdict {
  enum Kind { Done, Retry, Fail } kind = Done;
  std::string reason;             // for Retry and Fail: why, without secrets
  double wait_seconds = -1;       // for Retry: the platform's own hint (Retry-After, ...), if any

  static Verdict done() { return {}; }
  static Verdict retry(std::string why, double wait = -1) { return {Retry, std::move(why), wait}; }
  static Verdict fail(std::string why) { return {Fail, std::move(why), -1}; }
};

using Classifier = std::function<Verdict(const HttpResponse&)>;

// Performs `request` until `classify` says Done (returning that response), it says
// Fail (SyncError, not retryable), or the policy is exhausted (SyncError, retryable).
// Transport errors — connection failures, timeouts, truncated bodies — are retried.
HttpResponse perform_with_retries(HttpClient& client, const HttpRequest& request, const Classifier& classify,
                                  const RetryPolicy& policy, const ProgressLog& log);

// The next wait: base * 2^attempt with full jitter in [half, whole], at least the
// platform's hint, at most max_delay_seconds.
double backoff_seconds(const RetryPolicy& policy, int failed_attempts, double hint_seconds);

// HTTP status rules every platform shares: 2xx done, 429 and 5xx retried.
Verdict classify_http_status(const HttpResponse& response);

// Sleeps without interruption checks (for callers outside a sync's HttpClient).
void sleep_seconds(double seconds);

}  // namespace leadsync::sync
