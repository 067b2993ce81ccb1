// Knowlarity call logs: one window, paged by offset up to meta.total_count.
#include <set>

#include "core/phone.hpp"
#include "sync/page_fetch.hpp"
#include "sync/platforms.hpp"
#include "sync/time_format.hpp"

namespace leadsync::sync {
namespace {

constexpr const char* kSourceType = "knowlarity_call";

Verdict classify_knowlarity_error(const HttpResponse& response) {
  if (response.status == 401 || response.status == 403)
    return Verdict::fail("HTTP " + std::to_string(response.status) +
                         ": Knowlarity refused the credentials; check KNOWLARITY_API_KEY (x-api-key) and "
                         "KNOWLARITY_AUTH_TOKEN (Authorization)");
  return classify_http_status(response);
}

std::set<std::string> normalized_numbers(const std::vector<std::string>& numbers) {
  std::set<std::string> normalized;
  for (const std::string& number : numbers)
    if (auto phone = normalize_phone(number)) normalized.insert(phone->str());
  return normalized;
}

bool is_allowed_call(const nlohmann::json& call, const std::set<std::string>& allowed) {
  if (allowed.empty()) return true;
  if (!call.is_object() || !call.contains("knowlarity_number") || !call["knowlarity_number"].is_string())
    return false;
  auto number = normalize_phone(call["knowlarity_number"].get<std::string>());
  return number && allowed.count(number->str()) > 0;
}

}  // namespace

void sync_knowlarity(const KnowlarityConfig& config, const SyncWindow& window, SyncContext& context) {
  SyncReport& report = context.report;
  report.source_type = kSourceType;
  report.window = window;
  const std::set<std::string> allowed = normalized_numbers(config.allowed_numbers);
  const std::string base = config.base_url + "/" + context.http.escape(config.channel) + "/v1/account/calllog" +
                           "?start_time=" +
                           context.http.escape(format_with_offset(window.since, config.utc_offset_minutes)) +
                           "&end_time=" +
                           context.http.escape(format_with_offset(window.until, config.utc_offset_minutes)) +
                           "&limit=" + std::to_string(config.page_limit);
  const std::vector<std::string> headers = {"x-api-key: " + config.api_key, "Authorization: " + config.auth_token,
                                            "Accept: application/json"};
  std::int64_t offset = 0;
  for (int page = 1;; ++page) {
    const std::string what = std::string(kSourceType) + ": call log page " + std::to_string(page) + " (offset " +
                             std::to_string(offset) + ")";
    const nlohmann::json document = fetch_json_page(context.http,
                                                    {"GET", base + "&offset=" + std::to_string(offset), headers, {}, what},
                                                    classify_knowlarity_error, context.retry, context.log);
    if (!document.contains("objects") || !document["objects"].is_array())
      throw SyncError(what + ": the response has no objects array", true);
    const nlohmann::json& calls = document["objects"];
    if (calls.empty()) break;
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& call : calls)
      if (is_allowed_call(call, allowed)) kept.push_back(call);
    if (!kept.empty()) report.counts += context.sink.ingest_page(kSourceType, kept.dump());
    ++report.pages;
    report.fetched += static_cast<std::int64_t>(calls.size());
    report.filtered += static_cast<std::int64_t>(calls.size() - kept.size());
    context.log(what + ": " + std::to_string(calls.size()) + " call(s), " + std::to_string(kept.size()) + " kept");

    offset += static_cast<std::int64_t>(calls.size());
    const auto& meta = document.contains("meta") ? document["meta"] : nlohmann::json();
    if (meta.is_object() && meta.contains("total_count") && meta["total_count"].is_number_integer() &&
        offset >= meta["total_count"].get<std::int64_t>())
      break;
  }
}

}  // namespace leadsync::sync
