// plan_batch: the write order of one batch (DESIGN.md, "Concurrency and atomicity").
#include "core/batch.hpp"

#include <cstddef>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace leadsync {
namespace {

Lead lead_with_phone(const std::string& digits) {
  Lead lead;
  auto phone = normalize_phone(digits);
  if (!phone) throw std::invalid_argument("test phone must have ten digits: " + digits);
  lead.phone = *phone;
  lead.external_id = digits;
  return lead;
}

std::vector<Lead> leads_with_phones(const std::vector<std::string>& phones) {
  std::vector<Lead> leads;
  for (const auto& phone : phones) leads.push_back(lead_with_phone(phone));
  return leads;
}

TEST(PlanBatch, PlansNothingForAnEmptyBatch) {
  BatchPlan plan = plan_batch({});
  EXPECT_TRUE(plan.writes.empty());
  EXPECT_EQ(plan.repeated_in_batch, 0u);
}

TEST(PlanBatch, WritesASingleLead) {
  BatchPlan plan = plan_batch(leads_with_phones({"9876543210"}));
  EXPECT_EQ(plan.writes, (std::vector<std::size_t>{0}));
  EXPECT_EQ(plan.repeated_in_batch, 0u);
}

TEST(PlanBatch, WritesDistinctPhonesInAscendingPhoneOrder) {
  auto leads = leads_with_phones({"9000000003", "7000000001", "8000000002", "1000000000"});
  BatchPlan plan = plan_batch(leads);
  EXPECT_EQ(plan.writes, (std::vector<std::size_t>{3, 1, 2, 0}));
  EXPECT_EQ(plan.repeated_in_batch, 0u);
}

TEST(PlanBatch, OrdersPhonesByTheirDigitsNotByInputOrder) {
  // Same leading digits, differing only in the last one.
  auto leads = leads_with_phones({"9876543219", "9876543210", "9876543215"});
  BatchPlan plan = plan_batch(leads);
  EXPECT_EQ(plan.writes, (std::vector<std::size_t>{1, 2, 0}));
}

TEST(PlanBatch, WritesOnlyTheFirstLeadInInputOrderOfARepeatedPhone) {
  auto leads = leads_with_phones({"9000000003", "7000000001", "8000000002", "7000000001", "9000000003", "7000000001"});
  BatchPlan plan = plan_batch(leads);
  EXPECT_EQ(plan.writes, (std::vector<std::size_t>{1, 2, 0}));
}

TEST(PlanBatch, CountsEveryLeadBeyondTheFirstOfEachPhoneAsRepeated) {
  auto leads = leads_with_phones({"9000000003", "7000000001", "8000000002", "7000000001", "9000000003", "7000000001"});
  EXPECT_EQ(plan_batch(leads).repeated_in_batch, 3u);
}

TEST(PlanBatch, TreatsDifferentlyWrittenNumbersWithTheSameTenDigitsAsOnePhone) {
  auto leads = leads_with_phones({"+91 98765 43210", "09876543210", "919876543210"});
  BatchPlan plan = plan_batch(leads);
  EXPECT_EQ(plan.writes, (std::vector<std::size_t>{0}));
  EXPECT_EQ(plan.repeated_in_batch, 2u);
}

TEST(PlanBatch, WritesEachPhoneOnceSortedAndFromItsFirstLeadInALargeShuffledBatch) {
  std::mt19937 random(20261020);
  std::uniform_int_distribution<int> pick(0, 499);
  std::vector<Lead> leads;
  std::map<std::string, std::size_t> first_index;  // phone -> first input index
  for (std::size_t i = 0; i < 5000; ++i) {
    std::string phone = "98765" + std::to_string(10000 + pick(random)).substr(0, 5);
    first_index.emplace(phone, i);
    leads.push_back(lead_with_phone(phone));
  }
  BatchPlan plan = plan_batch(leads);

  std::vector<std::size_t> expected;  // std::map iterates in ascending phone order
  for (const auto& [phone, index] : first_index) expected.push_back(index);
  EXPECT_EQ(plan.writes, expected);
  EXPECT_EQ(plan.repeated_in_batch, leads.size() - first_index.size());
}

}  // namespace
}  // namespace leadsync
