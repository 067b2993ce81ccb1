// leadsync-fetch: walks one platform's API pages for a time window and pushes each
// page's raw JSON into ingest_leads. The dedup and counting stay in the database.
#include <unistd.h>

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
  leadsync-fetch meta        [--since T] [--until T] [--form-id ID]... [--dry-run]
  leadsync-fetch knowlarity  [--since T] [--until T] [--dry-run]
  leadsync-fetch google      [--since T] [--until T] [--dry-run]
  leadsync-fetch status
  leadsync-fetch serve       [--listen HOST:PORT]

Fetches the leads of one platform for a window and ingests each page with
ingest_leads. Without --since the window starts where the last fully successful
run ended, minus LEADSYNC_OVERLAP_MINUTES (24 hours back on the first run);
without --until it ends now. T is a time such as 2026-11-25T10:00:00+05:30
(UTC when it has no offset). --dry-run fetches and counts without ingesting.
serve receives the platforms' webhooks and stores each lead before it answers
(the README, section Real-time leads); it runs until SIGTERM.
Configuration comes from environment variables; see the README.
)";

struct Arguments {
  std::string command;
  std::optional<std::int64_t> since, until;
  std::vector<std::string> form_ids;
  bool dry_run = false;
  std::string listen;  // serve --listen
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
  if (!is_sync && !is_serve && arguments.command != "status")
    return "unknown command \"" + arguments.command + "\"";
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
    if (!is_sync) return arguments.command + " takes no option \"" + option + "\"";
    if (option == "--dry-run") {
      arguments.dry_run = true;
    } else if (option == "--since" || option == "--until") {
      auto text = value();
      if (!text) return option + " needs a time";
      auto time = parse_cli_time(*text);
      if (!time) return option + ": \"" + *text + "\" is not a time like 2026-11-25T10:00:00+05:30";
      (option == "--since" ? arguments.since : arguments.until) = *time;
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

int print_status(Database& database) {
  const std::vector<SourceStatus> rows = database.status();
  std::printf("%-12s %-16s %8s %8s  %-24s %s\n", "Source", "Sub Source", "Total", "Today", "Last successful sync",
              "Last error");
  for (const SourceStatus& row : rows) {
    std::string error = row.last_error.empty() ? "-" : row.last_error_at + ": " + row.last_error;
    std::printf("%-12s %-16s %8s %8s  %-24s %s\n", row.display_name.empty() ? "-" : row.display_name.c_str(),
                row.source_type.c_str(), row.total.empty() ? "0" : row.total.c_str(),
                row.today.empty() ? "0" : row.today.c_str(),
                row.last_success_at.empty() ? "never" : row.last_success_at.c_str(), error.c_str());
  }
  return kExitOk;
}

int run(const Arguments& arguments, const FetchConfig& config) {
  const bool terminal = isatty(STDERR_FILENO);
  const std::string program = "leadsync-fetch " + arguments.command + ": ";
  auto say = [&](const std::string& line) { std::cerr << program << redact(line, config.secrets) << std::endl; };
  // The platforms' page lines only on a terminal; their retries always.
  auto progress = [&](const std::string& line) {
    if (terminal || line.find("retrying") != std::string::npos) say(line);
  };
  // Every line of the database's (its retries, the server's warnings) always.
  Database database(config.database_url, config.schema, config.retry, say);
  if (arguments.command == "status") return print_status(database);

  const std::string source_type = source_type_of(arguments.command);
  SyncWindow window;
  window.until = arguments.until.value_or(unix_now());
  window.since = arguments.since ? *arguments.since
                                 : database.window_start(source_type, config.overlap_seconds,
                                                         config.first_lookback_seconds);
  std::cerr << program << "window " << format_iso_utc(window.since) << " .. " << format_iso_utc(window.until)
            << (arguments.dry_run ? " (dry run)" : "") << std::endl;

  HttpClient http(config.http);
  DiscardingSink discard;
  SyncContext context{http, arguments.dry_run ? static_cast<PageSink&>(discard) : database, config.retry, progress, {}};
  context.report.source_type = source_type;
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
    if (!arguments.dry_run) {
      try {
        database.record_failure(source_type, message);
      } catch (const std::exception&) {
        // The database may be the thing that failed; the exit status still says so.
      }
    }
    // The counts of the pages ingested before the failure: those rows are stored.
    std::cout << summary_json(context.report, arguments.dry_run, message) << std::endl;
    return kExitFailed;
  }
  const SyncReport& report = context.report;
  const std::string summary = summary_json(report, arguments.dry_run);
  if (!arguments.dry_run) database.record_success(source_type, window, summary);
  std::cout << summary << std::endl;
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Arguments arguments;
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << kUsage;
    return kExitOk;
  }
  if (std::string problem = parse_arguments(argc, argv, arguments); !problem.empty()) {
    std::cerr << "leadsync-fetch: " << problem << "\n\n" << kUsage;
    return kExitUsage;
  }
  std::vector<std::string> missing, invalid;
  // --listen stands in for LEADSYNC_LISTEN, and is checked by the same rule.
  auto setting = [&arguments](const char* name) {
    if (!arguments.listen.empty() && std::string(name) == "LEADSYNC_LISTEN") return arguments.listen;
    return environment_setting(name);
  };
  const FetchConfig config = load_config(arguments.command, !arguments.form_ids.empty(), setting, missing, invalid);
  for (const std::string& name : missing)
    std::cerr << "leadsync-fetch " << arguments.command << ": environment variable " << name << " is not set\n";
  for (const std::string& problem : invalid) std::cerr << "leadsync-fetch " << arguments.command << ": " << problem << "\n";
  if (!missing.empty() || !invalid.empty()) return kExitUsage;
  try {
    if (arguments.command == "serve") {
      auto say = [&config](const std::string& line) {
        std::cerr << "leadsync-fetch serve: " << redact(line, config.secrets) << std::endl;
      };
      return leadsync::serve::serve(config, say);
    }
    return run(arguments, config);
  } catch (const std::exception& error) {
    std::cerr << "leadsync-fetch " << arguments.command << ": failed: " << redact(error.what(), config.secrets)
              << std::endl;
    return kExitFailed;
  }
}
