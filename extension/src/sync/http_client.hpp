// A small libcurl client: one handle reused per run, explicit timeouts, http(s) only,
// no redirects (a redirect could carry a token to another host).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace leadsync::sync {

struct HttpOptions {
  long connect_timeout_ms = 10000;
  long total_timeout_ms = 60000;
  std::size_t max_body_bytes = 64 * 1024 * 1024;  // a page larger than this is an error
  // Asked several times a second during transfers and waits; true stops the sync with
  // SyncInterrupted. Inside PostgreSQL it reports a pending cancel or shutdown.
  std::function<bool()> interrupted;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;                   // may hold a secret: never printed
  std::vector<std::string> headers;  // may hold secrets: never printed
  std::string body;
  std::string description;           // what to call this request in messages, without secrets
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// The request never got a complete HTTP response (connect error, timeout, reset).
class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse perform(const HttpRequest& request);

  // Waits `seconds`, in short steps so an interruption is noticed within 100 ms.
  void wait(double seconds);

  // Percent-encodes a query parameter value.
  std::string escape(const std::string& value);

 private:
  struct Handle;
  std::unique_ptr<Handle> handle_;
  HttpOptions options_;
};

}  // namespace leadsync::sync
