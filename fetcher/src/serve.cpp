#include "serve.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "database.hpp"
#include "http_server.hpp"
#include "metrics.hpp"
#include "sync/page_fetch.hpp"
#include "sync/platforms.hpp"
#include "sync/time_format.hpp"
#include "webhook_routes.hpp"

namespace leadsync::serve {
namespace {

using namespace std::chrono_literals;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// A webhook waits for the database this long at most, then is answered 503: the
// platform redelivers, and a client is never kept waiting on a dead server.
sync::RetryPolicy request_retry_policy() {
  sync::RetryPolicy policy;
  policy.max_attempts = 2;
  policy.base_delay_seconds = 0.05;
  policy.max_delay_seconds = 0.2;
  policy.max_total_seconds = 1;
  return policy;
}

// The sessions that answer webhooks: at most `size` at once; a request that finds all busy
// for kWait is answered 503.
class DatabasePool : public LeadStore {
 public:
  DatabasePool(const sync::FetchConfig& config, unsigned size, sync::ProgressLog log) {
    for (unsigned i = 0; i < size; ++i)
      idle_.push_back(std::make_unique<sync::Database>(config.database_url, config.schema, request_retry_policy(), log));
  }

  sync::IngestCounts ingest(const std::string& source_type, const std::string& payloads_json) override {
    return with_session([&](sync::Database& db) { return db.ingest_now(source_type, payloads_json); });
  }
  int enqueue(const std::string& source_type, const std::string& notifications_json) override {
    return with_session([&](sync::Database& db) { return db.inbox_add(source_type, notifications_json); });
  }
  void ping() override {
    with_session([](sync::Database& db) {
      db.ping();
      return 0;
    });
  }
  std::int64_t pending() override {
    return with_session([](sync::Database& db) { return db.inbox_pending(); });
  }

 private:
  static constexpr auto kWait = 5s;

  template <class Work>
  std::invoke_result_t<Work, sync::Database&> with_session(Work work) {
    std::unique_ptr<sync::Database> session;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!available_.wait_for(lock, kWait, [this] { return !idle_.empty(); }))
        throw StoreUnavailable("every database session is busy");
      session = std::move(idle_.back());
      idle_.pop_back();
    }
    struct Return {  // the session goes back to the pool however the work ends
      DatabasePool& pool;
      std::unique_ptr<sync::Database>& session;
      ~Return() {
        std::lock_guard<std::mutex> lock(pool.mutex_);
        pool.idle_.push_back(std::move(session));
        pool.available_.notify_one();
      }
    } give_back{*this, session};
    try {
      return work(*session);
    } catch (const sync::DatabaseError&) {
      throw;
    } catch (const sync::SyncError& lost) {  // the connection, after its retries
      throw StoreUnavailable(std::string("the database is unavailable: ") + lost.what());
    }
  }

  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<sync::Database>> idle_;
};

// Resolves Meta notifications: claims one inbox row, reads its lead from Graph and
// ingests it, in a loop. Each resolver has its own database session and HTTP client.
class MetaResolvers {
 public:
  MetaResolvers(const sync::FetchConfig& config, Metrics& metrics, sync::ProgressLog log)
      : config_(config), metrics_(metrics), log_(std::move(log)) {
    graph_retry_ = config.retry;  // within one attempt of a row: short
    graph_retry_.max_attempts = std::min(graph_retry_.max_attempts, 3);
    graph_retry_.max_total_seconds = std::min(graph_retry_.max_total_seconds, 30.0);
    // The longest a resolve may take (every Graph attempt timing out, every wait, the
    // ingest): a row claimed by a resolver that died is claimable again after this. A
    // lease that runs out early costs a second Graph read, never a second lead.
    lease_seconds_ = graph_retry_.max_attempts * (config.http.total_timeout_ms / 1000.0) +
                     graph_retry_.max_total_seconds + 10;
    for (unsigned i = 0; i < config.webhook.resolvers; ++i) threads_.emplace_back([this] { run(); });
  }
  ~MetaResolvers() { stop(); }

