// The routes of leadsync-fetch serve: who may push what, and what each answer means.
// A 2xx answer is given only after the data is committed (the leads, or for Meta the
// notification in the inbox); the database unreachable is a 503, so the platform
// redelivers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "http_server.hpp"
#include "metrics.hpp"
#include "sync/config.hpp"

namespace leadsync::serve {

// Where the routes commit. Throws StoreUnavailable when no database session answers;
// sync::DatabaseError when the server refused a statement.
class LeadStore {
 public:
  virtual ~LeadStore() = default;
  virtual sync::IngestCounts ingest(const std::string& source_type, const std::string& payloads_json) = 0;
  // Commits notifications [{"external_id", "notification"}]; returns how many were new.
  virtual int enqueue(const std::string& source_type, const std::string& notifications_json) = 0;
  virtual void ping() = 0;
  virtual std::int64_t pending() = 0;
};

class StoreUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class WebhookRoutes {
 public:
  // `notified` wakes the resolvers after a notification is committed; `log` takes one
  // line per refusal or failure (redacted before it is printed).
  WebhookRoutes(const sync::WebhookConfig& config, LeadStore& store, Metrics& metrics,
                std::function<void()> notified, sync::ProgressLog log);

  Response handle(const Request& request);
  // The route a request counts under in the metrics: a fixed name, never the raw path.
  static std::string route_of(const Request& request);

 private:
  Response meta_handshake(const Request& request);
  Response meta_notification(const Request& request);
  Response google_lead(const Request& request);
  Response custom_push(const Request& request, const std::string& source_type);
  Response health();
  Response metrics();
  // Ingests `payloads` (a JSON array) into `source_type`, answering with the counts.
  Response ingest(const std::string& source_type, const std::string& payloads_json);
  // The body as JSON, or the refusal to answer (415, 400).
  std::optional<Response> read_json(const Request& request, nlohmann::json& body);
  Response refuse(int status, const std::string& message, const Request& request);

  const sync::WebhookConfig& config_;
  LeadStore& store_;
  Metrics& metrics_;
  std::function<void()> notified_;
  sync::ProgressLog log_;
};

}  // namespace leadsync::serve
