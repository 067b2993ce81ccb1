// Meta Lead Ads: the page's ACTIVE forms (or configured ones), then each form's leads
// in the window, following paging.next. Errors come as HTTP 400 with a Graph code.
#include <algorithm>
#include <cmath>

#include "sync/page_fetch.hpp"
#include "sync/platforms.hpp"

namespace leadsync::sync {
namespace {

constexpr const char* kSourceType = "meta_form";
constexpr const char* kLeadFields = "created_time,id,ad_id,form_id,campaign_id,is_organic,platform,field_data";

bool is_throttling_code(long code) {
  return code == 4 || code == 17 || code == 32 || code == 613 || (code >= 80001 && code <= 80005);
}

// Meta's estimate of when a throttled app may call again, from X-Business-Use-Case-Usage
// (minutes, per business and call type): the longest one, in seconds, or -1.
double regain_access_seconds(const HttpResponse& response) {
  auto header = response.headers.find("x-business-use-case-usage");
  if (header == response.headers.end()) return -1;
  auto usage = nlohmann::json::parse(header->second, nullptr, false);
  double longest = -1;
  if (!usage.is_object()) return longest;
  for (const auto& [business, entries] : usage.items()) {
    if (!entries.is_array()) continue;
    for (const auto& entry : entries)
      if (entry.is_object() && entry.contains("estimated_time_to_regain_access") &&
          entry["estimated_time_to_regain_access"].is_number())
        longest = std::max(longest, entry["estimated_time_to_regain_access"].get<double>() * 60);
  }
  return longest;
}

Verdict classify_graph_error(const HttpResponse& response) {
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return classify_http_status(response);
  const auto& error = body["error"];
  const long code = integer_member(error, "code");
  const std::string graph = "Graph API error " + std::to_string(code);
  if (code == 190)
    return Verdict::fail(graph + ": META_ACCESS_TOKEN is expired or invalid; renew the Page access token "
                                 "(it needs leads_retrieval) and update the secret");
  if (code == 10 || (code >= 200 && code <= 299))
    return Verdict::fail(graph + ": permission denied; META_ACCESS_TOKEN needs leads_retrieval and "
                                 "pages_manage_ads on META_PAGE_ID");
  if (is_throttling_code(code)) return Verdict::retry(graph + " (throttled)", regain_access_seconds(response));
  if (code == 1 || code == 2) return Verdict::retry(graph + " (temporary)");
  Verdict status = classify_http_status(response);
  if (status.kind == Verdict::Retry) return status;
  return Verdict::fail(graph + ": " + string_member(error, "message", "no message"));
}

// "scheme://host[:port]" of a URL, so paging.next (which carries the token) is only
// followed on the configured Graph host.
std::string origin_of(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return {};
  const auto path_start = url.find('/', scheme_end + 3);
  return url.substr(0, path_start);
}

std::string next_page_url(const nlohmann::json& document, const std::string& graph_origin,
                          const std::string& what) {
  if (!document.contains("paging") || !document["paging"].is_object()) return {};
  const auto& paging = document["paging"];
  if (!paging.contains("next") || !paging["next"].is_string()) return {};
  std::string next = paging["next"].get<std::string>();
  if (origin_of(next) != graph_origin)
    throw SyncError(what + ": paging.next points outside META_GRAPH_URL's host; refusing to send the token there",
                    false);
  return next;
}

const nlohmann::json& data_array(const nlohmann::json& document, const std::string& what) {
  if (!document.contains("data") || !document["data"].is_array())
    throw SyncError(what + ": the response has no data array", true);
  return document["data"];
}

std::vector<std::string> active_form_ids(const MetaConfig& config, SyncContext& context) {
  const std::string origin = origin_of(config.graph_url);
  std::string url = config.graph_url + "/" + context.http.escape(config.page_id) +
                    "/leadgen_forms?fields=id,name,status&limit=100&access_token=" +
                    context.http.escape(config.access_token);
  std::vector<std::string> forms;
  for (int page = 1; !url.empty(); ++page) {
    const std::string what = std::string(kSourceType) + ": forms of page " + config.page_id + ", page " +
                             std::to_string(page);
    const nlohmann::json document =
        fetch_json_page(context.http, {"GET", url, {}, {}, what}, classify_graph_error, context.retry, context.log);
    for (const auto& form : data_array(document, what))
      if (string_member(form, "status") == "ACTIVE" && form.contains("id"))
        forms.push_back(form["id"].is_string() ? form["id"].get<std::string>() : form["id"].dump());
    url = next_page_url(document, origin, what);
  }
  return forms;
}

}  // namespace

void sync_meta(const MetaConfig& config, const SyncWindow& window, SyncContext& context) {
  SyncReport& report = context.report;
  report.source_type = kSourceType;
  report.window = window;
  const std::vector<std::string> forms = config.form_ids.empty() ? active_form_ids(config, context) : config.form_ids;
  context.log(std::string(kSourceType) + ": " + std::to_string(forms.size()) + " form(s) to read");

  // Meta filters on time_created in Unix seconds; an ISO value would be silently ignored.
  const nlohmann::json filtering = nlohmann::json::array(
      {{{"field", "time_created"}, {"operator", "GREATER_THAN"}, {"value", window.since}},
       {{"field", "time_created"}, {"operator", "LESS_THAN"}, {"value", window.until + 1}}});
  const std::string origin = origin_of(config.graph_url);
  for (const std::string& form : forms) {
    std::string url = config.graph_url + "/" + context.http.escape(form) + "/leads?fields=" + kLeadFields +
                      "&limit=" + std::to_string(config.page_limit) +
                      "&filtering=" + context.http.escape(filtering.dump()) +
                      "&access_token=" + context.http.escape(config.access_token);
    for (int page = 1; !url.empty(); ++page) {
      const std::string what = std::string(kSourceType) + ": form " + form + ", page " + std::to_string(page);
      const nlohmann::json document =
          fetch_json_page(context.http, {"GET", url, {}, {}, what}, classify_graph_error, context.retry, context.log);
      const nlohmann::json& leads = data_array(document, what);
      if (!leads.empty()) report.counts += context.sink.ingest_page(kSourceType, leads.dump());
      ++report.pages;
      report.fetched += static_cast<std::int64_t>(leads.size());
      context.log(what + ": " + std::to_string(leads.size()) + " lead(s)");
      url = next_page_url(document, origin, what);
    }
  }
}

std::string fetch_meta_lead(const MetaConfig& config, const std::string& leadgen_id, HttpClient& http,
                            const RetryPolicy& retry, const ProgressLog& log) {
  const std::string url = config.graph_url + "/" + http.escape(leadgen_id) + "?fields=" + kLeadFields +
                          "&access_token=" + http.escape(config.access_token);
  const std::string what = std::string(kSourceType) + ": lead " + leadgen_id;
  const nlohmann::json lead = fetch_json_page(http, {"GET", url, {}, {}, what}, classify_graph_error, retry, log);
  return lead.dump();
}

}  // namespace leadsync::sync
