// The HTTP side of leadsync-fetch serve: libmicrohttpd, one thread per connection,
// bounded connections, bodies and time. It knows no route; a Handler answers each
// complete request.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>

struct MHD_Daemon;
struct MHD_Connection;

namespace leadsync::serve {

struct Request {
  std::string method, path;
  std::map<std::string, std::string> query;   // decoded
  std::map<std::string, std::string> headers; // names in lower case
  std::string body;
  std::string header(const std::string& lower_case_name) const {
    auto found = headers.find(lower_case_name);
    return found == headers.end() ? std::string() : found->second;
  }
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

using Handler = std::function<Response(const Request&)>;
// Called once per answered request, with what it took (for the metrics and the log).
using Observer = std::function<void(const Request&, const Response&, double seconds)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (see HttpServer::port)
  std::size_t max_body_bytes = 1 << 20;  // a larger body is answered 413 unread
  unsigned max_connections = 128;
  unsigned idle_timeout_seconds = 10;    // a connection silent this long is closed
  double request_timeout_seconds = 30;   // a body still arriving after this is cut off
};

class HttpServer {
 public:
  // Listens at once; throws std::runtime_error when it cannot.
  HttpServer(const ServerOptions& options, Handler handler, Observer observer);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Stops accepting connections; those open are served on.
  void stop_accepting();
  // Waits until no request is being read, handled or answered, at most `seconds`; false
  // when some still are.
  bool wait_idle(double seconds) const;

  struct Exchange;  // one request being read or answered (http_server.cpp)

 private:
  // Tells the observer, then queues `response` (an MHD_Result).
  int answer(MHD_Connection* connection, const Exchange& exchange, const Response& response);

  ServerOptions options_;
  Handler handler_;
  Observer observer_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  std::atomic<int> in_flight_{0};

  friend struct Callbacks;
};

}  // namespace leadsync::serve
