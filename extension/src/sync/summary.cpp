// The sync summary line.
#include "sync/summary.hpp"

#include <nlohmann/json.hpp>

#include "sync/time_format.hpp"

namespace leadsync::sync {

std::string summary_json(const SyncReport& report, bool dry_run, const std::string& error) {
  nlohmann::ordered_json summary = {
      {"source", report.source_type},
      {"account", report.account},
      {"since", format_iso_utc(report.window.since)},
      {"until", format_iso_utc(report.window.until)},
      {"pages", report.pages},
      {"fetched", report.fetched},
      {"filtered", report.filtered},
      {"insertedNew", report.counts.inserted_new},
      {"duplicateSameSource", report.counts.duplicate_same_source},
      {"crossSourceHistory", report.counts.cross_source_history},
      {"rejected", report.counts.rejected}};
  if (dry_run) summary["dryRun"] = true;
  if (!error.empty()) summary["error"] = error;
  return summary.dump();
}

}  // namespace leadsync::sync
