// Fetching one JSON page with retries: a body that is not the JSON object the platform
// promised (HTML error page, truncated or malformed JSON) is retried like a 5xx, then
// reported naming the source and page.
#pragma once

#include <nlohmann/json.hpp>

#include "sync/retry.hpp"

namespace leadsync::sync {

// `classify_error` judges a non-2xx response; a 2xx one must parse as a JSON object.
inline nlohmann::json fetch_json_page(HttpClient& http, const HttpRequest& request, const Classifier& classify_error,
                                      const RetryPolicy& policy, const ProgressLog& log) {
  nlohmann::json document;
  perform_with_retries(
      http, request,
      [&](const HttpResponse& response) {
        if (response.status < 200 || response.status >= 300) {
          Verdict verdict = classify_error(response);
          if (verdict.kind != Verdict::Done) return verdict;
        }
        document = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
        if (document.is_discarded()) {
          const bool html = response.body.find('<') != std::string::npos &&
                            response.headers.count("content-type") &&
                            response.headers.at("content-type").find("html") != std::string::npos;
          return Verdict::retry(html ? "an HTML page instead of JSON" : "malformed or truncated JSON");
        }
        if (!document.is_object()) return Verdict::retry("a JSON " + std::string(document.type_name()) + ", not an object");
        return Verdict::done();
      },
      policy, log);
  return document;
}

}  // namespace leadsync::sync
