// The one-line JSON summary of a sync: leadsync-fetch prints it, sync_source returns it.
#pragma once

#include <string>

#include "sync/sync_types.hpp"

namespace leadsync::sync {

// {"source", "account", "since", "until", "pages", "fetched", "filtered", "insertedNew",
//  "duplicateSameSource", "crossSourceHistory", "rejected"[, "dryRun"][, "error"]}
std::string summary_json(const SyncReport& report, bool dry_run = false, const std::string& error = {});

}  // namespace leadsync::sync
