// The retry loop and its backoff.
#include "sync/retry.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <random>
#include <thread>

namespace leadsync::sync {

double backoff_seconds(const RetryPolicy& policy, int failed_attempts, double hint_seconds) {
  static thread_local std::mt19937 random{std::random_device{}()};
  const double exponential = policy.base_delay_seconds * std::pow(2.0, std::max(0, failed_attempts - 1));
  const double capped = std::min(exponential, policy.max_delay_seconds);
  std::uniform_real_distribution<double> jitter(capped / 2, capped);
  return std::min(std::max(jitter(random), hint_seconds), std::max(policy.max_delay_seconds, hint_seconds));
}

Verdict classify_http_status(const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) return Verdict::done();
  double hint = -1;
  if (auto it = response.headers.find("retry-after"); it != response.headers.end())
    hint = std::atof(it->second.c_str());
  if (response.status == 429) return Verdict::retry("HTTP 429 (rate limited)", hint);
  if (response.status >= 500) return Verdict::retry("HTTP " + std::to_string(response.status), hint);
  return Verdict::fail("HTTP " + std::to_string(response.status));
}

void sleep_seconds(double seconds) {
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

HttpResponse perform_with_retries(HttpClient& client, const HttpRequest& request, const Classifier& classify,
                                  const RetryPolicy& policy, const ProgressLog& log) {
  double waited = 0;
  for (int attempt = 1;; ++attempt) {
    Verdict verdict;
    try {
      HttpResponse response = client.perform(request);
      verdict = classify(response);
      if (verdict.kind == Verdict::Done) return response;
      if (verdict.kind == Verdict::Fail) throw SyncError(request.description + ": " + verdict.reason, false);
      verdict.reason = request.description + ": " + verdict.reason;
    } catch (const TransportError& error) {
      verdict = Verdict::retry(error.what());  // already names the request
    }
    if (attempt >= policy.max_attempts)
      throw SyncError(verdict.reason + " (gave up after " + std::to_string(attempt) + " attempts)", true);
    const double wait = backoff_seconds(policy, attempt, verdict.wait_seconds);
    if (waited + wait > policy.max_total_seconds)
      throw SyncError(verdict.reason + " (gave up: waiting " + std::to_string(std::lround(wait)) +
                          " s more would pass the retry budget of " +
                          std::to_string(std::lround(policy.max_total_seconds)) + " s)",
                      true);
    log(verdict.reason + "; retrying in " + std::to_string(std::lround(wait * 1000)) + " ms");
    client.wait(wait);
    waited += wait;
  }
}

}  // namespace leadsync::sync
