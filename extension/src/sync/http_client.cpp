// libcurl behind RAII: the easy handle and every header list are freed on all paths.
#include "sync/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>
#include <thread>

#include "sync/sync_types.hpp"

namespace leadsync::sync {
namespace {

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void add(const std::string& header) {
    curl_slist* grown = curl_slist_append(list, header.c_str());
    if (grown == nullptr) throw std::bad_alloc();
    list = grown;
  }
};

struct Transfer {
  HttpResponse* response;
  std::size_t max_body_bytes;
  const std::function<bool()>* interrupted;
  bool too_large = false;
  bool was_interrupted = false;
};

// Called by libcurl at least once a second, also while connecting or waiting.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  if (*transfer->interrupted && (*transfer->interrupted)()) {
    transfer->was_interrupted = true;
    return 1;  // aborts the transfer
  }
  return 0;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (transfer->response->body.size() + bytes > transfer->max_body_bytes) {
    transfer->too_large = true;
    return 0;  // aborts the transfer
  }
  transfer->response->body.append(data, bytes);
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  std::string line(data, bytes);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    const auto last = value.find_last_not_of(" \t\r\n");
    transfer->response->headers[name] = first == std::string::npos ? "" : value.substr(first, last - first + 1);
  }
  return bytes;
}

void check(CURLcode code) {
  if (code != CURLE_OK) throw std::runtime_error(std::string("libcurl setup failed: ") + curl_easy_strerror(code));
}

}  // namespace

struct HttpClient::Handle {
  CURL* curl = nullptr;
  ~Handle() { curl_easy_cleanup(curl); }
};

HttpClient::HttpClient(HttpOptions options) : handle_(new Handle), options_(options) {
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  handle_->curl = curl_easy_init();
  if (handle_->curl == nullptr) throw std::runtime_error("libcurl: cannot create a handle");
}

HttpClient::~HttpClient() = default;

std::string HttpClient::escape(const std::string& value) {
  char* escaped = curl_easy_escape(handle_->curl, value.data(), static_cast<int>(value.size()));
  if (escaped == nullptr) throw std::bad_alloc();
  std::string result(escaped);
  curl_free(escaped);
  return result;
}

HttpResponse HttpClient::perform(const HttpRequest& request) {
  CURL* curl = handle_->curl;
  curl_easy_reset(curl);
  HttpResponse response;
  Transfer transfer{&response, options_.max_body_bytes, &options_.interrupted};
  HeaderList headers;
  for (const std::string& header : request.headers) headers.add(header);
  char error_text[CURL_ERROR_SIZE] = "";

  check(curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str()));
  check(curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https"));
  check(curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L));
  check(curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L));
  check(curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms));
  check(curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options_.total_timeout_ms));
  check(curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, ""));  // any encoding libcurl can decode
  check(curl_easy_setopt(curl, CURLOPT_USERAGENT, "leadsync-fetch"));
  check(curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list));
  check(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body));
  check(curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer));
  check(curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header));
  check(curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer));
  check(curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text));
  check(curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L));
  check(curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress));
  check(curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer));
  if (request.method == "POST") {
    check(curl_easy_setopt(curl, CURLOPT_POST, 1L));
    check(curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str()));
    check(curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size())));
  }

  const CURLcode result = curl_easy_perform(curl);
  if (transfer.was_interrupted) throw SyncInterrupted();
  if (transfer.too_large)
    throw TransportError(request.description + ": response larger than " +
                         std::to_string(options_.max_body_bytes) + " bytes");
  if (result != CURLE_OK) {
    // libcurl's messages name the host at most, never the query string or headers.
    std::string detail = error_text[0] ? error_text : curl_easy_strerror(result);
    throw TransportError(request.description + ": " + detail);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

void HttpClient::wait(double seconds) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (auto now = Clock::now(); now < end; now = Clock::now()) {
    if (options_.interrupted && options_.interrupted()) throw SyncInterrupted();
    std::this_thread::sleep_for(std::min<Clock::duration>(end - now, std::chrono::milliseconds(100)));
  }
  if (options_.interrupted && options_.interrupted()) throw SyncInterrupted();
}

}  // namespace leadsync::sync
