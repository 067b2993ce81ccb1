// A sync's configuration by setting name. leadsync-fetch reads the names from the
// environment, so it runs unchanged in a CI job with secrets; every name is listed in
// config.cpp and in the README's table.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sync/http_client.hpp"
#include "sync/platforms.hpp"
#include "sync/retry.hpp"

namespace leadsync::sync {

// Accounts: several of one platform (Meta pages, Google Ads customers, Knowlarity number
// sets), each with its own saved window. META_ACCOUNTS, KNOWLARITY_ACCOUNTS or
// GOOGLE_ADS_ACCOUNTS name them (a,b,c); a platform setting NAME of account a is then
// read from NAME_A first, else NAME, so what the accounts share is set once. Without a
// list there is one account, "default", read from the plain names.
inline constexpr const char* kDefaultAccount = "default";

// 1 to 63 of a-z, 0-9 and _: the rule of the database's account_name domain.
bool is_account_name(const std::string& name);

// A Meta page of serve: its notifications are read with its token, under its account.
struct MetaAccount {
  std::string name;
  std::string page_id;
  std::string access_token;
};

// leadsync-fetch serve: the webhook receiver.
struct WebhookConfig {
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;
  std::size_t max_body_bytes = 1 << 20;
  unsigned max_connections = 128;
  unsigned db_connections = 4;     // concurrent database sessions answering webhooks
  unsigned resolvers = 8;          // Meta notifications resolved at once (Graph fetch, ingest)
  double request_timeout_seconds = 30;
  std::string meta_app_secret;     // X-Hub-Signature-256; empty: POST /webhooks/meta is off
  std::string meta_verify_token;   // the subscription handshake; empty: refused
  std::string google_key;          // google_key of Google Ads lead form webhooks; empty: off
  std::map<std::string, std::string> source_secrets;  // custom source_type -> bearer secret
  std::vector<MetaAccount> meta_accounts;  // META_ACCOUNTS; a page none names: META_ACCESS_TOKEN
};

struct FetchConfig {
  std::string database_url;  // DATABASE_URL; empty: libpq's PG* variables
  std::string schema = "public";
  long overlap_seconds = 600;
  long first_lookback_seconds = 24 * 3600;
  RetryPolicy retry;
  HttpOptions http;
  MetaConfig meta;
  KnowlarityConfig knowlarity;
  GoogleAdsConfig google;
  WebhookConfig webhook;
  std::vector<std::string> secrets;  // every token and key, to be masked in any output
};

// The value of a setting by name; empty when unset.
using SettingLookup = std::function<std::string(const char* name)>;

// The process environment as a SettingLookup.
std::string environment_setting(const char* name);

// Reads the settings `command` needs ("meta", "knowlarity", "google", "serve" or "status").
// `missing` gets the name of each required setting that is unset or empty;
// `invalid` a message for each one that is set but unusable.
FetchConfig load_config(const std::string& command, bool have_form_ids, const SettingLookup& setting,
                        std::vector<std::string>& missing, std::vector<std::string>& invalid);

// The accounts of `command` (meta, knowlarity, google): its *_ACCOUNTS list, else
// {kDefaultAccount}. A name that is not an account name goes to `invalid`.
std::vector<std::string> configured_accounts(const std::string& command, const SettingLookup& setting,
                                             std::vector<std::string>& invalid);

// The name account `account`'s own value of setting `name` is read from: NAME_<ACCOUNT>.
std::string account_setting_name(const std::string& name, const std::string& account);

// `setting` as account `account` of `command` reads it: each of the platform's own
// settings (META_*, KNOWLARITY_*, GOOGLE_*) from NAME_<ACCOUNT> when that is set, else NAME.
SettingLookup account_setting(const std::string& command, const std::string& account, SettingLookup setting);

// What an account of `command` reads from its platform: the page and forms, the Google
// Ads customer, the Knowlarity numbers. Two accounts with the same would fetch the same
// leads under two windows (a per-account setting left unset falls back to the shared one).
std::string account_identity(const std::string& command, const FetchConfig& config);

// The names of every setting load_config reads for `command`.
std::vector<std::string> setting_names(const std::string& command);

// `text` with every configured secret (and its URL-encoded form) replaced by [REDACTED].
std::string redact(std::string text, const std::vector<std::string>& secrets);

}  // namespace leadsync::sync
