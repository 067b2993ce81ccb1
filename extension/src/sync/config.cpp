// Settings (environment variables for leadsync-fetch) to FetchConfig.
#include "sync/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace leadsync::sync {
namespace {

class Settings {
 public:
  Settings(const SettingLookup& lookup, std::vector<std::string>& missing, std::vector<std::string>& invalid)
      : lookup_(lookup), missing_(missing), invalid_(invalid) {}

  std::string optional(const char* name, const std::string& fallback = {}) const {
    std::string value = lookup_(name);
    return value.empty() ? fallback : value;
  }

  std::string required(const char* name) const {
    std::string value = lookup_(name);
    if (value.empty()) missing_.push_back(name);
    return value;
  }

  // A number within [low, high], else `fallback` and a complaint.
  double number(const char* name, double fallback, double low, double high) const {
    const std::string text = lookup_(name);
    if (text.empty()) return fallback;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || value < low || value > high) {
      invalid_.push_back(std::string(name) + "=" + text + " is not a number from " + trim_number(low) + " to " +
                         trim_number(high));
      return fallback;
    }
    return value;
  }

  std::string url(const char* name, const std::string& fallback) const {
    std::string url = optional(name, fallback);
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
      invalid_.push_back(std::string(name) + " must be an http:// or https:// URL");
    return url;
  }

  void complain(std::string problem) const { invalid_.push_back(std::move(problem)); }

 private:
  static std::string trim_number(double value) {
    std::string text = std::to_string(value);
    text.erase(text.find_last_not_of('0') + 1);
    if (!text.empty() && text.back() == '.') text.pop_back();
    return text;
  }

  const SettingLookup& lookup_;
  std::vector<std::string>& missing_;
  std::vector<std::string>& invalid_;
};

std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    const auto first = item.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    items.push_back(item.substr(first, item.find_last_not_of(" \t") - first + 1));
  }
  return items;
}

// "HOST:PORT", "[V6]:PORT"; false when it is not.
bool split_listen(const std::string& text, std::string& host, int& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  const std::string digits = text.substr(colon + 1);
  if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  port = std::stoi(digits);
  host = text.substr(0, colon);
  return port <= 65535;
}

// The prefix of a platform's own settings, and the setting that lists its accounts.
std::string platform_prefix(const std::string& command) {
  if (command == "meta") return "META_";
  if (command == "knowlarity") return "KNOWLARITY_";
  if (command == "google") return "GOOGLE_";
  return {};
}
std::string accounts_setting_name(const std::string& command) {
  if (command == "google") return "GOOGLE_ADS_ACCOUNTS";
  return platform_prefix(command) + "ACCOUNTS";
}
std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

