// One platform adapter (Meta, Knowlarity or Google Ads) run end to end over a scripted sequence of HTTP responses taken from the fuzz input (see
// scripted_http.hpp): page parsing (nlohmann::json), error classification, retries,
// pagination, filtering, and what reaches the database sink.
//
// Properties: no sanitizer report; the sync ends with a report or a SyncError, never with
// another exception; no request goes to a host other than the configured one, and no
// logged text holds a secret the input did not contain; every page handed to the sink is
// a non-empty JSON array of the platform's records (for Knowlarity, only calls to the
// allowed numbers when a filter is set); the report's counts add up with what the sink got.
//
// One object file, linked as fuzz_page_meta, fuzz_page_knowlarity and fuzz_page_google:
// the program's name says which adapter it drives.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <typeinfo>

#include <nlohmann/json.hpp>

#include "core/phone.hpp"
#include "fuzz_common.hpp"
#include "scripted_http.hpp"

#if __has_include("sync/platforms.hpp")
#include "sync/platforms.hpp"
#else
#include "platforms.hpp"
#endif

namespace {

enum class Platform { Unknown, Meta, Knowlarity, Google } platform = Platform::Unknown;

using namespace leadsync::sync;

constexpr const char* kMetaToken = "FUZZ-META-TOKEN-5f1";
constexpr const char* kKnowlarityKey = "FUZZ-KN-KEY-a07";
constexpr const char* kKnowlarityToken = "FUZZ-KN-TOKEN-c3e";
constexpr const char* kGoogleSecret = "FUZZ-G-SECRET-9d2";
constexpr const char* kGoogleRefresh = "FUZZ-G-REFRESH-4b8";
constexpr const char* kAllowedNumber = "+919873762618";

class CheckingSink : public PageSink {
 public:
  explicit CheckingSink(std::string source_type, bool filter_knowlarity)
      : source_type_(std::move(source_type)), filter_knowlarity_(filter_knowlarity) {}

  IngestCounts ingest_page(std::string_view source_type, const std::string& payloads_json) override {
    FUZZ_CHECK(source_type == source_type_, "pages go to the platform's own source_type");
    const auto page = nlohmann::json::parse(payloads_json, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(!page.is_discarded() && page.is_array(), "a page reaches the sink as a JSON array");
    FUZZ_CHECK(!page.empty(), "an empty page is not sent to the database");
    if (filter_knowlarity_) {
      const auto allowed = leadsync::normalize_phone(kAllowedNumber);
      for (const auto& call : page) {
        FUZZ_CHECK(call.is_object() && call.contains("knowlarity_number") && call["knowlarity_number"].is_string(),
                   "a filtered call has a knowlarity_number");
        const auto number = leadsync::normalize_phone(call["knowlarity_number"].get<std::string>());
        FUZZ_CHECK(number && *number == *allowed, "only calls to an allowed number pass the filter");
      }
    }
    records_ += static_cast<std::int64_t>(page.size());
    ++pages_;
    IngestCounts counts;
    counts.inserted_new = static_cast<std::int64_t>(page.size());
    return counts;
  }

  std::int64_t records() const { return records_; }
  int pages() const { return pages_; }

 private:
  std::string source_type_;
  bool filter_knowlarity_;
  std::int64_t records_ = 0;
  int pages_ = 0;
};

// The adapters' API as of this writing: void sync_*(..., SyncContext&) filling
// context.report page by page, also when they fail part-way. Earlier they returned the
// report, and only on success; both are accepted.
constexpr bool kPartialReports = std::is_void_v<decltype(sync_meta(
    std::declval<const MetaConfig&>(), std::declval<const SyncWindow&>(), std::declval<SyncContext&>()))>;

template <class Sync>
void run_sync(Sync&& sync, SyncContext& context, SyncReport& report) {
  if constexpr (std::is_void_v<std::invoke_result_t<Sync>>) {
    struct CopyReport {
      SyncContext& context;
      SyncReport& report;
      ~CopyReport() { report = context.report; }
    } copy_report{context, report};
    sync();
  } else {
    report = sync();
  }
}

bool has_flag(const leadsync::fuzz::Script& script, char flag) { return script.flags.find(flag) != std::string::npos; }

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const std::string_view program = *argc > 0 ? (*argv)[0] : "";
  platform = ends_with(program, "_meta")         ? Platform::Meta
             : ends_with(program, "_knowlarity") ? Platform::Knowlarity
             : ends_with(program, "_google")     ? Platform::Google
                                                 : Platform::Unknown;
  FUZZ_CHECK(platform != Platform::Unknown, "the program's name ends with _meta, _knowlarity or _google");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  leadsync::fuzz::Script script = leadsync::fuzz::parse_script(input);
  leadsync::fuzz::set_current_script(&script);

