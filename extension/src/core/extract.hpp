// Platform adapters: turn one raw lead payload into FieldCandidates, then a Lead.
//
// They are templates over a read-only JSON accessor so the same code reads a jsonb
// value inside PostgreSQL and a parsed document in the fetcher and the unit tests.
// An accessor type J provides:
//   bool is_object() const;  bool is_array() const;
//   std::string_view type_name() const;               // "object", "array", "string", ...
//   std::optional<J> member(std::string_view key) const;  // object member, if present
//   bool is_true() const;                             // the JSON boolean true
//   std::size_t size() const;                          // array length, 0 for non-arrays
//   J element(std::size_t index) const;                // index < size()
//   std::optional<std::string> scalar_text() const;    // a string's text or a number's digits
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "lead.hpp"
#include "source_types.hpp"

namespace leadsync {
namespace detail {

bool equals_ignore_case(std::string_view a, std::string_view b);
std::string join_name(const std::optional<std::string>& first, const std::optional<std::string>& last);

template <class J>
void add_scalar(std::vector<std::string>& out, const std::optional<J>& value) {
  if (!value) return;
  if (auto text = value->scalar_text()) out.push_back(std::move(*text));
}

template <class J>
std::optional<J> member_any(const J& object, std::initializer_list<std::string_view> keys) {
  for (auto key : keys)
    if (auto value = object.member(key)) return value;
  return std::nullopt;
}

// Slot of `name` in `wanted`, compared without case, or -1.
template <std::size_t N>
int slot_of(std::string_view name, const std::string_view (&wanted)[N]) {
  for (std::size_t slot = 0; slot < N; ++slot)
    if (equals_ignore_case(name, wanted[slot])) return static_cast<int>(slot);
  return -1;
}

// Meta field_data: [{"name": "phone_number", "values": ["+91..."]}, ...]
template <class J>
FieldCandidates gather_meta_form(const J& lead) {
  static constexpr std::string_view kPhoneFields[] = {
      "phone_number", "phone", "mobile_phone", "mobile", "phone_number_with_country_code"};
  static constexpr std::string_view kNameFields[] = {"full_name", "name", "first_name", "last_name"};
  std::vector<std::string> phones_by_slot[5];
  std::optional<std::string> names_by_slot[4];

  if (auto field_data = lead.member("field_data")) {
    for (std::size_t i = 0; i < field_data->size(); ++i) {
      J field = field_data->element(i);
      auto name = field.member("name");
      auto values = field.member("values");
      if (!name || !values) continue;
      auto field_name = name->scalar_text();
      if (!field_name) continue;
      if (int slot = slot_of(*field_name, kPhoneFields); slot >= 0) {
        for (std::size_t v = 0; v < values->size(); ++v)
          add_scalar(phones_by_slot[slot], std::optional<J>(values->element(v)));
      } else if (int slot = slot_of(*field_name, kNameFields); slot >= 0 && values->size() > 0) {
        if (!names_by_slot[slot]) names_by_slot[slot] = values->element(0).scalar_text();
      }
    }
  }
  FieldCandidates out;
  for (auto& phones : phones_by_slot)
    for (auto& phone : phones) out.phones.push_back(std::move(phone));
  for (int slot = 0; slot < 2; ++slot)
    if (names_by_slot[slot]) out.names.push_back(*names_by_slot[slot]);
  std::string first_last = join_name(names_by_slot[2], names_by_slot[3]);
  if (!first_last.empty()) out.names.push_back(std::move(first_last));
  add_scalar(out.external_ids, lead.member("id"));
  add_scalar(out.event_times, lead.member("created_time"));
  return out;
}

// Knowlarity call log record: customer_number, else caller_id; no customer name.
template <class J>
FieldCandidates gather_knowlarity_call(const J& call) {
  FieldCandidates out;
  add_scalar(out.phones, call.member("customer_number"));
  add_scalar(out.phones, call.member("caller_id"));
  add_scalar(out.external_ids, call.member("uuid"));
  add_scalar(out.external_ids, call.member("id"));
  add_scalar(out.event_times, call.member("start_time"));
  return out;
}

// Google Ads lead form submissions in three shapes: the API row
// {"leadFormSubmissionData": {...}}, that object unwrapped, and the webhook lead
// {"lead_id", "user_column_data": [{"column_id", "string_value"}], "lead_submit_time"}.
template <class J>
FieldCandidates gather_google_ads(const J& payload) {
  static constexpr std::string_view kFieldTypes[] = {"PHONE_NUMBER", "FULL_NAME", "FIRST_NAME", "LAST_NAME"};
  J submission = payload;
  if (auto wrapped = member_any(payload, {"leadFormSubmissionData", "lead_form_submission_data"});
      wrapped && wrapped->is_object())
    submission = *wrapped;

  FieldCandidates out;
  std::vector<std::string> values_by_slot[4];
  auto collect = [&](const J& fields, std::initializer_list<std::string_view> type_keys,
                     std::initializer_list<std::string_view> value_keys) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      J field = fields.element(i);
      auto type = member_any(field, type_keys);
      auto type_text = type ? type->scalar_text() : std::nullopt;
      if (!type_text) continue;
      if (int slot = slot_of(*type_text, kFieldTypes); slot >= 0)
        add_scalar(values_by_slot[slot], member_any(field, value_keys));
    }
  };
  if (auto fields = member_any(submission, {"leadFormSubmissionFields", "lead_form_submission_fields"})) {
    collect(*fields, {"fieldType", "field_type"}, {"fieldValue", "field_value"});
    add_scalar(out.external_ids, submission.member("id"));
    add_scalar(out.external_ids, member_any(submission, {"resourceName", "resource_name"}));
    add_scalar(out.event_times, member_any(submission, {"submissionDateTime", "submission_date_time"}));
  } else if (auto columns = submission.member("user_column_data")) {
    collect(*columns, {"column_id"}, {"string_value"});
    add_scalar(out.external_ids, submission.member("lead_id"));
    add_scalar(out.event_times, submission.member("lead_submit_time"));
  }
  out.phones = std::move(values_by_slot[0]);
  for (auto& name : values_by_slot[1]) out.names.push_back(std::move(name));
  std::optional<std::string> first, last;
  if (!values_by_slot[2].empty()) first = values_by_slot[2].front();
  if (!values_by_slot[3].empty()) last = values_by_slot[3].front();
  std::string first_last = join_name(first, last);
  if (!first_last.empty()) out.names.push_back(std::move(first_last));
  return out;
}

}  // namespace detail

// One built-in platform's payload to a lead or a rejection. `kind` must not be Custom:
// custom sources gather their candidates with PostgreSQL's jsonpath, then call
// finish_extraction themselves.
template <class J>
Extraction extract_lead(SourceKind kind, const J& payload) {
  if (!payload.is_object()) return Extraction::rejected(reason_not_an_object(payload.type_name()));
  switch (kind) {
    case SourceKind::MetaForm: return finish_extraction(detail::gather_meta_form(payload));
    case SourceKind::KnowlarityCall: return finish_extraction(detail::gather_knowlarity_call(payload));
    case SourceKind::GoogleAds:
      // Google's "send test data" button: a made-up lead, never to be counted.
      if (auto is_test = payload.member("is_test"); is_test && is_test->is_true())
        return Extraction::rejected(reason_test_lead());
      return finish_extraction(detail::gather_google_ads(payload));
    case SourceKind::Custom: break;
  }
  return Extraction::rejected("custom sources are extracted with their field_map");
}

}  // namespace leadsync

#include "pure_cpp.hpp"
