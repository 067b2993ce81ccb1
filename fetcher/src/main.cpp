// leadsync-fetch: walks one platform's API pages for a time window and pushes each
// page's raw JSON into ingest_leads. The dedup and counting stay in the database.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "sync/config.hpp"
#include "sync/summary.hpp"
#include "database.hpp"
#include "sync/time_format.hpp"
#include "serve.hpp"

namespace {

using namespace leadsync::sync;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage = R"(usage:
  leadsync-fetch --version
  leadsync-fetch meta        [--account A] [--since T] [--until T] [--form-id ID]... [--dry-run]
  leadsync-fetch knowlarity  [--account A] [--since T] [--until T] [--dry-run]
  leadsync-fetch google      [--account A] [--since T] [--until T] [--dry-run]
  leadsync-fetch status      [--json]
  leadsync-fetch history     [--source S] [--account A] [--limit N] [--json]
  leadsync-fetch serve       [--listen HOST:PORT]

Fetches the leads of one platform for a window and ingests each page with
ingest_leads. Without --since the window starts where the account's last fully
successful run ended, minus LEADSYNC_OVERLAP_MINUTES (24 hours back on the first
run); without --until it ends now. T is a time such as 2026-11-25T10:00:00+05:30
(UTC when it has no offset). --dry-run fetches and counts without ingesting.
Without --account every account the environment names (META_ACCOUNTS,
KNOWLARITY_ACCOUNTS, GOOGLE_ADS_ACCOUNTS; else one, "default") is synced in turn,
one summary line each. status shows each source and account; history the last
runs (S: meta_form, knowlarity_call, google_ads or another source type).
serve receives the platforms' webhooks and stores each lead before it answers
(the README, section Real-time leads); it runs until SIGTERM.
Configuration comes from environment variables; see the README.
)";

struct Arguments {
  std::string command;
  std::optional<std::int64_t> since, until;
  std::vector<std::string> form_ids;
  bool dry_run = false;
  std::string account;  // --account: one account; empty: every configured one
  std::string listen;   // serve --listen
  bool json = false;    // status, history --json
  HistoryQuery history;
};

// A sink for --dry-run: counts pages, stores nothing.
class DiscardingSink : public PageSink {
 public:
  IngestCounts ingest_page(std::string_view, const std::string&) override { return {}; }
};

std::string source_type_of(const std::string& command) {
  if (command == "meta") return "meta_form";
  if (command == "knowlarity") return "knowlarity_call";
  return "google_ads";
}

// Parses argv; returns an error message, or empty when fine.
std::string parse_arguments(int argc, char** argv, Arguments& arguments) {
  if (argc < 2) return "a command is required";
  arguments.command = argv[1];
  const bool is_sync = arguments.command == "meta" || arguments.command == "knowlarity" || arguments.command == "google";
  const bool is_serve = arguments.command == "serve";
  const bool is_report = arguments.command == "status" || arguments.command == "history";
  if (!is_sync && !is_serve && !is_report) return "unknown command \"" + arguments.command + "\"";
  for (int i = 2; i < argc; ++i) {
    const std::string option = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (is_serve && option == "--listen") {
      auto listen = value();
      if (!listen || listen->empty()) return "--listen needs HOST:PORT";
      arguments.listen = *listen;
      continue;
    }
    if (is_report && option == "--json") {
      arguments.json = true;
      continue;
    }
    if (arguments.command == "history" && (option == "--source" || option == "--account" || option == "--limit")) {
      auto text = value();
      if (!text || text->empty()) return option + " needs a value";
      if (option == "--source") arguments.history.source_type = *text;
      if (option == "--account") arguments.history.account = *text;
      if (option == "--limit") {
        if (text->size() > 6 || text->find_first_not_of("0123456789") != std::string::npos || std::stoi(*text) < 1)
          return "--limit needs a number from 1 to 999999";
        arguments.history.limit = std::stoi(*text);
      }
      continue;
    }
    if (!is_sync) return arguments.command + " takes no option \"" + option + "\"";
    if (option == "--dry-run") {
      arguments.dry_run = true;
    } else if (option == "--since" || option == "--until") {
      auto text = value();
      if (!text) return option + " needs a time";
      auto time = parse_cli_time(*text);
      if (!time) return option + ": \"" + *text + "\" is not a time like 2026-11-25T10:00:00+05:30";
      (option == "--since" ? arguments.since : arguments.until) = *time;
    } else if (option == "--account") {
      auto account = value();
      if (!account || !is_account_name(*account))
        return "--account needs an account name (1 to 63 of a-z, 0-9 and _)";
      arguments.account = *account;
    } else if (option == "--form-id" && arguments.command == "meta") {
      auto id = value();
      if (!id || id->empty()) return "--form-id needs a form id";
      arguments.form_ids.push_back(*id);
    } else {
      return "unknown option \"" + option + "\" for " + arguments.command;
    }
  }
  if (arguments.since && arguments.until && *arguments.since >= *arguments.until)
    return "--since must be before --until";
  return {};
}

const char* or_dash(const std::string& text) { return text.empty() ? "-" : text.c_str(); }

