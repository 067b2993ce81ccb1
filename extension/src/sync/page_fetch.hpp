// Fetching one JSON page with retries: a body that is not the JSON object the platform
// promised (HTML error page, truncated or malformed JSON) is retried like a 5xx, then
// reported naming the source and page.
#pragma once

#include <nlohmann/json.hpp>

#include "sync/retry.hpp"

namespace leadsync::sync {

// Platform JSON is untrusted: a field may have any type. These read one member of an
// object, or give the fallback, and never throw.
inline std::string string_member(const nlohmann::json& object, const char* key, const std::string& fallback = {}) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

inline long integer_member(const nlohmann::json& object, const char* key, long fallback = 0) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<long>() : fallback;
}

// Pages nest a few levels; anything deeper is not a page, and would make the recursive
// dump() of the records overflow the stack (found by fuzzing).
constexpr int kMaxJsonDepth = 64;

// `classify_error` judges a non-2xx response; a 2xx one must parse as a JSON object.
inline nlohmann::json fetch_json_page(HttpClient& http, const HttpRequest& request, const Classifier& classify_error,
                                      const RetryPolicy& policy, const ProgressLog& log) {
  nlohmann::json document;
  perform_with_retries(
      http, request,
      [&](const HttpResponse& response) -> Verdict {
        if (response.status < 200 || response.status >= 300) {
          try {
            Verdict verdict = classify_error(response);
            if (verdict.kind != Verdict::Done) return verdict;
          } catch (const nlohmann::json::exception&) {  // a shape no classifier expected
            return classify_http_status(response);
          }
        }
        bool too_deep = false;
        document = nlohmann::json::parse(
            response.body,
            [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
              if (depth > kMaxJsonDepth) too_deep = true;
              return !too_deep;
            },
            /*allow_exceptions=*/false);
        if (too_deep) return Verdict::retry("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
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
