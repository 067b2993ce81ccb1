// Batch write order: see batch.hpp.
#include "core/batch.hpp"

#include <algorithm>
#include <numeric>

namespace leadsync {

BatchPlan plan_batch(const std::vector<Lead>& leads) {
  std::vector<std::size_t> order(leads.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return leads[a].phone < leads[b].phone; });
  BatchPlan plan;
  plan.writes.reserve(order.size());
  for (std::size_t index : order) {
    if (!plan.writes.empty() && leads[plan.writes.back()].phone == leads[index].phone)
      ++plan.repeated_in_batch;
    else
      plan.writes.push_back(index);
  }
  return plan;
}

}  // namespace leadsync
