// What extraction makes of one raw payload: a lead keyed by its phone, or a rejection.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "event_time.hpp"
#include "phone.hpp"

namespace leadsync {

struct Lead {
  PhoneNumber phone;
  std::optional<std::string> full_name;    // nullopt when the platform sends none
  std::optional<std::string> external_id;  // the platform's own id, never parsed as a number
  std::optional<EventTime> event_time;     // nullopt: absent or unreadable, use receive time
};

struct Extraction {
  std::optional<Lead> lead;  // set when the payload became a lead
  std::string reject_reason;  // set when it did not

  static Extraction accepted(Lead lead) { return {std::move(lead), {}}; }
  static Extraction rejected(std::string reason) { return {std::nullopt, std::move(reason)}; }
};

// The raw values a payload offers for each lead field, best first. Each platform
// adapter only gathers these; finish_extraction applies the rules common to all.
struct FieldCandidates {
  std::vector<std::string> phones;
  std::vector<std::string> names;
  std::vector<std::string> external_ids;
  std::vector<std::string> event_times;
};

// The first phone that normalizes, the first non-blank name and id, the first
// parseable time. Rejects with a reason when there is no phone, or none normalizes.
Extraction finish_extraction(const FieldCandidates& candidates);

// Rejection reasons, one wording for the extension and the fetcher.
std::string reason_not_an_object(std::string_view json_type);
std::string reason_no_phone_field();
std::string reason_phone_too_short(std::string_view raw_phone);
std::string reason_test_lead();

}  // namespace leadsync

#include "pure_cpp.hpp"
