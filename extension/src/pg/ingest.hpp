// The ingest entry point shared by ingest_leads and the in-database sync.
#pragma once

#include <optional>
#include <string>

#include "pg/guard.hpp"

namespace leadsync::pg {

struct BatchOutcome {
  int64 inserted_new = 0;
  int64 duplicate_same_source = 0;
  int64 cross_source_history = 0;
  int64 rejected = 0;
  // Set for a batch of one payload, for ingest_lead.
  std::optional<int64> lead_id;
  std::string reject_reason;
};

// The quoted name of the extension's schema: the schema of `function_oid`, one of its
// functions.
std::string quoted_extension_schema(Oid function_oid);

// Ingests a JSON array of raw payloads of `source_type` as one batch. Requires an SPI
// connection; `function_oid` is a function of the extension (it locates the schema).
BatchOutcome ingest_array(Oid function_oid, const std::string& source_type, Jsonb* payloads);

}  // namespace leadsync::pg
