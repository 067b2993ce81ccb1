#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus (test/fuzz/corpus/<harness>/) from the platforms'
reference samples in test/data/api-samples/. Run it again after a sample changes:

    python3 test/fuzz/make_corpus.py

Seeds are named after what they hold; the files are committed, so run.sh needs no
Python. Page seeds use the script format of scripted_http.hpp: records separated by a
line "=====", each optionally starting with "@STATUS[ header: value]", an optional first
line "#FLAGS".
"""
import json
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent
SAMPLES = HERE.parent / "data" / "api-samples"
CORPUS = HERE / "corpus"
SEPARATOR = "\n=====\n"


def sample(path):
    return (SAMPLES / path).read_text()


def data(path):
    return json.loads(sample(path))


def compact(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def script(*records, flags=None):
    text = SEPARATOR.join(records)
    return f"#{flags}\n{text}" if flags else text


def record(body, status=None, header=None):
    if status is None:
        return body
    head = f"@{status}" + (f" {header}" if header else "")
    return f"{head}\n{body}"


def walk_strings(node, out):
    if isinstance(node, dict):
        for value in node.values():
            walk_strings(value, out)
    elif isinstance(node, list):
        for value in node:
            walk_strings(value, out)
    elif isinstance(node, (str, int)) and not isinstance(node, bool):
        out.append(str(node))


def main():
    seeds = {name: {} for name in (
        "fuzz_phone", "fuzz_event_time", "fuzz_extract_meta", "fuzz_extract_knowlarity",
        "fuzz_extract_google", "fuzz_page_meta", "fuzz_page_knowlarity", "fuzz_page_google")}

    # --- payloads, one per seed, for each extractor -----------------------------------
    meta_leads = data("meta/leads_page1.json")["data"] + data("meta/leads_page2_last.json")["data"]
    for i, lead in enumerate(meta_leads):
        seeds["fuzz_extract_meta"][f"sample_lead_{i + 1}.json"] = compact(lead)
    seeds["fuzz_extract_meta"]["sample_webhook_leadgen.json"] = sample("meta/webhook_leadgen.json")
    seeds["fuzz_extract_meta"]["variant_name_mobile_epoch.json"] = compact({
        "id": 2468013579246804, "created_time": 1760950154,
        "field_data": [{"name": "Name", "values": ["  Kavya  "]}, {"name": "PHONE", "values": ["12345"]},
                       {"name": "mobile", "values": [9876543210]},
                       {"name": "phone_number_with_country_code", "values": ["+91 ९८७६५४३२१०"]}]})

    calls = data("knowlarity/calllog_page1.json")["objects"] + data("knowlarity/calllog_page2_last.json")["objects"]
    for i, call in enumerate(calls):
        seeds["fuzz_extract_knowlarity"][f"sample_call_{i + 1}.json"] = compact(call)
    seeds["fuzz_extract_knowlarity"]["variant_caller_id_id.json"] = compact({
        "id": 77, "customer_number": "", "caller_id": "０９８７６５４３２１０", "start_time": "2026-10-20 11:11:21"})

    google = seeds["fuzz_extract_google"]
    rows = data("google_ads/search_lead_form_submission_page1.json")["results"] + \
        data("google_ads/search_lead_form_submission_page2_last.json")["results"]
    for i, row in enumerate(rows):
        google[f"sample_search_row_{i + 1}.json"] = compact(row)
        google[f"sample_search_row_{i + 1}_unwrapped.json"] = compact(row["leadFormSubmissionData"])
    google["sample_webhook_docs.json"] = sample("google_ads/webhook_lead_docs_sample.json")
    google["sample_webhook_india.json"] = sample("google_ads/webhook_lead_india_constructed.json")
    google["variant_snake_case_first_last.json"] = compact({"lead_form_submission_data": {
        "id": "x1", "submission_date_time": "2026-10-20T09:15:02.5-07:00",
        "lead_form_submission_fields": [{"field_type": "first_name", "field_value": "Asha"},
                                        {"field_type": "LAST_NAME", "field_value": "Rao"},
                                        {"field_type": "PHONE_NUMBER", "field_value": "n/a"},
                                        {"field_type": "PHONE_NUMBER", "field_value": "+91-98450-12345"}]}})

    # --- phones and event times seen in the samples, plus the documented spellings -----
    strings = []
    for path in sorted(SAMPLES.rglob("*.json")):
        walk_strings(json.loads(path.read_text()), strings)
    phones = [s for s in strings if sum(c.isdigit() for c in s) >= 8 and len(s) <= 24
              and not any(c.isalpha() for c in s)]
    phones += ["+91-98765 43210", "p:+919876543210", "09876543210", "919876543210", "98765",
               "+91 ९८७६५४३२१०", "９８７６５４３２１０", "٩٨٧٦٥٤٣٢١٠", "+91 98450\u00a012345", ""]
    for i, phone in enumerate(dict.fromkeys(phones)):
        seeds["fuzz_phone"][f"phone_{i + 1:02d}.txt"] = phone
    times = [s for s in strings if len(s) >= 10 and s[:4].isdigit() and s[4] == "-"]
    times += ["1440120384", "1588890044000", "2025-01-15T10:30:00.123-0700", "2025-01-15 10:30",
              "2025-01-15", "2024-02-29T23:59:60Z", " 2026-10-20T08:49:14+0000 "]
    for i, time in enumerate(dict.fromkeys(times)):
        seeds["fuzz_event_time"][f"time_{i + 1:02d}.txt"] = time

    # --- pages: whole conversations with each API ------------------------------------
    forms1 = sample("meta/leadgen_forms_page1.json")
    forms2 = compact({"data": [{"id": "1234567890123458", "name": "Plots", "status": "ACTIVE"}]})
    leads1, leads2 = sample("meta/leads_page1.json"), sample("meta/leads_page2_last.json")
    usage = '{"111222333444555":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":0}]}'
    meta = seeds["fuzz_page_meta"]
    meta["forms_then_leads.txt"] = script(forms1, forms2, leads1, leads2, '{"data":[]}')
    meta["form_ids_given.txt"] = script(leads1, leads2, '{"data":[]}', flags="f")
    meta["throttled_then_ok.txt"] = script(
        record(sample("meta/error_rate_limit.json"), 400, f"X-Business-Use-Case-Usage: {usage}"),
        leads1, leads2, '{"data":[]}', flags="f")
    meta["token_expired.txt"] = script(record(sample("meta/error_token_expired.json"), 400))
    meta["html_then_truncated_then_ok.txt"] = script(
        record("<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "Content-Type: text/html"),
        leads1[: len(leads1) // 2], leads2, '{"data":[]}', flags="f")
    meta["webhook_instead_of_page.txt"] = script(sample("meta/webhook_leadgen.json"), flags="f")

    kn1, kn2 = sample("knowlarity/calllog_page1.json"), sample("knowlarity/calllog_page2_last.json")
    knowlarity = seeds["fuzz_page_knowlarity"]
    knowlarity["two_pages.txt"] = script(kn1, kn2)
    other_number = data("knowlarity/calllog_page2_last.json")
    other_number["objects"][0]["knowlarity_number"] = "+918047111111"
    knowlarity["two_pages_filtered.txt"] = script(kn1, compact(other_number), flags="a")
    knowlarity["no_total_count_then_empty.txt"] = script(
        compact({"objects": data("knowlarity/calllog_page1.json")["objects"]}), compact({"meta": {}, "objects": []}))
    knowlarity["forbidden.txt"] = script(record(sample("knowlarity/error_forbidden_UNVERIFIED.json"), 403))
    knowlarity["server_error_then_ok.txt"] = script(record("Internal Server Error", 500, "Content-Type: text/plain"),
                                                    kn1, kn2)

    token = sample("google_ads/oauth_token_response.json")
    g1, g2 = sample("google_ads/search_lead_form_submission_page1.json"), \
        sample("google_ads/search_lead_form_submission_page2_last.json")
    unauthenticated = compact({"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                                         "status": "UNAUTHENTICATED"}})
    google_pages = seeds["fuzz_page_google"]
    google_pages["token_two_pages.txt"] = script(token, g1, g2)
    google_pages["login_customer.txt"] = script(token, g1, g2, flags="l")
    google_pages["quota_outlasting_the_budget.txt"] = script(
        token, record(sample("google_ads/error_quota_exhausted.json"), 429), g2)
    google_pages["quota_then_ok.txt"] = script(
        token, record(sample("google_ads/error_quota_exhausted.json").replace('"30s"', '"0s"'), 429), g2)
    google_pages["invalid_grant.txt"] = script(record(sample("google_ads/oauth_error_invalid_grant.json"), 400))
    google_pages["expired_access_token.txt"] = script(token, record(unauthenticated, 401), token, g2)
    google_pages["empty_result.txt"] = script(token, compact({"fieldMask": "leadFormSubmissionData.id"}))

    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    for harness, files in seeds.items():
        directory = CORPUS / harness
        directory.mkdir(parents=True)
        for name, text in files.items():
            (directory / name).write_text(text)
    print(f"wrote {sum(len(f) for f in seeds.values())} seeds under {CORPUS}")


if __name__ == "__main__":
    main()
