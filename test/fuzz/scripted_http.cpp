// HttpClient answered from a fuzz script: see scripted_http.hpp.
#include "scripted_http.hpp"

#include <curl/curl.h>

#include <cstdlib>
#include <memory>

#include "fuzz_common.hpp"

namespace leadsync::fuzz {
namespace {

Script* current = nullptr;

constexpr std::string_view kSeparator = "\n=====\n";

sync::HttpResponse parse_record(std::string_view record) {
  sync::HttpResponse response;
  response.status = 200;
  response.headers["content-type"] = "application/json; charset=UTF-8";
  if (!record.empty() && record.front() == '@') {
    const std::size_t end = record.find('\n');
    std::string_view line = record.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1);
    record = end == std::string_view::npos ? std::string_view() : record.substr(end + 1);
    long status = 0;
    std::size_t i = 0;
    for (; i < line.size() && i < 3 && line[i] >= '0' && line[i] <= '9'; ++i) status = status * 10 + (line[i] - '0');
    response.status = status;
    line.remove_prefix(i);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (const std::size_t colon = line.find(':'); colon != std::string_view::npos && colon > 0) {
      std::string name(line.substr(0, colon));
      for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      response.headers[name] = std::string(value);
    }
  }
  response.body = std::string(record);
  return response;
}

// The host libcurl would connect to for `url`, or empty when it would refuse the URL.
std::string host_of(const std::string& url, std::string& scheme, std::string& port) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> handle(curl_url(), curl_url_cleanup);
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return {};
  auto part = [&](CURLUPart which) {
    char* text = nullptr;
    if (curl_url_get(handle.get(), which, &text, 0) != CURLUE_OK || text == nullptr) return std::string();
    std::string value(text);
    curl_free(text);
    return value;
  };
  scheme = part(CURLUPART_SCHEME);
  port = part(CURLUPART_PORT);
  return part(CURLUPART_HOST);
}

}  // namespace

Script parse_script(std::string_view input) {
  Script script;
  script.input = input;
  if (!input.empty() && input.front() == '#') {
    const std::size_t end = input.find('\n');
    script.flags = std::string(input.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
  }
  while (true) {
    const std::size_t at = input.find(kSeparator);
    script.responses.push_back(parse_record(input.substr(0, at)));
    if (at == std::string_view::npos) break;
    input.remove_prefix(at + kSeparator.size());
  }
  return script;
}

void set_current_script(Script* script) { current = script; }

}  // namespace leadsync::fuzz

namespace leadsync::sync {

struct HttpClient::Handle {};

HttpClient::HttpClient(HttpOptions options) : handle_(new Handle), options_(std::move(options)) {}
HttpClient::~HttpClient() = default;

std::string HttpClient::escape(const std::string& value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

#ifdef LEADSYNC_FUZZ_HTTP_HAS_WAIT
void HttpClient::wait(double) {}  // the harness's retry policy never waits: nothing to do
#endif

HttpResponse HttpClient::perform(const HttpRequest& request) {
  using leadsync::fuzz::current;
  FUZZ_CHECK(current != nullptr, "a script is set");
  ++current->requests;

  std::string scheme, port;
  const std::string host = leadsync::fuzz::host_of(request.url, scheme, port);
  if (host.empty()) throw TransportError(request.description + ": libcurl would refuse this URL");
  bool allowed = false;
  for (const std::string& name : current->allowed_hosts) allowed = allowed || host == name;
  FUZZ_CHECK(allowed && scheme == "https" && port.empty(), "a request goes only to the configured https host");
  for (const std::string& secret : current->secrets)
    if (current->input.find(secret) == std::string_view::npos)
      FUZZ_CHECK(request.description.find(secret) == std::string::npos, "a request's description holds no secret");

  if (current->next >= current->responses.size()) throw TransportError(request.description + ": connection refused");
  return current->responses[current->next++];
}

}  // namespace leadsync::sync