  void wake() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++wakeups_;
    changed_.notify_all();
  }

  // Lets each resolver finish the row it holds, then joins them.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      changed_.notify_all();
    }
    for (std::thread& thread : threads_)
      if (thread.joinable()) thread.join();
  }

 private:
  void run() {
    sync::Database db(config_.database_url, config_.schema, request_retry_policy(), log_);
    sync::HttpClient http(config_.http);
    while (!stopping()) {
      std::vector<sync::InboxItem> items;
      std::uint64_t seen = wakeups();
      try {
        items = db.inbox_claim("meta_form", 1, lease_seconds_);
      } catch (const std::exception& error) {
        metrics_.database_error();
        log_(std::string("meta_form: resolver: ") + error.what());
        sleep_until_woken(seen, 1s);
        continue;
      }
      if (items.empty()) {
        sleep_until_woken(seen, 1s);  // a new notification wakes it at once
        continue;
      }
      resolve(items.front(), db, http);
    }
  }

  // The account whose page the notification names (META_ACCOUNTS), read with its token;
  // a page no account names is read with META_ACCESS_TOKEN, as the default account.
  std::pair<std::string, sync::MetaConfig> account_of(const sync::InboxItem& item) const {
    sync::MetaConfig meta = config_.meta;
    const auto notification = nlohmann::json::parse(item.notification, nullptr, false);
    // Meta sends ids as strings, in some samples as numbers.
    const auto page = notification.is_object() ? notification.find("page_id") : notification.end();
    const std::string page_id = page == notification.end()  ? std::string()
                                : page->is_number_unsigned() ? std::to_string(page->get<std::uint64_t>())
                                                             : sync::string_member(notification, "page_id");
    for (const sync::MetaAccount& account : config_.webhook.meta_accounts) {
      if (account.page_id != page_id) continue;
      meta.page_id = account.page_id;
      meta.access_token = account.access_token;
      return {account.name, meta};
    }
    if (meta.access_token.empty())
      throw sync::SyncError("no account of META_ACCOUNTS has page " + page_id + ", and META_ACCESS_TOKEN is not set",
                            false);
    return {sync::kDefaultAccount, meta};
  }

  void resolve(const sync::InboxItem& item, sync::Database& db, sync::HttpClient& http) {
    const std::int64_t started_at = sync::unix_now();
    std::string account = sync::kDefaultAccount;
    try {
      const auto [name, meta] = account_of(item);
      account = name;
      const std::string lead = sync::fetch_meta_lead(meta, item.external_id, http, graph_retry_, log_);
      if (auto counts = db.inbox_resolve(item.id, lead, account, started_at)) metrics_.outcomes("meta_form", *counts);
    } catch (const std::exception& error) {
      const std::string message = sync::redact(error.what(), config_.secrets);
      // Waits double with each attempt of the row: 1, 2, 4 ... times the base, at most an hour.
      const double retry_in =
          std::min(3600.0, config_.retry.base_delay_seconds * std::pow(2.0, std::min(item.attempts - 1, 20)));
      log_("meta_form: lead " + item.external_id + ": " + message + "; kept in the inbox, next try in " +
           std::to_string(std::lround(retry_in)) + " s");
      try {
        db.inbox_fail(item.id, message, retry_in, account, started_at);
      } catch (const std::exception&) {  // the lease runs out instead; the row stays pending
        metrics_.database_error();
      }
    }
  }

  bool stopping() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopping_;
  }
  std::uint64_t wakeups() {
    std::lock_guard<std::mutex> lock(mutex_);
    return wakeups_;
  }
  void sleep_until_woken(std::uint64_t seen, std::chrono::milliseconds at_most) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, at_most, [&] { return stopping_ || wakeups_ != seen; });
  }

  const sync::FetchConfig& config_;
  sync::RetryPolicy graph_retry_;
  double lease_seconds_ = 0;
  Metrics& metrics_;
  sync::ProgressLog log_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::uint64_t wakeups_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace

int serve(const sync::FetchConfig& config, const sync::ProgressLog& say) {
  if (geteuid() == 0) {
    say("refusing to run as root: run it as a user of its own (see the README's systemd unit)");
    return kExitUsage;
  }
  // Signals are taken by sigwait below, never by a worker thread; a client gone mid-answer
  // is not a reason to die.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const sync::WebhookConfig& webhook = config.webhook;
  Metrics metrics;
  DatabasePool pool(config, webhook.db_connections, say);
  std::unique_ptr<MetaResolvers> resolvers;
  if (!webhook.meta_app_secret.empty()) resolvers = std::make_unique<MetaResolvers>(config, metrics, say);
  WebhookRoutes routes(webhook, pool, metrics, [&resolvers] { if (resolvers) resolvers->wake(); }, say);

  ServerOptions options;
  options.host = webhook.listen_host;
  options.port = webhook.listen_port;
  options.max_body_bytes = webhook.max_body_bytes;
  options.max_connections = webhook.max_connections;
  options.request_timeout_seconds = webhook.request_timeout_seconds;
  options.idle_timeout_seconds = static_cast<unsigned>(std::ceil(std::min(webhook.request_timeout_seconds, 10.0)));
  std::unique_ptr<HttpServer> server;
  try {
    server = std::make_unique<HttpServer>(
        options, [&routes](const Request& request) { return routes.handle(request); },
        [&metrics](const Request& request, const Response& response, double seconds) {
          metrics.request(WebhookRoutes::route_of(request), response.status, seconds);
        });
  } catch (const std::exception& error) {
    say(error.what());
    return kExitFailed;
  }
  say("listening on " + webhook.listen_host + ":" + std::to_string(server->port()) +
      (resolvers ? "; " + std::to_string(webhook.resolvers) + " Meta resolver(s)" : std::string()));

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  say(std::string("stopping (") + (signal_number == SIGTERM ? "SIGTERM" : "SIGINT") +
      "): no new connections; finishing the requests in flight");
  server->stop_accepting();
  const bool idle = server->wait_idle(webhook.request_timeout_seconds);
  if (resolvers) resolvers->stop();  // each finishes the row it holds
  server.reset();
  say(idle ? "stopped" : "stopped; some requests were still running and were cut off (their platforms redeliver)");
  return kExitOk;
}

}  // namespace leadsync::serve
