// The three platform adapters: each walks its API's pages for one window and hands
// every page's records, as raw JSON, to a PageSink. They interpret no lead.
#pragma once

#include <string>
#include <vector>

#include "sync/http_client.hpp"
#include "sync/retry.hpp"
#include "sync/sync_types.hpp"

namespace leadsync::sync {

struct MetaConfig {
  std::string graph_url;  // the Graph API root with its version, e.g. https://graph.facebook.com/v25.0
  std::string page_id;
  std::string access_token;
  std::vector<std::string> form_ids;  // empty: every ACTIVE form of the page
  int page_limit = 100;
};

struct KnowlarityConfig {
  std::string base_url;  // e.g. https://kpi.knowlarity.com
  std::string channel = "Basic";
  std::string api_key;
  std::string auth_token;
  std::vector<std::string> allowed_numbers;  // empty: every call
  int page_limit = 500;
  int utc_offset_minutes = 330;  // Knowlarity reads start_time/end_time with an explicit offset; IST
};

struct GoogleAdsConfig {
  std::string api_url;    // e.g. https://googleads.googleapis.com/v21
  std::string token_url;  // e.g. https://oauth2.googleapis.com/token
  std::string customer_id;
  std::string login_customer_id;  // optional: the manager account
  std::string client_id;
  std::string client_secret;
  std::string refresh_token;
};

struct SyncContext {
  HttpClient& http;
  PageSink& sink;
  RetryPolicy retry;
  ProgressLog log;
  // Filled page by page, so a run that fails part-way still reports what it ingested.
  SyncReport report;
};

// Each walks its platform's pages for `window`; throws SyncError (or SyncInterrupted).
void sync_meta(const MetaConfig& config, const SyncWindow& window, SyncContext& context);
void sync_knowlarity(const KnowlarityConfig& config, const SyncWindow& window, SyncContext& context);
void sync_google_ads(const GoogleAdsConfig& config, const SyncWindow& window, SyncContext& context);

// One Meta lead by its id (what a leadgen webhook notifies), with the fields the pull
// path reads, as JSON text; the same errors and retries as a page. Throws SyncError.
std::string fetch_meta_lead(const MetaConfig& config, const std::string& leadgen_id, HttpClient& http,
                            const RetryPolicy& retry, const ProgressLog& log);

// GAQL reads submission_date_time in the account's time zone, which the fetcher does
// not know: the filter is widened by this much on both sides (ingest is idempotent).
constexpr int kGoogleWindowMarginSeconds = 14 * 3600;

}  // namespace leadsync::sync