void load_webhook_config(const Settings& settings, const SettingLookup& lookup, FetchConfig& config) {
  WebhookConfig& webhook = config.webhook;
  const WebhookConfig defaults;  // the one place each default is written
  const std::string listen = settings.optional("LEADSYNC_LISTEN", "127.0.0.1:8080");
  if (!split_listen(listen, webhook.listen_host, webhook.listen_port))
    settings.complain("LEADSYNC_LISTEN=" + listen + " is not HOST:PORT (such as 127.0.0.1:8080 or [::1]:8080)");
  webhook.max_body_bytes =
      static_cast<std::size_t>(settings.number("LEADSYNC_WEBHOOK_MAX_BODY_BYTES", defaults.max_body_bytes, 1024, 64 << 20));
  webhook.max_connections = static_cast<unsigned>(settings.number("LEADSYNC_WEBHOOK_MAX_CONNECTIONS", defaults.max_connections, 1, 10000));
  webhook.db_connections = static_cast<unsigned>(settings.number("LEADSYNC_WEBHOOK_DB_CONNECTIONS", defaults.db_connections, 1, 100));
  webhook.resolvers = static_cast<unsigned>(settings.number("LEADSYNC_WEBHOOK_RESOLVERS", defaults.resolvers, 1, 100));
  webhook.request_timeout_seconds = settings.number("LEADSYNC_WEBHOOK_REQUEST_TIMEOUT_SECONDS", defaults.request_timeout_seconds, 1, 3600);
  webhook.meta_app_secret = settings.optional("META_APP_SECRET");
  webhook.meta_verify_token = settings.optional("META_WEBHOOK_VERIFY_TOKEN");
  webhook.google_key = settings.optional("GOOGLE_ADS_WEBHOOK_KEY");
  // A lead notified by Meta is read from Graph with the Page token, as the pull path does.
  config.meta.graph_url = settings.url("META_GRAPH_URL", "https://graph.facebook.com/v25.0");
  config.meta.access_token = settings.optional("META_ACCESS_TOKEN");
  config.secrets = {webhook.meta_app_secret, webhook.meta_verify_token, webhook.google_key, config.meta.access_token};
  // Several pages: each notification is read with the token of the page it names.
  if (!settings.optional("META_ACCOUNTS").empty()) {
    std::vector<std::string> bad_names;
    for (const std::string& account : configured_accounts("meta", lookup, bad_names)) {
      const SettingLookup own = account_setting("meta", account, lookup);
      MetaAccount page{account, own("META_PAGE_ID"), own("META_ACCESS_TOKEN")};
      if (page.page_id.empty())
        settings.complain(account_setting_name("META_PAGE_ID", account) + " is not set (META_ACCOUNTS)");
      if (page.access_token.empty())
        settings.complain(account_setting_name("META_ACCESS_TOKEN", account) + " (or META_ACCESS_TOKEN) is not set");
      for (const MetaAccount& other : webhook.meta_accounts)
        if (!page.page_id.empty() && other.page_id == page.page_id)
          settings.complain("META_ACCOUNTS: " + other.name + " and " + account + " have the same page " + page.page_id);
      config.secrets.push_back(page.access_token);
      webhook.meta_accounts.push_back(std::move(page));
    }
    for (std::string& problem : bad_names) settings.complain(std::move(problem));
  }
  if (!webhook.meta_app_secret.empty() && config.meta.access_token.empty() && webhook.meta_accounts.empty())
    settings.complain("META_APP_SECRET is set but META_ACCESS_TOKEN is not: notified leads could not be read");
  // Custom sources pushed with Authorization: Bearer, each with a secret of its own.
  for (const std::string& source_type : comma_list(settings.optional("LEADSYNC_WEBHOOK_SOURCES"))) {
    const std::string name = "LEADSYNC_WEBHOOK_SECRET_" + upper(source_type);
    const std::string secret = settings.required(name.c_str());
    if (source_type == "meta_form" || source_type == "google_ads")
      settings.complain("LEADSYNC_WEBHOOK_SOURCES: " + source_type + " has its own route (/webhooks/" +
                        (source_type == "meta_form" ? "meta" : "google") + ")");
    else if (!secret.empty() && secret.size() < 16)
      settings.complain(name + " must be at least 16 characters");
    webhook.source_secrets[source_type] = secret;
    config.secrets.push_back(secret);
  }
  if (webhook.meta_app_secret.empty() && webhook.google_key.empty() && webhook.source_secrets.empty())
    settings.complain("no webhook is configured: set META_APP_SECRET, GOOGLE_ADS_WEBHOOK_KEY or "
                      "LEADSYNC_WEBHOOK_SOURCES");
}

}  // namespace