int print_status(Database& database, bool json) {
  if (json) {
    std::cout << database.status_json() << std::endl;
    return kExitOk;
  }
  std::printf("%-12s %-16s %-12s %8s %8s  %-24s %s\n", "Source", "Sub Source", "Account", "Total", "Today",
              "Last successful sync", "Last error");
  for (const SourceStatus& row : database.status()) {
    std::string error = row.last_error.empty() ? "-" : row.last_error_at + ": " + row.last_error;
    std::printf("%-12s %-16s %-12s %8s %8s  %-24s %s\n", or_dash(row.display_name), row.source_type.c_str(),
                or_dash(row.account), row.total.empty() ? "0" : row.total.c_str(),
                row.today.empty() ? "0" : row.today.c_str(),
                row.last_success_at.empty() ? "never" : row.last_success_at.c_str(), error.c_str());
  }
  return kExitOk;
}

int print_history(Database& database, const HistoryQuery& query, bool json) {
  if (json) {
    std::cout << database.history_json(query) << std::endl;
    return kExitOk;
  }
  std::printf("%-24s %-16s %-12s %-11s %-49s %5s %7s %6s %6s %6s %6s  %s\n", "Finished", "Sub Source", "Account",
              "Path", "Window", "Pages", "Fetched", "New", "Same", "Cross", "Reject", "Error");
  for (const SyncRun& run : database.history(query)) {
    const std::string window = run.since.empty() ? "-" : run.since + " .. " + run.until;
    std::printf("%-24s %-16s %-12s %-11s %-49s %5s %7s %6s %6s %6s %6s  %s\n", run.finished_at.c_str(),
                run.source_type.c_str(), run.account.c_str(), run.path.c_str(), window.c_str(), run.pages.c_str(),
                run.fetched.c_str(), run.inserted_new.c_str(), run.duplicate_same_source.c_str(),
                run.cross_source_history.c_str(), run.rejected.c_str(), or_dash(run.error));
  }
  return kExitOk;
}

// The prefix of an account's stderr lines: "leadsync-fetch meta [thane]: ".
std::string prefix_of(const std::string& command, const std::string& account) {
  return "leadsync-fetch " + command + (account == kDefaultAccount ? std::string() : " [" + account + "]") + ": ";
}

// Syncs one account: its window, its pages, its record (window and sync_runs row).
// Returns its exit status; its summary line goes to stdout.
int sync_account(const Arguments& arguments, const FetchConfig& config, const std::string& account,
                 Database& database) {
  const bool terminal = isatty(STDERR_FILENO);
  const std::string program = prefix_of(arguments.command, account);
  auto say = [&](const std::string& line) { std::cerr << program << redact(line, config.secrets) << std::endl; };
  // The platforms' page lines only on a terminal; their retries always.
  auto progress = [&](const std::string& line) {
    if (terminal || line.find("retrying") != std::string::npos) say(line);
  };
  const std::int64_t started_at = unix_now();
  const std::string source_type = source_type_of(arguments.command);
  SyncWindow window;
  window.until = arguments.until.value_or(started_at);
  window.since = arguments.since ? *arguments.since
                                 : database.window_start(source_type, account, config.overlap_seconds,
                                                         config.first_lookback_seconds);
  std::cerr << program << "window " << format_iso_utc(window.since) << " .. " << format_iso_utc(window.until)
            << (arguments.dry_run ? " (dry run)" : "") << std::endl;

  HttpClient http(config.http);
  DiscardingSink discard;
  SyncContext context{http, arguments.dry_run ? static_cast<PageSink&>(discard) : database, config.retry, progress, {}};
  context.report.source_type = source_type;
  context.report.account = account;
  context.report.window = window;
  try {
    if (arguments.command == "meta") {
      MetaConfig meta = config.meta;
      if (!arguments.form_ids.empty()) meta.form_ids = arguments.form_ids;
      sync_meta(meta, window, context);
    } else if (arguments.command == "knowlarity") {
      sync_knowlarity(config.knowlarity, window, context);
    } else {
      sync_google_ads(config.google, window, context);
    }
    context.report.counts += context.sink.finish();
  } catch (const SyncError& error) {
    std::string message = redact(error.what(), config.secrets);
    try {  // the page still being ingested when a fetch failed is stored all the same
      context.report.counts += context.sink.finish();
    } catch (const SyncError& ingest_error) {  // it failed before the fetch did: say so first
      message = redact(ingest_error.what(), config.secrets) + "; then " + message;
    }
    std::cerr << program << "failed: " << message << std::endl;
    // The counts of the pages ingested before the failure: those rows are stored.
    const std::string summary = summary_json(context.report, arguments.dry_run, message);
    if (!arguments.dry_run) {
      try {
        database.record_failure(source_type, account, message, window, summary, started_at);
      } catch (const std::exception&) {
        // The database may be the thing that failed; the exit status still says so.
      }
    }
    std::cout << summary << std::endl;
    return kExitFailed;
  }
  const std::string summary = summary_json(context.report, arguments.dry_run);
  if (!arguments.dry_run) database.record_success(source_type, account, window, summary, started_at);
  std::cout << summary << std::endl;
  return kExitOk;
}

