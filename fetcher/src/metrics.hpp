// GET /metrics of leadsync-fetch serve, in Prometheus' text format. Labels come from a
// fixed set (the route, never the path a client sent), so no client can grow them.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "sync/sync_types.hpp"

namespace leadsync::serve {

class Metrics {
 public:
  void request(const std::string& route, int status, double seconds);
  void outcomes(const std::string& source_type, const sync::IngestCounts& counts);
  void database_error();
  // `pending`: unresolved inbox rows, or -1 when the database could not say.
  std::string render(std::int64_t pending) const;

  static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1,    2.5,   5};

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::int64_t> requests_;
  std::map<std::pair<std::string, std::string>, std::int64_t> outcomes_;
  std::map<std::string, std::array<std::int64_t, kBuckets.size() + 1>> latency_;  // by route; last: +Inf
  std::map<std::string, double> latency_sum_;
  std::int64_t database_errors_ = 0;
};

}  // namespace leadsync::serve
