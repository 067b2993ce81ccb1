// libmicrohttpd calls the access handler several times per request: first with the
// headers, then with each piece of the body, last with none. Exchange keeps the request
// between those calls; it is freed when MHD reports the request completed.
#include "http_server.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <unistd.h>

namespace leadsync::serve {

using Clock = std::chrono::steady_clock;

struct HttpServer::Exchange {
  Request request;
  Clock::time_point started = Clock::now();
  bool too_large = false;
};

namespace {

enum MHD_Result collect(void* map, enum MHD_ValueKind, const char* key, const char* value) {
  if (key == nullptr) return MHD_YES;
  std::string name(key);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static_cast<std::map<std::string, std::string>*>(map)->emplace(std::move(name), value ? value : "");
  return MHD_YES;
}

enum MHD_Result collect_argument(void* map, enum MHD_ValueKind, const char* key, const char* value) {
  if (key != nullptr) static_cast<std::map<std::string, std::string>*>(map)->emplace(key, value ? value : "");
  return MHD_YES;
}

enum MHD_Result send(MHD_Connection* connection, const Response& response) {
  MHD_Response* reply =
      MHD_create_response_from_buffer(response.body.size(), const_cast<char*>(response.body.data()),
                                      MHD_RESPMEM_MUST_COPY);
  if (reply == nullptr) return MHD_NO;
  MHD_add_response_header(reply, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
  const enum MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(response.status), reply);
  MHD_destroy_response(reply);
  return queued;
}

Response error_response(int status, const std::string& message) {
  return {status, "{\"error\": \"" + message + "\"}\n", "application/json"};
}

}  // namespace

struct Callbacks {
  static enum MHD_Result access(void* self, MHD_Connection* connection, const char* url, const char* method,
                                const char*, const char* upload_data, size_t* upload_data_size, void** state) {
    auto& server = *static_cast<HttpServer*>(self);
    auto* exchange = static_cast<HttpServer::Exchange*>(*state);
    try {
      if (exchange == nullptr) {  // the headers
        exchange = new HttpServer::Exchange();
        *state = exchange;
        ++server.in_flight_;  // until completed(): its body may still be arriving
        Request& request = exchange->request;
        request.method = method;
        request.path = url;
        MHD_get_connection_values(connection, MHD_HEADER_KIND, collect, &request.headers);
        MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, collect_argument, &request.query);
        const std::string length = request.header("content-length");
        if (!length.empty() && (length.size() > 18 || std::stoull(length) > server.options_.max_body_bytes)) {
          exchange->too_large = true;  // answered now, the body never read
          return static_cast<enum MHD_Result>(server.answer(connection, *exchange, error_response(413, "body too large")));
        }
        return MHD_YES;
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - exchange->started).count();
      if (*upload_data_size > 0) {  // a piece of the body
        if (elapsed > server.options_.request_timeout_seconds) return MHD_NO;  // closes the connection
        if (exchange->request.body.size() + *upload_data_size > server.options_.max_body_bytes) {
          exchange->too_large = true;
          exchange->request.body.clear();
        }
        if (!exchange->too_large) exchange->request.body.append(upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
      }
      if (exchange->too_large) return static_cast<enum MHD_Result>(server.answer(connection, *exchange, error_response(413, "body too large")));
      Response response;
      try {
        response = server.handler_(exchange->request);
      } catch (const std::exception&) {
        response = error_response(500, "internal error");
      }
      return static_cast<enum MHD_Result>(server.answer(connection, *exchange, response));
    } catch (const std::exception&) {  // nothing may unwind into libmicrohttpd
      return MHD_NO;
    }
  }

  // After the answer is sent, or the connection is cut or timed out.
  static void completed(void* self, MHD_Connection*, void** state, enum MHD_RequestTerminationCode) {
    if (*state == nullptr) return;
    delete static_cast<HttpServer::Exchange*>(*state);
    *state = nullptr;
    --static_cast<HttpServer*>(self)->in_flight_;
  }
};

int HttpServer::answer(MHD_Connection* connection, const Exchange& exchange, const Response& response) {
  const double seconds = std::chrono::duration<double>(Clock::now() - exchange.started).count();
  try {
    observer_(exchange.request, response, seconds);
  } catch (const std::exception&) {  // the answer matters more than its metrics
  }
  return send(connection, response);
}

HttpServer::HttpServer(const ServerOptions& options, Handler handler, Observer observer)
    : options_(options), handler_(std::move(handler)), observer_(std::move(observer)) {
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  const sockaddr* address = nullptr;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
  std::string host = options.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(static_cast<uint16_t>(options.port));
    address = reinterpret_cast<const sockaddr*>(&v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(static_cast<uint16_t>(options.port));
    address = reinterpret_cast<const sockaddr*>(&v6);
    flags |= MHD_USE_IPv6;
  } else {
    throw std::runtime_error("LEADSYNC_LISTEN: \"" + options.host + "\" is not a numeric IPv4 or IPv6 address");
  }
  daemon_ = MHD_start_daemon(flags, static_cast<uint16_t>(options.port), nullptr, nullptr, &Callbacks::access, this,
                             MHD_OPTION_SOCK_ADDR, address,
                             MHD_OPTION_CONNECTION_LIMIT, options.max_connections,
                             MHD_OPTION_CONNECTION_TIMEOUT, options.idle_timeout_seconds,
                             MHD_OPTION_NOTIFY_COMPLETED, &Callbacks::completed, this,
                             MHD_OPTION_END);
  if (daemon_ == nullptr)
    throw std::runtime_error("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                             std::strerror(errno));
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info != nullptr ? info->port : options.port;
}

HttpServer::~HttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

void HttpServer::stop_accepting() {
  if (daemon_ == nullptr) return;
  const MHD_socket listener = MHD_quiesce_daemon(daemon_);
  if (listener != MHD_INVALID_SOCKET) close(listener);
}

bool HttpServer::wait_idle(double seconds) const {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (in_flight_.load() > 0) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace leadsync::serve
