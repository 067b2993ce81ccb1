// Google Ads lead form submissions: an OAuth access token from the refresh token, then
// GAQL over lead_form_submission_data, following nextPageToken.
#include <algorithm>
#include <cstdlib>

#include "sync/page_fetch.hpp"
#include "sync/platforms.hpp"
#include "sync/time_format.hpp"

namespace leadsync::sync {
namespace {

constexpr const char* kSourceType = "google_ads";

std::string digits_only(const std::string& id) {
  std::string digits;
  std::copy_if(id.begin(), id.end(), std::back_inserter(digits), [](char c) { return c >= '0' && c <= '9'; });
  return digits;
}

// The first "retryDelay" ("12s", "1.5s") anywhere in a google.rpc error, in seconds.
double retry_delay_seconds(const nlohmann::json& node) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "retryDelay" && value.is_string()) return std::atof(value.get<std::string>().c_str());
      if (double found = retry_delay_seconds(value); found >= 0) return found;
    }
  } else if (node.is_array()) {
    for (const auto& item : node)
      if (double found = retry_delay_seconds(item); found >= 0) return found;
  }
  return -1;
}

Verdict classify_token_error(const HttpResponse& response) {
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  const std::string error = string_member(body, "error");
  if (error == "invalid_grant")
    return Verdict::fail("Google refused GOOGLE_OAUTH_REFRESH_TOKEN (invalid_grant: expired or revoked); "
                         "create a new refresh token and update the secret");
  if (error == "invalid_client" || error == "unauthorized_client")
    return Verdict::fail("Google refused the OAuth client (" + error +
                         "); check GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET");
  return classify_http_status(response);
}

Verdict classify_search_error(const HttpResponse& response, bool& unauthenticated) {
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  std::string status;
  if (body.is_object() && body.contains("error")) status = string_member(body["error"], "status");
  if (response.status == 401 || status == "UNAUTHENTICATED") {
    unauthenticated = true;
    return Verdict::fail("HTTP 401 UNAUTHENTICATED: Google rejected the access token");
  }
  if (response.status == 429 || status == "RESOURCE_EXHAUSTED" ||
      response.body.find("RESOURCE_TEMPORARILY_EXHAUSTED") != std::string::npos)
    return Verdict::retry("quota exhausted (RESOURCE_EXHAUSTED)", retry_delay_seconds(body));
  if (response.status == 403 || status == "PERMISSION_DENIED")
    return Verdict::fail("HTTP 403 PERMISSION_DENIED: check GOOGLE_ADS_CUSTOMER_ID, GOOGLE_ADS_LOGIN_CUSTOMER_ID "
                         "and that the OAuth user can read that account");
  Verdict verdict = classify_http_status(response);
  if (verdict.kind == Verdict::Fail && !status.empty()) verdict.reason += " " + status;
  return verdict;
}

std::string fetch_access_token(const GoogleAdsConfig& config, SyncContext& context) {
  HttpClient& http = context.http;
  HttpRequest request{"POST", config.token_url, {"Content-Type: application/x-www-form-urlencoded"},
                      "grant_type=refresh_token&client_id=" + http.escape(config.client_id) +
                          "&client_secret=" + http.escape(config.client_secret) +
                          "&refresh_token=" + http.escape(config.refresh_token),
                      std::string(kSourceType) + ": OAuth token refresh"};
  const nlohmann::json token = fetch_json_page(http, request, classify_token_error, context.retry, context.log);
  if (!token.contains("access_token") || !token["access_token"].is_string())
    throw SyncError(request.description + ": the response has no access_token", true);
  return token["access_token"].get<std::string>();
}

std::string lead_query(const SyncWindow& window) {
  const std::string from = format_with_offset(window.since - kGoogleWindowMarginSeconds, 0).substr(0, 19);
  const std::string to = format_with_offset(window.until + kGoogleWindowMarginSeconds, 0).substr(0, 19);
  return "SELECT lead_form_submission_data.resource_name, lead_form_submission_data.id, "
         "lead_form_submission_data.asset, lead_form_submission_data.campaign, "
         "lead_form_submission_data.ad_group, lead_form_submission_data.ad_group_ad, "
         "lead_form_submission_data.gclid, lead_form_submission_data.submission_date_time, "
         "lead_form_submission_data.lead_form_submission_fields, "
         "lead_form_submission_data.custom_lead_form_submission_fields "
         "FROM lead_form_submission_data "
         "WHERE lead_form_submission_data.submission_date_time >= '" + from + "' "
         "AND lead_form_submission_data.submission_date_time <= '" + to + "' "
         "ORDER BY lead_form_submission_data.submission_date_time";
}

}  // namespace

void sync_google_ads(const GoogleAdsConfig& config, const SyncWindow& window, SyncContext& context) {
  SyncReport& report = context.report;
  report.source_type = kSourceType;
  report.window = window;
  std::string access_token = fetch_access_token(config, context);
  const std::string url = config.api_url + "/customers/" + digits_only(config.customer_id) + "/googleAds:search";
  const std::string query = lead_query(window);
  std::string page_token;
  for (int page = 1;; ++page) {
    const std::string what = std::string(kSourceType) + ": search page " + std::to_string(page);
    nlohmann::json body = {{"query", query}};
    if (!page_token.empty()) body["pageToken"] = page_token;
    nlohmann::json document;
    for (bool refreshed = false;;) {  // an access token lives about an hour: refresh once on 401
      std::vector<std::string> headers = {"Authorization: Bearer " + access_token, "Content-Type: application/json"};
      if (!config.login_customer_id.empty()) headers.push_back("login-customer-id: " + digits_only(config.login_customer_id));
      bool unauthenticated = false;
      try {
        document = fetch_json_page(
            context.http, {"POST", url, headers, body.dump(), what},
            [&](const HttpResponse& response) { return classify_search_error(response, unauthenticated); },
            context.retry, context.log);
        break;
      } catch (const SyncError&) {
        if (!unauthenticated || refreshed) throw;
        access_token = fetch_access_token(config, context);
        refreshed = true;
      }
    }
    // Google leaves "results" out of a page with no rows, which only the first page of an
    // empty result can be: a page reached by a nextPageToken, or one offering a next
    // page, has rows, and skipping it would lose them silently.
    if (document.contains("results") && !document["results"].is_array())
      throw SyncError(what + ": results is not an array", true);
    if (!document.contains("results") &&
        (page > 1 || document.contains("nextPageToken") || (!document.contains("fieldMask") && !document.empty())))
      throw SyncError(what + ": the response has no results array", true);
    const nlohmann::json rows = document.value("results", nlohmann::json::array());
    if (!rows.empty()) report.counts += context.sink.ingest_page(kSourceType, rows.dump());
    ++report.pages;
    report.fetched += static_cast<std::int64_t>(rows.size());
    context.log(what + ": " + std::to_string(rows.size()) + " lead(s)");
    if (!document.contains("nextPageToken") || !document["nextPageToken"].is_string() ||
        document["nextPageToken"].get<std::string>().empty())
      break;
    page_token = document["nextPageToken"].get<std::string>();
  }
}

}  // namespace leadsync::sync
