#include "webhook_routes.hpp"

#include "database.hpp"
#include "webhook_rules.hpp"

namespace leadsync::serve {
namespace {

constexpr const char* kPrefix = "/webhooks/";
constexpr std::size_t kMaxPayloadsPerPush = 1000;

Response json_answer(int status, const nlohmann::json& body) { return {status, body.dump() + "\n", "application/json"}; }

nlohmann::json counts_json(const sync::IngestCounts& counts) {
  return {{"insertedNew", counts.inserted_new},
          {"duplicateSameSource", counts.duplicate_same_source},
          {"crossSourceHistory", counts.cross_source_history},
          {"rejected", counts.rejected}};
}

// Meta echoes hub.challenge back; only a short token of word characters is echoed, so
// the answer can carry nothing a client did not expect.
bool is_plain_token(const std::string& text) {
  if (text.empty() || text.size() > 128) return false;
  for (char c : text)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

}  // namespace

WebhookRoutes::WebhookRoutes(const sync::WebhookConfig& config, LeadStore& store, Metrics& metrics,
                             std::function<void()> notified, sync::ProgressLog log)
    : config_(config), store_(store), metrics_(metrics), notified_(std::move(notified)), log_(std::move(log)) {}

std::string WebhookRoutes::route_of(const Request& request) {
  if (request.path == "/healthz" || request.path == "/metrics" || request.path == "/webhooks/meta" ||
      request.path == "/webhooks/google")
    return request.path;
  if (request.path.rfind(kPrefix, 0) == 0) return "/webhooks/{source_type}";
  return "other";
}

Response WebhookRoutes::refuse(int status, const std::string& message, const Request& request) {
  log_(request.method + " " + route_of(request) + ": " + std::to_string(status) + " " + message);
  return json_answer(status, {{"error", message}});
}

Response WebhookRoutes::handle(const Request& request) {
  const std::string& path = request.path;
  const bool get = request.method == "GET", post = request.method == "POST";
  if (path == "/healthz" || path == "/metrics") {
    if (!get) return refuse(405, "use GET", request);
    return path == "/healthz" ? health() : metrics();
  }
  if (path == "/webhooks/meta") {
    if (config_.meta_app_secret.empty()) return refuse(404, "no webhook for this source type", request);
    if (get) return meta_handshake(request);
    if (post) return meta_notification(request);
    return refuse(405, "use GET or POST", request);
  }
  if (path.rfind(kPrefix, 0) == 0) {
    const std::string source_type = path.substr(std::char_traits<char>::length(kPrefix));
    if (source_type != "google" && !config_.source_secrets.count(source_type))
      return refuse(404, "no webhook for this source type", request);
    if (!post) return refuse(405, "use POST", request);
    return source_type == "google" ? google_lead(request) : custom_push(request, source_type);
  }
  return refuse(404, "no such route", request);
}

std::optional<Response> WebhookRoutes::read_json(const Request& request, nlohmann::json& body) {
  if (!is_json_content_type(request.header("content-type")))
    return refuse(415, "Content-Type must be application/json", request);
  std::string error;
  body = parse_json_body(request.body, error);
  if (!error.empty()) return refuse(400, error, request);
  return std::nullopt;
}

Response WebhookRoutes::meta_handshake(const Request& request) {
  const auto value = [&](const char* name) {
    auto found = request.query.find(name);
    return found == request.query.end() ? std::string() : found->second;
  };
  if (value("hub.mode") != "subscribe" || !secrets_equal(config_.meta_verify_token, value("hub.verify_token")))
    return refuse(403, "verify token mismatch", request);
  const std::string challenge = value("hub.challenge");
  if (!is_plain_token(challenge)) return refuse(400, "hub.challenge must be a short token", request);
  return {200, challenge, "text/plain; charset=utf-8"};
}

Response WebhookRoutes::meta_notification(const Request& request) {
  if (!meta_signature_valid(config_.meta_app_secret, request.body, request.header("x-hub-signature-256")))
    return refuse(403, "X-Hub-Signature-256 missing or wrong", request);
  nlohmann::json body;
  if (auto refusal = read_json(request, body)) return *refusal;
  std::string error;
  const std::vector<MetaLeadgen> leads = meta_leadgen_changes(body, error);
  if (!error.empty()) return refuse(400, error, request);
  if (leads.empty()) return json_answer(200, {{"notified", 0}, {"new", 0}});
  nlohmann::json notifications = nlohmann::json::array();
  for (const MetaLeadgen& lead : leads)
    notifications.push_back({{"external_id", lead.leadgen_id}, {"notification", lead.notification}});
  try {
    const int added = store_.enqueue("meta_form", notifications.dump());
    if (added > 0) notified_();
    return json_answer(200, {{"notified", leads.size()}, {"new", added}});
  } catch (const StoreUnavailable& unavailable) {
    metrics_.database_error();
    return refuse(503, unavailable.what(), request);
  } catch (const sync::SyncError& failed) {
    metrics_.database_error();
    log_(std::string("POST /webhooks/meta: ") + failed.what());
    return refuse(failed.retryable() ? 503 : 500, "the notification could not be stored", request);
  }
}

Response WebhookRoutes::google_lead(const Request& request) {
  if (config_.google_key.empty()) return refuse(404, "no webhook for this source type", request);
  nlohmann::json lead;
  if (auto refusal = read_json(request, lead)) return *refusal;
  if (!lead.is_object()) return refuse(400, "the body must be a JSON object (one lead)", request);
  const auto key = lead.find("google_key");
  if (key == lead.end() || !key->is_string() || !secrets_equal(config_.google_key, key->get<std::string>()))
    return refuse(403, "google_key missing or wrong", request);
  lead.erase("google_key");  // a secret: never stored in raw_payload
  return ingest("google_ads", nlohmann::json::array({lead}).dump());
}

Response WebhookRoutes::custom_push(const Request& request, const std::string& source_type) {
  const std::string authorization = request.header("authorization");
  if (authorization.rfind("Bearer ", 0) != 0) return refuse(401, "Authorization: Bearer <secret> required", request);
  if (!secrets_equal(config_.source_secrets.at(source_type), authorization.substr(7)))
    return refuse(403, "wrong bearer secret", request);
  nlohmann::json body;
  if (auto refusal = read_json(request, body)) return *refusal;
  std::string error;
  const nlohmann::json payloads = custom_payloads(body, kMaxPayloadsPerPush, error);
  if (!error.empty()) return refuse(400, error, request);
  return ingest(source_type, payloads.dump());
}

Response WebhookRoutes::ingest(const std::string& source_type, const std::string& payloads_json) {
  const Request as_logged{"POST", std::string(kPrefix) + (source_type == "google_ads" ? "google" : source_type), {},
                          {}, {}};
  try {
    const sync::IngestCounts counts = store_.ingest(source_type, payloads_json);
    metrics_.outcomes(source_type, counts);
    return json_answer(200, counts_json(counts));
  } catch (const StoreUnavailable& unavailable) {
    metrics_.database_error();
    return refuse(503, unavailable.what(), as_logged);
  } catch (const sync::DatabaseError& refused) {
    metrics_.database_error();
    if (refused.sqlstate() == "42704") return refuse(404, "source type not registered (ensure_source)", as_logged);
    log_(std::string("POST ") + route_of(as_logged) + ": " + refused.what());
    return refuse(500, "the payload could not be stored", as_logged);
  } catch (const sync::SyncError& failed) {  // gave up on the connection
    metrics_.database_error();
    log_(std::string("POST ") + route_of(as_logged) + ": " + failed.what());
    return refuse(503, "the database is unavailable", as_logged);
  }
}

Response WebhookRoutes::health() {
  try {
    store_.ping();
    return {200, "ok\n", "text/plain; charset=utf-8"};
  } catch (const std::exception&) {
    metrics_.database_error();
    return {503, "database unavailable\n", "text/plain; charset=utf-8"};
  }
}

Response WebhookRoutes::metrics() {
  std::int64_t pending = -1;
  try {
    pending = store_.pending();
  } catch (const std::exception&) {
    metrics_.database_error();
  }
  return {200, metrics_.render(pending), "text/plain; version=0.0.4; charset=utf-8"};
}

}  // namespace leadsync::serve