// Says what load_config found missing or wrong; true when nothing was.
bool report_problems(const std::string& command, const std::vector<std::string>& missing,
                     const std::vector<std::string>& invalid) {
  const std::string program = "leadsync-fetch " + command + ": ";
  for (const std::string& name : missing) std::cerr << program << "environment variable " << name << " is not set\n";
  for (const std::string& problem : invalid) std::cerr << program << problem << "\n";
  return missing.empty() && invalid.empty();
}

// The configuration of each account to sync (`--account`, else every configured one).
// Returns false, having said why, when a setting is missing or wrong.
bool load_accounts(const Arguments& arguments, std::vector<std::pair<std::string, FetchConfig>>& accounts) {
  std::vector<std::string> invalid;
  std::vector<std::string> names = configured_accounts(arguments.command, environment_setting, invalid);
  const bool listed = !(names.size() == 1 && names[0] == kDefaultAccount);
  if (!arguments.account.empty()) {
    if (std::find(names.begin(), names.end(), arguments.account) == names.end()) {
      std::string known;
      for (const std::string& name : names) known += (known.empty() ? "" : ", ") + name;
      invalid.push_back("--account " + arguments.account + ": not a configured account (configured: " + known + ")");
    }
    names = {arguments.account};
  } else if (!arguments.form_ids.empty() && names.size() > 1) {
    invalid.push_back("--form-id names the forms of one account: add --account");
  }
  std::vector<std::string> missing;
  std::vector<std::string> secrets;  // every account's: each account's lines hide them all
  for (const std::string& name : names) {
    std::vector<std::string> missing_here;
    FetchConfig config = load_config(arguments.command, !arguments.form_ids.empty(),
                                     account_setting(arguments.command, name, environment_setting), missing_here,
                                     invalid);
    for (const std::string& setting : missing_here)
      missing.push_back(listed ? account_setting_name(setting, name) + " (or " + setting + ")" : setting);
    secrets.insert(secrets.end(), config.secrets.begin(), config.secrets.end());
    for (const auto& [other, other_config] : accounts)
      if (account_identity(arguments.command, other_config) == account_identity(arguments.command, config))
        invalid.push_back("accounts " + other + " and " + name + " would read the same leads (" +
                          account_identity(arguments.command, config) + "): set each account's own settings");
    accounts.emplace_back(name, std::move(config));
  }
  for (auto& account : accounts) account.second.secrets = secrets;
  return report_problems(arguments.command, missing, invalid);
}

}  // namespace

int main(int argc, char** argv) {
  Arguments arguments;
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << kUsage;
    return kExitOk;
  }
  if (argc >= 2 && std::string(argv[1]) == "--version") {
    std::cout << "leadsync-fetch " << LEADSYNC_VERSION << "\n";
    return kExitOk;
  }
  if (std::string problem = parse_arguments(argc, argv, arguments); !problem.empty()) {
    std::cerr << "leadsync-fetch: " << problem << "\n\n" << kUsage;
    return kExitUsage;
  }
  const std::string program = "leadsync-fetch " + arguments.command + ": ";
  const bool is_sync = arguments.command != "serve" && arguments.command != "status" && arguments.command != "history";
  std::vector<std::pair<std::string, FetchConfig>> accounts;
  if (is_sync) {
    if (!load_accounts(arguments, accounts)) return kExitUsage;
  } else {
    std::vector<std::string> missing, invalid;
    // --listen stands in for LEADSYNC_LISTEN, and is checked by the same rule.
    auto setting = [&arguments](const char* name) {
      if (!arguments.listen.empty() && std::string(name) == "LEADSYNC_LISTEN") return arguments.listen;
      return environment_setting(name);
    };
    accounts.emplace_back(kDefaultAccount, load_config(arguments.command, false, setting, missing, invalid));
    if (!report_problems(arguments.command, missing, invalid)) return kExitUsage;
  }
  const FetchConfig& config = accounts.front().second;
  auto say = [&](const std::string& line) { std::cerr << program << redact(line, config.secrets) << std::endl; };
  try {
    if (arguments.command == "serve") return leadsync::serve::serve(config, say);
    // Every line of the database's (its retries, the server's warnings) always.
    Database database(config.database_url, config.schema, config.retry, say);
    if (arguments.command == "status") return print_status(database, arguments.json);
    if (arguments.command == "history") return print_history(database, arguments.history, arguments.json);
    // Each account in turn: one failing does not keep the others from running.
    int status = kExitOk;
    for (const auto& [account, account_config] : accounts) {
      try {
        if (sync_account(arguments, account_config, account, database) != kExitOk) status = kExitFailed;
      } catch (const std::exception& error) {  // the database, before or after the platform's pages
        std::cerr << prefix_of(arguments.command, account) << "failed: " << redact(error.what(), config.secrets)
                  << std::endl;
        status = kExitFailed;
      }
    }
    return status;
  } catch (const std::exception& error) {
    std::cerr << program << "failed: " << redact(error.what(), config.secrets) << std::endl;
    return kExitFailed;
  }
}