std::string environment_setting(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

FetchConfig load_config(const std::string& command, bool have_form_ids, const SettingLookup& lookup,
                        std::vector<std::string>& missing, std::vector<std::string>& invalid) {
  const Settings settings(lookup, missing, invalid);
  FetchConfig config;
  config.database_url = settings.optional("DATABASE_URL");
  config.schema = settings.optional("LEADSYNC_SCHEMA", "public");
  config.overlap_seconds = static_cast<long>(settings.number("LEADSYNC_OVERLAP_MINUTES", 10, 0, 7 * 24 * 60) * 60);
  config.first_lookback_seconds =
      static_cast<long>(settings.number("LEADSYNC_FIRST_LOOKBACK_HOURS", 24, 1, 24 * 90) * 3600);
  config.retry.max_attempts = static_cast<int>(settings.number("LEADSYNC_RETRY_ATTEMPTS", 6, 1, 100));
  config.retry.base_delay_seconds = settings.number("LEADSYNC_RETRY_BASE_SECONDS", 1, 0, 600);
  config.retry.max_delay_seconds = settings.number("LEADSYNC_RETRY_MAX_DELAY_SECONDS", 60, 0, 3600);
  config.retry.max_total_seconds = settings.number("LEADSYNC_RETRY_BUDGET_SECONDS", 300, 0, 24 * 3600);
  config.http.connect_timeout_ms =
      static_cast<long>(settings.number("LEADSYNC_CONNECT_TIMEOUT_SECONDS", 10, 0.1, 600) * 1000);
  config.http.total_timeout_ms = static_cast<long>(settings.number("LEADSYNC_HTTP_TIMEOUT_SECONDS", 60, 0.1, 3600) * 1000);

  if (command == "meta") {
    MetaConfig& meta = config.meta;
    meta.graph_url = settings.url("META_GRAPH_URL", "https://graph.facebook.com/v25.0");
    meta.access_token = settings.required("META_ACCESS_TOKEN");
    meta.form_ids = comma_list(settings.optional("META_FORM_IDS"));
    const bool forms_given = have_form_ids || !meta.form_ids.empty();
    meta.page_id = forms_given ? settings.optional("META_PAGE_ID") : settings.required("META_PAGE_ID");
    config.secrets = {meta.access_token};
  } else if (command == "knowlarity") {
    KnowlarityConfig& knowlarity = config.knowlarity;
    knowlarity.base_url = settings.url("KNOWLARITY_BASE_URL", "https://kpi.knowlarity.com");
    knowlarity.channel = settings.optional("KNOWLARITY_CHANNEL", "Basic");
    knowlarity.api_key = settings.required("KNOWLARITY_API_KEY");
    knowlarity.auth_token = settings.required("KNOWLARITY_AUTH_TOKEN");
    knowlarity.allowed_numbers = comma_list(settings.optional("KNOWLARITY_ALLOWED_NUMBERS"));
    config.secrets = {knowlarity.api_key, knowlarity.auth_token};
  } else if (command == "google") {
    GoogleAdsConfig& google = config.google;
    google.api_url = settings.url("GOOGLE_ADS_API_URL", "https://googleads.googleapis.com/v21");
    google.token_url = settings.url("GOOGLE_OAUTH_TOKEN_URL", "https://oauth2.googleapis.com/token");
    google.customer_id = settings.required("GOOGLE_ADS_CUSTOMER_ID");
    google.login_customer_id = settings.optional("GOOGLE_ADS_LOGIN_CUSTOMER_ID");
    google.client_id = settings.required("GOOGLE_OAUTH_CLIENT_ID");
    google.client_secret = settings.required("GOOGLE_OAUTH_CLIENT_SECRET");
    google.refresh_token = settings.required("GOOGLE_OAUTH_REFRESH_TOKEN");
    config.secrets = {google.client_secret, google.refresh_token};
  } else if (command == "serve") {
    load_webhook_config(settings, lookup, config);
  }
  return config;
}

bool is_account_name(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

std::vector<std::string> configured_accounts(const std::string& command, const SettingLookup& setting,
                                             std::vector<std::string>& invalid) {
  const std::string name = accounts_setting_name(command);
  std::vector<std::string> accounts = comma_list(setting(name.c_str()));
  for (const std::string& account : accounts)
    if (!is_account_name(account))
      invalid.push_back(name + ": \"" + account + "\" is not an account name (1 to 63 of a-z, 0-9 and _)");
  for (std::size_t i = 0; i < accounts.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (accounts[i] == accounts[j]) invalid.push_back(name + ": \"" + accounts[i] + "\" is listed twice");
  if (accounts.empty()) accounts.emplace_back(kDefaultAccount);
  return accounts;
}

std::string account_setting_name(const std::string& name, const std::string& account) {
  return name + "_" + upper(account);
}

SettingLookup account_setting(const std::string& command, const std::string& account, SettingLookup setting) {
  const std::string prefix = platform_prefix(command);
  return [prefix, account, setting = std::move(setting)](const char* name) {
    const std::string key(name);
    if (!prefix.empty() && key.rfind(prefix, 0) == 0) {
      std::string own = setting(account_setting_name(key, account).c_str());
      if (!own.empty()) return own;
    }
    return setting(name);
  };
}

std::string account_identity(const std::string& command, const FetchConfig& config) {
  auto joined = [](std::vector<std::string> items) {
    std::sort(items.begin(), items.end());
    std::string text;
    for (const std::string& item : items) text += (text.empty() ? "" : ",") + item;
    return text;
  };
  if (command == "meta") return "page " + config.meta.page_id + " forms " + joined(config.meta.form_ids);
  if (command == "google") return "customer " + config.google.customer_id;
  if (command == "knowlarity")
    return "numbers " + (config.knowlarity.allowed_numbers.empty() ? std::string("(all)")
                                                                   : joined(config.knowlarity.allowed_numbers));
  return {};
}

std::vector<std::string> setting_names(const std::string& command) {
  // Whatever load_config asks for is, by definition, a setting of that command.
  std::vector<std::string> names, missing, invalid;
  load_config(command, false, [&names](const char* name) {
    names.emplace_back(name);
    return std::string();
  }, missing, invalid);
  return names;
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  auto replace_all = [&text](const std::string& secret) {
    if (secret.size() < 4) return;  // too short to tell from ordinary text
    for (std::size_t at; (at = text.find(secret)) != std::string::npos;) text.replace(at, secret.size(), "[REDACTED]");
  };
  for (const std::string& secret : secrets) {
    replace_all(secret);
    std::string encoded;  // as it would appear in a query string
    for (unsigned char c : secret) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        encoded += static_cast<char>(c);
      } else {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%%%02X", c);
        encoded += hex;
      }
    }
    replace_all(encoded);
  }
  return text;
}

}  // namespace leadsync::sync