  const SyncWindow window{1760918400, 1760918400 + 86400};
  RetryPolicy retry;
  retry.max_attempts = 3;
  retry.base_delay_seconds = 0;  // no backoff: a wait the platform asks for exceeds the budget of 0
  retry.max_delay_seconds = 0;
  retry.max_total_seconds = 0;

  std::string logged;
  HttpClient http;
  const bool filter = platform == Platform::Knowlarity && has_flag(script, 'a');
  CheckingSink sink(platform == Platform::Meta         ? "meta_form"
                    : platform == Platform::Knowlarity ? "knowlarity_call"
                                                       : "google_ads",
                    filter);
  SyncContext context{http, sink, retry, [&](const std::string& line) { logged += line + "\n"; }};

  SyncReport report;
  std::string error;
  try {
    if (platform == Platform::Meta) {
      script.allowed_hosts = {"graph.facebook.com"};
      script.secrets = {kMetaToken};
      MetaConfig config;
      config.graph_url = "https://graph.facebook.com/v25.0";
      config.page_id = "111222333444555";
      config.access_token = kMetaToken;
      if (has_flag(script, 'f')) config.form_ids = {"1234567890123456", "1234567890123458"};
      run_sync([&] { return sync_meta(config, window, context); }, context, report);
    } else if (platform == Platform::Knowlarity) {
      script.allowed_hosts = {"kpi.knowlarity.com"};
      script.secrets = {kKnowlarityKey, kKnowlarityToken};
      KnowlarityConfig config;
      config.base_url = "https://kpi.knowlarity.com";
      config.api_key = kKnowlarityKey;
      config.auth_token = kKnowlarityToken;
      if (filter) config.allowed_numbers = {kAllowedNumber};
      run_sync([&] { return sync_knowlarity(config, window, context); }, context, report);
    } else {
      script.allowed_hosts = {"googleads.googleapis.com", "oauth2.googleapis.com"};
      script.secrets = {kGoogleSecret, kGoogleRefresh};
      GoogleAdsConfig config;
      config.api_url = "https://googleads.googleapis.com/v21";
      config.token_url = "https://oauth2.googleapis.com/token";
      config.customer_id = "123-456-7890";
      if (has_flag(script, 'l')) config.login_customer_id = "987-654-3210";
      config.client_id = "fuzz-client.apps.example";
      config.client_secret = kGoogleSecret;
      config.refresh_token = kGoogleRefresh;
      run_sync([&] { return sync_google_ads(config, window, context); }, context, report);
    }
  } catch (const SyncError& e) {
    error = e.what();  // the documented way for a sync to fail
  } catch (const std::exception& e) {
    // leadsync-fetch would exit without its summary line or sync_state's last_error.
    std::fprintf(stderr, "a sync ended with an exception other than SyncError: %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  leadsync::fuzz::set_current_script(nullptr);
  static const bool verbose = std::getenv("LEADSYNC_FUZZ_VERBOSE") != nullptr;
  if (verbose)
    std::fprintf(stderr, "requests=%zu pages=%d fetched=%lld filtered=%lld ingested=%lld error=%s\n", script.requests,
                 report.pages, static_cast<long long>(report.fetched), static_cast<long long>(report.filtered),
                 static_cast<long long>(sink.records()), error.empty() ? "-" : error.c_str());

  for (const std::string& secret : script.secrets) {
    if (input.find(secret) != std::string_view::npos) continue;
    FUZZ_CHECK(error.find(secret) == std::string::npos, "a sync error holds no secret");
    FUZZ_CHECK(logged.find(secret) == std::string::npos, "a progress line holds no secret");
  }
  if (error.empty() || kPartialReports) {
    FUZZ_CHECK(report.pages >= sink.pages(), "every page sent to the sink is counted");
    FUZZ_CHECK(report.counts.inserted_new == sink.records(), "the report adds up the sink's counts");
    FUZZ_CHECK(report.fetched == sink.records() + report.filtered, "every fetched record is ingested or filtered");
    FUZZ_CHECK(report.filtered == 0 || filter, "records are filtered only with a filter set");
  }
  return 0;
}
