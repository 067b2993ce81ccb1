// The order in which one batch's leads are written.
#pragma once

#include <cstddef>
#include <vector>

#include "lead.hpp"

namespace leadsync {

// Indexes into a batch's accepted leads: sorted by phone, so every concurrent batch
// takes its row locks in the same order and none can deadlock another; for a phone
// sent more than once only the first in input order is written, the rest are
// same-source duplicates by definition.
struct BatchPlan {
  std::vector<std::size_t> writes;
  std::size_t repeated_in_batch = 0;
};

BatchPlan plan_batch(const std::vector<Lead>& leads);

}  // namespace leadsync

#include "pure_cpp.hpp"
