#!/usr/bin/env python3
"""Fake Meta Graph, Knowlarity and Google Ads APIs for testing leadsync-fetch.

One ThreadingHTTPServer on 127.0.0.1 serves all three platforms plus a control API
(/_control/...) for fault injection, request inspection and the generated dataset.
Python 3 standard library only; it never opens an outgoing connection.

    python3 fake_platforms.py --port 0 --port-file PATH [--seed S] [--page-size N] ...

See README.md next to this file for the endpoints, the fault rules and which
behaviours come from the platforms' documentation and which are invented.
"""

import argparse
import base64
import calendar
import datetime as dt
import email.utils
import hashlib
import http
import http.server
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlsplit

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
WINDOW_SECONDS = 48 * 3600  # every event lies in the 48 hours before the reference time


# ----------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------

class Response:
    """A complete HTTP response, built before any byte is sent so faults can mangle it."""

    def __init__(self, status, body=b"", content_type="application/json; charset=utf-8",
                 headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.headers = [("Content-Type", content_type)] + list(headers or [])


def json_response(status, obj, headers=None):
    return Response(status, json.dumps(obj, indent=1, ensure_ascii=False) + "\n", headers=headers)


def text_response(status, text, content_type="text/plain; charset=utf-8"):
    return Response(status, text, content_type=content_type)


def b64(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def unb64(token):
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def random_token(rng, length, alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"):
    return "".join(rng.choice(alphabet) for _ in range(length))


def utc_text_meta(ts):
    # Meta writes offsets without a colon: 2026-10-20T08:49:14+0000
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(ts))


def ist_text(ts):
    # Knowlarity and Google write local Indian time with a colon offset.
    return dt.datetime.fromtimestamp(ts, IST).strftime("%Y-%m-%d %H:%M:%S+05:30")


PHONE_STYLES = {
    "e164": lambda k: "+91" + k,
    "spaced": lambda k: "+91 %s %s" % (k[:5], k[5:]),
    "plain": lambda k: k,
    "zero": lambda k: "0" + k,
    "dashed": lambda k: "+91-%s-%s" % (k[:5], k[5:]),
    "cc": lambda k: "91" + k,
}

FIRST_NAMES = ["Rohit", "Priya", "Anil", "Sneha", "Imran", "Kavya", "Arjun", "Meera", "Vikram",
               "Ananya", "Suresh", "Pooja", "Rahul", "Divya", "Karthik", "Fatima", "Manoj",
               "Lakshmi", "Sanjay", "Neha", "Harpreet", "Aditi", "Joseph", "Ritu"]
LAST_NAMES = ["Sharma", "Nair", "Kumar", "Kulkarni", "Shaikh", "Reddy", "Iyer", "Patel", "Singh",
              "Gupta", "Menon", "Das", "Joshi", "Banerjee", "Pillai", "Khan", "Mehta", "Rao",
              "Chopra", "Verma", "Gill", "Desai", "Thomas", "Bose"]
CITIES = ["Pune", "Mumbai", "Bengaluru", "Chennai", "Hyderabad", "Nashik", "Kochi", "Delhi"]


# ----------------------------------------------------------------------------------------
# Dataset: deterministic from --seed; event times relative to the reference time
# ----------------------------------------------------------------------------------------

# Forms listed in this order, two per page, so the ARCHIVED one shares page 1 with an
# ACTIVE one. Each uses different field names, as real forms do.
META_FORMS = [
    {"name": "Home Loan Enquiry - Pune", "status": "ACTIVE", "name_fields": ["full_name"],
     "phone_field": "phone_number", "custom": ("preferred_loan_amount", ["upto_25_lakh", "25_to_50_lakh", "above_50_lakh"])},
    {"name": "Home Loan Enquiry - Pune - Sep (old)", "status": "ARCHIVED", "name_fields": ["full_name"],
     "phone_field": "phone_number", "custom": None},
    {"name": "Car Loan - Mumbai", "status": "ACTIVE", "name_fields": ["first_name", "last_name"],
     "phone_field": "phone", "custom": None},
    {"name": "Credit Card - Bengaluru", "status": "ACTIVE", "name_fields": ["name"],
     "phone_field": "phone_number_with_country_code", "custom": ("when_should_we_call_you?", ["morning", "evening", "weekend"])},
]
KNOWLARITY_NUMBERS = ["+919873762618", "+918047111111"]


class Dataset:
    """Every record each platform serves, plus the facts a test needs to predict rows."""

    def __init__(self, cfg, now):
        self.rng = random.Random(cfg.seed)
        self.cfg = cfg
        self.now = now
        self._used_phones = set()
        self._used_ids = set()
        self._build_meta(cfg.leads_per_form)
        self._build_knowlarity(cfg.calls)
        self._build_google(cfg.google_leads)

    # -- generators ------------------------------------------------------------------
    def _new_phone_key(self):
        while True:
            key = self.rng.choice("6789") + "".join(self.rng.choice("0123456789") for _ in range(9))
            if key not in self._used_phones:
                self._used_phones.add(key)
                return key

    def _new_numeric_id(self, prefix, digits=16):
        # Odd ids above 2**53: a fetcher that parses ids as doubles corrupts them.
        while True:
            body = prefix + "".join(self.rng.choice("0123456789") for _ in range(digits - len(prefix) - 1))
            value = body + self.rng.choice("13579")
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def _times(self, n):
        """n integer unix times evenly spread over the window, oldest first."""
        start = self.now - WINDOW_SECONDS
        return [start + int((i + 0.5) * WINDOW_SECONDS / n) for i in range(n)]

    def _person(self):
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    # -- Meta ------------------------------------------------------------------------
    def _build_meta(self, per_form):
        self.meta_page_id = self.cfg.meta_page_id
        self.meta_forms = []
        for i, spec in enumerate(META_FORMS):
            form_id = self._new_numeric_id("91")
            self.meta_forms.append({
                "id": form_id, "name": spec["name"], "status": spec["status"], "locale": "en_US",
                "created_time": utc_text_meta(self.now - (40 - i * 7) * 86400),
                "leads_count": per_form, "_spec": spec,
                "_campaign": self._new_numeric_id("1202", 18),
                "_ads": [self._new_numeric_id("1202", 18) for _ in range(2)],
            })
        # One global time line, dealt round-robin, so no two leads share a second.
        times = self._times(per_form * len(self.meta_forms))
        self.meta_leads = []  # descriptors, oldest first
        for j, ts in enumerate(times):
            form = self.meta_forms[j % len(self.meta_forms)]
            index = j // len(self.meta_forms)  # position of the lead within its form
            self.meta_leads.append(self._meta_lead(form, index, ts))
        # Same person filling two active forms: a duplicate within one source.
        dup = self._find_meta(3, 2)
        orig = self._find_meta(0, 2)
        if dup and orig:
            self._set_meta_phone(dup, orig["phone_key"], "cc")
            dup["note"] = "same phone as Meta lead %s (another form)" % orig["id"]
        self.meta_by_form = {f["id"]: [d for d in self.meta_leads if d["form_id"] == f["id"]]
                             for f in self.meta_forms}
        self.meta_by_id = {d["id"]: d for d in self.meta_leads}

    def _find_meta(self, form_index, index):
        form_id = self.meta_forms[form_index]["id"]
        for d in self.meta_leads:
            if d["form_id"] == form_id and d["index"] == index:
                return d
        return None

    def _meta_lead(self, form, index, ts):
        spec = form["_spec"]
        first, last = self._person()
        organic = index % 4 == 3
        key = self._new_phone_key()
        style = ["e164", "spaced", "plain", "zero"][(index + self.meta_forms.index(form)) % 4]
        record = {"created_time": utc_text_meta(ts), "id": self._new_numeric_id("92")}
        if not organic:
            record["ad_id"] = form["_ads"][index % 2]
        record["form_id"] = form["id"]
        if not organic:
            record["campaign_id"] = form["_campaign"]
        record["is_organic"] = organic
        record["platform"] = "ig" if index % 3 == 1 else "fb"
        fields = []
        if spec["name_fields"] == ["first_name", "last_name"]:
            fields += [{"name": "first_name", "values": [first]}, {"name": "last_name", "values": [last]}]
        else:
            fields.append({"name": spec["name_fields"][0], "values": [first + " " + last]})
        fields.append({"name": spec["phone_field"], "values": [PHONE_STYLES[style](key)]})
        fields.append({"name": "email", "values": ["%s.%s%d@example.com" % (first.lower(), last.lower(), index)]})
        if spec["custom"]:
            fields.append({"name": spec["custom"][0], "values": [self.rng.choice(spec["custom"][1])]})
        else:
            fields.append({"name": "city", "values": [self.rng.choice(CITIES)]})
        record["field_data"] = fields
        desc = {"id": record["id"], "form_id": form["id"], "form_status": form["status"],
                "index": index, "created_time": ts, "created_time_text": record["created_time"],
                "name": first + " " + last, "phone": PHONE_STYLES[style](key),
                "phone_key": key, "bad": None, "record": record}
        # A lead without any phone field (first form, second lead): must be rejected.
        if form is self.meta_forms[0] and index == 1:
            record["field_data"] = [f for f in fields if f["name"] != spec["phone_field"]]
            desc.update(phone=None, phone_key=None, bad="no phone field")
        return desc

    def _set_meta_phone(self, desc, key, style):
        form_id = desc["record"]["form_id"]
        spec = next(f["_spec"] for f in self.meta_forms if f["id"] == form_id)
        for f in desc["record"]["field_data"]:
            if f["name"] == spec["phone_field"]:
                f["values"] = [PHONE_STYLES[style](key)]
                desc["phone"], desc["phone_key"] = f["values"][0], key

    def _shared_meta_phone(self, k):
        """k-th distinct phone of the valid leads of ACTIVE forms (oldest first), or None.
        The pool is built once per state of meta_leads (final once _build_meta returns):
        rebuilding it per call made large data sets quadratic."""
        cached = getattr(self, "_meta_phone_pool", None)
        if cached is None or cached[0] != len(self.meta_leads):
            pool, seen = [], set()
            for d in self.meta_leads:
                key = d["phone_key"]
                if d["form_status"] == "ACTIVE" and key and key not in seen:
                    seen.add(key)
                    pool.append(key)
            cached = (len(self.meta_leads), pool)
            self._meta_phone_pool = cached
        pool = cached[1]
        return pool[k % len(pool)] if pool else None

    # -- Knowlarity ------------------------------------------------------------------
    def _build_knowlarity(self, n):
        self.knowlarity_calls = []
        for i, ts in enumerate(self._times(n)):
            shared = None
            if i % 5 == 0:  # every 5th call comes from a Meta lead's phone (cross-source)
                shared = self._shared_meta_phone(i // 5)
            key = shared or self._new_phone_key()
            number = KNOWLARITY_NUMBERS[1] if i % 3 == 2 else KNOWLARITY_NUMBERS[0]
            kind = i % 4  # 0 missed (Call Missed), 1 answered, 2 answered, 3 missed (NA)
            call_uuid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            agent = "+91" + self._new_phone_key()
            record = {
                "uuid": call_uuid,
                "customer_number": "+91" + key,
                "caller_id": "+91" + key,
                "knowlarity_number": number,
                "agent_number": {0: "Call Missed", 3: "NA"}.get(kind, agent),
                "destination": "" if kind in (0, 3) else agent,
                "business_call_type": "Missed Call" if kind in (0, 3) else "Call Group",
                "start_time": ist_text(ts),
                "call_duration": 0 if kind in (0, 3) else 20 + self.rng.randrange(600),
                "call_recording": "" if kind in (0, 3) else
                "https://recordings.example.invalid/%s.mp3" % call_uuid,
                "extension": "" if kind in (0, 3) else str(1 + i % 3),
            }
            desc = {"uuid": call_uuid, "start_time": ts, "start_time_text": record["start_time"],
                    "knowlarity_number": number, "phone": record["customer_number"],
                    "phone_key": key, "shared_with_meta": bool(shared), "bad": None, "record": record}
            if i == 1:  # a 5-digit number (an IVR test call): must be rejected
                record["customer_number"] = record["caller_id"] = "12345"
                desc.update(phone="12345", phone_key=None, bad="phone too short")
            elif i == 2:  # customer_number empty: the phone is caller_id
                record["customer_number"] = ""
                desc["note"] = "customer_number empty, phone in caller_id"
            self.knowlarity_calls.append(desc)

    # -- Google ----------------------------------------------------------------------
    def _build_google(self, n):
        cid = self.cfg.google_customer_id
        self.google_customer_id = cid
        campaign = "customers/%s/campaigns/%s" % (cid, self._new_numeric_id("219", 11))
        ad_group = self._new_numeric_id("1555", 12)
        self.google_leads = []
        for i, ts in enumerate(self._times(n)):
            shared = None
            if i % 5 == 0:  # every 5th submission reuses a Meta phone (and often a call's)
                shared = self._shared_meta_phone(i // 5 + 1)
            key = shared or self._new_phone_key()
            # Shared phones in another spelling than Meta's, so matching needs normalizing.
            style = "zero" if shared else ["e164", "zero", "dashed"][i % 3]
            first, last = self._person()
            gid = "CgkI" + random_token(self.rng, 12, "abcdefghijklmnopqrstuvwxyz0123456789")
            fields = []
            if i % 4 == 1:
                fields += [{"fieldType": "FIRST_NAME", "fieldValue": first},
                           {"fieldType": "LAST_NAME", "fieldValue": last}]
            else:
                fields.append({"fieldType": "FULL_NAME", "fieldValue": first + " " + last})
            fields.append({"fieldType": "PHONE_NUMBER", "fieldValue": PHONE_STYLES[style](key)})
            fields.append({"fieldType": "EMAIL", "fieldValue": "%s.%s@example.com" % (first.lower(), last.lower())})
            record = {
                "resourceName": "customers/%s/leadFormSubmissionData/%s" % (cid, gid),
                "id": gid,
                "asset": "customers/%s/assets/%s" % (cid, self._new_numeric_id("98", 11)),
                "campaign": campaign,
                "adGroup": "customers/%s/adGroups/%s" % (cid, ad_group),
                "adGroupAd": "customers/%s/adGroupAds/%s~%s" % (cid, ad_group, self._new_numeric_id("7123", 12)),
                "gclid": "Cj0KCQjw-" + random_token(self.rng, 20),
                "submissionDateTime": ist_text(ts),
                "leadFormSubmissionFields": fields,
            }
            if i % 2 == 0:
                record["customLeadFormSubmissionFields"] = [
                    {"questionText": "Which service are you interested in?",
                     "fieldValue": self.rng.choice(["Home loan", "Car loan", "Credit card"])}]
            desc = {"id": gid, "resource_name": record["resourceName"], "submission_time": ts,
                    "submission_date_time": record["submissionDateTime"], "name": first + " " + last,
                    "phone": PHONE_STYLES[style](key), "phone_key": key,
                    "shared_with_meta": bool(shared), "bad": None, "record": record}
            if i == 1:  # the user typed "n/a": must be rejected
                for f in fields:
                    if f["fieldType"] == "PHONE_NUMBER":
                        f["fieldValue"] = "n/a"
                desc.update(phone="n/a", phone_key=None, bad="phone too short")
            self.google_leads.append(desc)

    # -- /_control/data --------------------------------------------------------------
    def describe(self):
        def clean(d):
            return {k: v for k, v in d.items() if not k.startswith("_")}
        owners = {}
        for d in self.meta_leads:
            owners.setdefault(d["phone_key"], []).append("meta:" + d["id"])
        for d in self.knowlarity_calls:
            owners.setdefault(d["phone_key"], []).append("knowlarity:" + d["uuid"])
        for d in self.google_leads:
            owners.setdefault(d["phone_key"], []).append("google:" + d["id"])
        return {
            "now": self.now, "seed": self.cfg.seed, "window_seconds": WINDOW_SECONDS,
            "page_size": self.cfg.page_size,
            "phone_key_rule": "last ten digits of the phone (leadsync normalize_phone); null = rejected",
            "meta": {"page_id": self.meta_page_id, "token": self.cfg.meta_token,
                     "forms": [clean(f) for f in self.meta_forms],
                     "leads": [clean(d) for d in self.meta_leads]},
            "knowlarity": {"channel": self.cfg.knowlarity_channel, "numbers": KNOWLARITY_NUMBERS,
                           "calls": self.knowlarity_calls},
            "google": {"customer_id": self.google_customer_id, "leads": self.google_leads},
            "shared_phone_keys": {k: v for k, v in owners.items() if k and len(v) > 1},
        }


# ----------------------------------------------------------------------------------------
# Incoming request (parsed once, logged, matched by faults, routed)
# ----------------------------------------------------------------------------------------

class Request:
    def __init__(self, method, target, headers, body):
        parts = urlsplit(target)
        self.method = method
        self.raw_path = parts.path
        self.path = unquote(parts.path)  # e.g. googleAds%3Asearch -> googleAds:search
        self.query = parts.query
        # parse_qs turns a literal '+' into a space, exactly as a real server would.
        self.params = parse_qs(parts.query, keep_blank_values=True)
        self.pairs = parse_qsl(parts.query, keep_blank_values=True)
        self.headers = {}
        for name, value in headers.items():
            name = name.lower()
            self.headers[name] = self.headers[name] + ", " + value if name in self.headers else value
        self.body = body

    def param(self, name):
        values = self.params.get(name)
        return values[0] if values else None

    def json_body(self):
        return json.loads(self.body.decode("utf-8"))

    def log_entry(self):
        return {"method": self.method, "path": self.path, "query": self.query,
                "params": self.params, "headers": self.headers,
                "body": self.body.decode("utf-8", "replace")}


# ----------------------------------------------------------------------------------------
# Meta Graph API (/meta/vNN.N/...)
# ----------------------------------------------------------------------------------------

class MetaApi:
    FORM_FIELDS = {"id", "name", "status", "locale", "created_time", "leads_count", "page",
                   "questions", "expired_leads_count", "organic_leads_count",
                   "privacy_policy_url", "follow_up_action_url", "allow_organic_lead",
                   "block_display_for_non_targeted_viewer", "is_optimized_for_quality",
                   "tracking_parameters", "thank_you_page", "context_card", "legal_content"}
    FORM_DEFAULT = ["id", "locale", "name", "status"]
    LEAD_FIELDS = {"id", "created_time", "ad_id", "ad_name", "adset_id", "adset_name",
                   "campaign_id", "campaign_name", "form_id", "is_organic", "platform",
                   "field_data", "custom_disclaimer_responses", "home_listing", "partner_name",
                   "post", "retailer_item_id", "vehicle", "inbox_url", "is_test"}
    LEAD_DEFAULT = ["created_time", "id", "field_data"]
    # Meta's filtering operator enum. Only GREATER_THAN / LESS_THAN are documented for
    # leads; the rest are accepted and, like a wrong field name, silently ignored.
    OPERATORS = {"EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN",
                 "LESS_THAN_OR_EQUAL", "IN_RANGE", "NOT_IN_RANGE", "CONTAIN", "NOT_CONTAIN",
                 "IN", "NOT_IN", "STARTS_WITH", "ENDS_WITH", "ANY", "ALL", "AFTER", "BEFORE",
                 "ON_OR_AFTER", "ON_OR_BEFORE", "NONE", "TOP"}
    FORMS_PER_PAGE = 2

    def __init__(self, cfg, data, base_url):
        self.cfg = cfg
        self.data = data
        self.base_url = base_url
        self.rng = random.Random()
        # A form's filtered, projected leads per (form, fields, filtering): the dataset is
        # immutable, and re-filtering a whole form for each page of a 100k-lead form made
        # paging quadratic. A dict's get and set are atomic under the server's threads.
        self.filtered_leads = {}

    # -- errors ----------------------------------------------------------------------
    def error(self, code, message, etype="OAuthException", subcode=None, status=400, headers=None,
              transient=None):
        err = {"message": message, "type": etype, "code": code}
        if subcode is not None:
            err["error_subcode"] = subcode
        if transient is not None:
            err["is_transient"] = transient
        err["fbtrace_id"] = "A" + random_token(self.rng, 22)
        return json_response(status, {"error": err}, headers)

    def throttle_error(self, code, regain_minutes, object_id):
        messages = {4: "(#4) Application request limit reached",
                    17: "(#17) User request limit reached",
                    32: "(#32) Page request limit reached",
                    613: "(#613) Calls to this api have exceeded the rate limit."}
        usage = {object_id or "0": [{"type": "pages", "call_count": 100, "total_cputime": 41,
                                     "total_time": 57,
                                     "estimated_time_to_regain_access": regain_minutes}]}
        headers = [("X-Business-Use-Case-Usage", json.dumps(usage, separators=(",", ":"))),
                   ("X-App-Usage", '{"call_count":100,"total_cputime":41,"total_time":57}')]
        return self.error(code, messages.get(code, "(#%d) There have been too many calls" % code),
                          headers=headers, transient=True)

    # -- routing ---------------------------------------------------------------------
    def handle(self, req):
        m = re.fullmatch(r"/meta/(v\d+\.\d+)/([^/]+)(?:/([^/]+))?/?", req.path)
        if not m:
            return self.error(100, "Unknown path components: %s" % req.path)
        token = req.param("access_token")
        auth = req.headers.get("authorization", "")
        if token is None and auth.split(" ", 1)[0] in ("OAuth", "Bearer"):
            token = auth.split(" ", 1)[1].strip()  # Graph also takes the token in a header
        if token != self.cfg.meta_token:
            return self.error(190, "Invalid OAuth access token.")
        if req.method != "GET":
            return self.error(100, "Unsupported %s request." % req.method.lower(), "GraphMethodException")
        node, edge = m.group(2), m.group(3)
        forms = {f["id"]: f for f in self.data.meta_forms}
        if node == self.data.meta_page_id:
            if edge == "leadgen_forms":
                return self.list_forms(req, token)
            if edge is None:
                return json_response(200, {"id": node, "name": "Leadsync Test Page"})
            return self.error(100, "(#100) Tried accessing nonexisting field (%s) on node type (Page)" % edge)
        if node in forms:
            if edge == "leads":
                return self.list_leads(req, forms[node], token)
            if edge is None:
                return self.project_one(req, forms[node], self.FORM_FIELDS, self.FORM_DEFAULT, "LeadgenForm")
            return self.error(100, "(#100) Tried accessing nonexisting field (%s) on node type (LeadgenForm)" % edge)
        if node in self.data.meta_by_id and edge is None:  # GET /{leadgen_id} (webhook flow)
            return self.project_one(req, self.data.meta_by_id[node]["record"], self.LEAD_FIELDS,
                                    self.LEAD_DEFAULT, "Lead")
        return self.error(100, "Unsupported get request. Object with ID '%s' does not exist, cannot be "
                               "loaded due to missing permissions, or does not support this operation. "
                               "Please read the Graph API documentation at "
                               "https://developers.facebook.com/docs/graph-api" % node,
                          "GraphMethodException", subcode=33)

    # -- field selection -------------------------------------------------------------
    def wanted_fields(self, req, allowed, default, node_type):
        """(list of field names, None) or (None, error response)."""
        raw = req.param("fields")
        if raw is None or raw == "":
            return default, None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        for n in names:
            if n.split("{")[0] not in allowed:
                return None, self.error(100, "(#100) Tried accessing nonexisting field (%s) on node type (%s)"
                                        % (n, node_type))
        return [n.split("{")[0] for n in names], None

    @staticmethod
    def project(obj, fields):
        # Graph returns only the asked fields (id always), in the object's own order;
        # fields the object lacks (ad_id of an organic lead) are simply absent.
        return {k: v for k, v in obj.items() if not k.startswith("_") and (k in fields or k == "id")}

    def project_one(self, req, obj, allowed, default, node_type):
        fields, err = self.wanted_fields(req, allowed, default, node_type)
        return err or json_response(200, self.project(obj, fields))

    # -- pagination ------------------------------------------------------------------
    def page(self, req, items, size, kind, token):
        """Cursor pagination: cursors.before/after name the first/last item of the page;
        paging.next (absolute, carrying the token) only when more items exist."""
        start = 0
        after, before = req.param("after"), req.param("before")
        end = None
        for cursor, is_after in ((after, True), (before, False)):
            if cursor is None:
                continue
            decoded = unb64(cursor) or ""
            m = re.fullmatch(kind + r":(\d+)", decoded)
            if not m:
                return None, self.error(100, "(#100) The after/before cursor is invalid: %s" % cursor)
            if is_after:
                start = int(m.group(1)) + 1
            else:
                end = int(m.group(1))
                start = max(0, end - size)
        chunk = items[start:start + size] if end is None else items[start:end]
        body = {"data": chunk}
        if chunk:  # an empty edge is just {"data": []}
            last = start + len(chunk) - 1
            body["paging"] = {"cursors": {"before": b64("%s:%d" % (kind, start)),
                                          "after": b64("%s:%d" % (kind, last))}}
            if last + 1 < len(items):
                body["paging"]["next"] = self.next_url(req, b64("%s:%d" % (kind, last)), token)
        return body, None

    def next_url(self, req, cursor, token):
        pairs = [(k, v) for k, v in req.pairs if k not in ("after", "before", "access_token")]
        pairs += [("after", cursor), ("access_token", token)]
        query = "&".join("%s=%s" % (quote(k, safe=""), quote(v, safe=",")) for k, v in pairs)
        return "%s%s?%s" % (self.base_url(), req.raw_path, query)

    def limit(self, req, default):
        raw = req.param("limit")
        if raw is None or raw == "":
            return default, None
        try:
            value = int(raw)
        except ValueError:
            return None, self.error(100, "(#100) param limit must be a number")
        return (value if value > 0 else default), None

    # -- edges -----------------------------------------------------------------------
    def list_forms(self, req, token):
        fields, err = self.wanted_fields(req, self.FORM_FIELDS, self.FORM_DEFAULT, "LeadgenForm")
        if err:
            return err
        limit, err = self.limit(req, self.FORMS_PER_PAGE)
        if err:
            return err
        items = [self.project(f, fields) for f in self.data.meta_forms]
        body, err = self.page(req, items, min(limit, self.FORMS_PER_PAGE), "forms", token)
        return err or json_response(200, body)

    def list_leads(self, req, form, token):
        fields, err = self.wanted_fields(req, self.LEAD_FIELDS, self.LEAD_DEFAULT, "Lead")
        if err:
            return err
        limit, err = self.limit(req, 25)
        if err:
            return err
        conditions, err = self.parse_filtering(req.param("filtering"))
        if err:
            return err
        key = (form["id"], tuple(fields) if fields is not None else None, tuple(conditions))
        leads = self.filtered_leads.get(key)
        if leads is None:
            leads = []
            for d in reversed(self.data.meta_by_form[form["id"]]):  # Meta lists newest first
                ts = d["created_time"]
                if all((ts > v) if op == "GREATER_THAN" else (ts < v) for op, v in conditions):
                    leads.append(self.project(d["record"], fields))
            self.filtered_leads[key] = leads
        body, err = self.page(req, leads, min(limit, self.cfg.page_size), "leads", token)
        return err or json_response(200, body)

    def parse_filtering(self, raw):
        """Meta semantics: only field time_created with an integer (unix seconds) value
        filters; an ISO string, another field name (created_time!) or another operator
        is silently ignored, so the edge returns everything."""
        if raw is None or raw == "":
            return [], None
        try:
            entries = json.loads(raw)
        except ValueError:
            return None, self.error(100, "(#100) param filtering must be an array.")
        if not isinstance(entries, list):
            return None, self.error(100, "(#100) param filtering must be an array.")
        conditions = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not {"field", "operator", "value"} <= set(e):
                return None, self.error(100, "(#100) param filtering[%d] must be an object with keys "
                                             "field, operator, value" % i)
            if e["operator"] not in self.OPERATORS:
                return None, self.error(100, "(#100) filtering[%d][operator] must be one of the following "
                                             "values: %s" % (i, ", ".join(sorted(self.OPERATORS))))
            value = e["value"]
            if isinstance(value, str) and value.isdigit():
                value = int(value)  # numeric strings are accepted like numbers
            if (e["field"] != "time_created" or e["operator"] not in ("GREATER_THAN", "LESS_THAN")
                    or isinstance(value, bool) or not isinstance(value, (int, float))):
                continue
            conditions.append((e["operator"], value))
        return conditions, None


# ----------------------------------------------------------------------------------------
# Knowlarity call logs (/knowlarity/{channel}/v1/account/calllog)
# ----------------------------------------------------------------------------------------

class KnowlarityApi:
    TIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})([+-]\d{2}:\d{2})?")

    def __init__(self, cfg, data):
        self.cfg = cfg
        self.data = data

    def handle(self, req):
        m = re.fullmatch(r"/knowlarity/([^/]+)/v1/account/calllog/?", req.path)
        if not m or req.method != "GET":
            return json_response(404, {"message": "Not Found"})
        if (req.headers.get("x-api-key") != self.cfg.knowlarity_key
                or req.headers.get("authorization") != self.cfg.knowlarity_token):
            return json_response(403, {"message": "Forbidden"})
        if m.group(1) != self.cfg.knowlarity_channel:
            return json_response(404, {"message": "Not Found"})
        bounds = []
        for name in ("start_time", "end_time"):
            ts, err = self.parse_time(name, req.param(name))
            if err:
                return err
            bounds.append(ts)
        try:
            limit = int(req.param("limit") or self.cfg.page_size)
            offset = int(req.param("offset") or 0)
        except ValueError:
            return json_response(400, {"message": "limit and offset must be integers"})
        if limit < 1 or offset < 0:
            return json_response(400, {"message": "limit must be positive and offset not negative"})
        # knowlarity_number and other filters are ignored on purpose: they are unverified,
        # so a fetcher must filter numbers itself.
        calls = [d["record"] for d in self.data.knowlarity_calls
                 if bounds[0] <= d["start_time"] <= bounds[1]]
        size = min(limit, self.cfg.page_size)
        return json_response(200, {
            "meta": {"limit": size, "next": "", "offset": offset, "previous": "",
                     "total_count": len(calls)},
            "objects": calls[offset:offset + size]})

    def parse_time(self, name, raw):
        """'YYYY-MM-DD HH:MM:SS+05:30'; no offset means IST. An unencoded '+' arrives as a
        space ('... 00:00:01 05:30') and is refused, which catches a fetcher that forgot
        to percent-encode it."""
        if raw is None:
            return None, json_response(400, {"message": "%s is required" % name})
        m = self.TIME_RE.fullmatch(raw)
        if not m:
            return None, json_response(400, {"message": "Invalid %s %r: expected YYYY-MM-DD HH:MM:SS+05:30"
                                                        % (name, raw)})
        try:
            when = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
            offset = m.group(2) or "+05:30"
            sign = 1 if offset[0] == "+" else -1
            tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        except ValueError:
            return None, json_response(400, {"message": "Invalid %s %r" % (name, raw)})
        return int(when.replace(tzinfo=tz).timestamp()), None


# ----------------------------------------------------------------------------------------
# Google Ads (/google/token and /google/vNN/customers/{id}/googleAds:search)
# ----------------------------------------------------------------------------------------

class GoogleApi:
    LFSD_FIELDS = {"resource_name", "id", "asset", "campaign", "ad_group", "ad_group_ad", "gclid",
                   "submission_date_time", "lead_form_submission_fields",
                   "custom_lead_form_submission_fields", "local_services_lead",
                   "local_services_lead_conversation"}
    MISSING_CREDENTIAL = "Request is missing required authentication credential."
    INVALID_CREDENTIAL = "Request had invalid authentication credentials."

    def __init__(self, cfg, data):
        self.cfg = cfg
        self.data = data
        self.lock = threading.Lock()
        self.tokens = {}  # access token -> monotonic expiry
        self.issued = 0
        self.rng = random.Random()

    # -- errors ----------------------------------------------------------------------
    def error(self, http_status, status, message, ads_error=None, version="v21"):
        err = {"code": http_status, "message": message, "status": status}
        if ads_error:
            err["details"] = [{
                "@type": "type.googleapis.com/google.ads.googleads.%s.errors.GoogleAdsFailure" % version,
                "errors": [{"errorCode": ads_error[0], "message": ads_error[1]}],
                "requestId": random_token(self.rng, 22)}]
        return json_response(http_status, {"error": err})

    def quota_error(self, retry_delay, version="v21"):
        seconds = retry_delay.rstrip("s")
        body = {"error": {
            "code": 429, "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{
                "@type": "type.googleapis.com/google.ads.googleads.%s.errors.GoogleAdsFailure" % version,
                "errors": [{
                    "errorCode": {"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"},
                    "message": "Too many requests. Retry in %s seconds." % seconds,
                    "details": {"quotaErrorDetails": {
                        "rateScope": "DEVELOPER", "rateName": "Requests per developer per minute",
                        "retryDelay": retry_delay}}}],
                "requestId": random_token(self.rng, 22)}]}}
        return json_response(429, body)

    def revoke_all(self):
        with self.lock:
            self.tokens.clear()

    # -- routing ---------------------------------------------------------------------
    def handle(self, req):
        if req.path.rstrip("/") == "/google/token":
            if req.method != "POST":
                return json_response(405, {"error": "invalid_request",
                                           "error_description": "Only POST is supported"})
            return self.token(req)
        m = re.fullmatch(r"/google/(v\d+)/customers/([^/]+)/googleAds:search", req.path)
        if not m or req.method != "POST":
            return self.error(404, "NOT_FOUND", "The requested URL %s was not found." % req.path)
        return self.search(req, m.group(1), m.group(2))

    # -- OAuth token endpoint --------------------------------------------------------
    def token(self, req):
        ctype = req.headers.get("content-type", "")
        try:
            if "json" in ctype:
                form = {k: str(v) for k, v in req.json_body().items()}
            else:
                form = dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
        except (ValueError, AttributeError):
            return json_response(400, {"error": "invalid_request", "error_description": "Bad request body"})
        if form.get("grant_type") != "refresh_token":
            return json_response(400, {"error": "unsupported_grant_type",
                                       "error_description": "Invalid grant_type: %s" % form.get("grant_type", "")})
        if not form.get("client_id"):
            return json_response(400, {"error": "invalid_request",
                                       "error_description": "Could not determine client ID from request."})
        if ((self.cfg.google_client_id and form.get("client_id") != self.cfg.google_client_id)
                or (self.cfg.google_client_secret and form.get("client_secret") != self.cfg.google_client_secret)
                or not form.get("client_secret")):
            return json_response(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("refresh_token") != self.cfg.google_refresh_token:
            return json_response(400, {"error": "invalid_grant",
                                       "error_description": "Token has been expired or revoked."})
        with self.lock:
            self.issued += 1
            token = "ya29.fake-%d-%s" % (self.issued, random_token(self.rng, 24))
            self.tokens[token] = time.monotonic() + self.cfg.google_token_ttl
        return json_response(200, {"access_token": token, "expires_in": self.cfg.google_token_ttl,
                                   "scope": "https://www.googleapis.com/auth/adwords",
                                   "token_type": "Bearer"},
                             headers=[("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")])

    def auth_error(self, req):
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return self.error(401, "UNAUTHENTICATED", self.MISSING_CREDENTIAL)
        with self.lock:
            expiry = self.tokens.get(auth[7:].strip())
        if expiry is None or expiry < time.monotonic():
            return self.error(401, "UNAUTHENTICATED", self.INVALID_CREDENTIAL)
        return None

    # -- googleAds:search ------------------------------------------------------------
    def search(self, req, version, customer_id):
        err = self.auth_error(req)
        if err:
            return err
        if not customer_id.isdigit():
            return self.error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                              ({"requestError": "INVALID_CUSTOMER_ID"},
                               "Invalid customer ID '%s'." % customer_id), version)
        if customer_id != self.data.google_customer_id:
            return self.error(403, "PERMISSION_DENIED", "The caller does not have permission",
                              ({"authorizationError": "USER_PERMISSION_DENIED"},
                               "User doesn't have permission to access customer."), version)
        try:
            body = req.json_body()
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return self.error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            return self.error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                              ({"queryError": "UNEXPECTED_END_OF_QUERY"}, "Query is empty."), version)
        plan, err = self.parse_gaql(query, version)
        if err:
            return err
        rows = [d for d in self.data.google_leads
                if all(self.compare(d["submission_time"], op, v) for op, v in plan["conditions"])]
        rows.sort(key=lambda d: d["submission_time"], reverse=plan["desc"])
        if plan["limit"] is not None:
            rows = rows[:plan["limit"]]
        # The page token is bound to the query, as Google's are.
        qhash = hashlib.sha256(query.encode()).hexdigest()[:12]
        offset = 0
        if body.get("pageToken"):
            m = re.fullmatch(r"(\d+):" + qhash, unb64(str(body["pageToken"])) or "")
            if not m:
                return self.error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                                  ({"requestError": "INVALID_PAGE_TOKEN"}, "Page token is invalid."), version)
            offset = int(m.group(1))
        chunk = rows[offset:offset + self.cfg.page_size]
        out = {}
        if chunk:  # proto3 JSON omits an empty repeated field: no rows = no "results"
            out["results"] = [{"leadFormSubmissionData": self.project(d["record"], plan["fields"])}
                              for d in chunk]
        if offset + len(chunk) < len(rows):
            out["nextPageToken"] = b64("%d:%s" % (offset + len(chunk), qhash))
        out["fieldMask"] = ",".join("leadFormSubmissionData." + self.camel(f) for f in plan["fields"])
        return json_response(200, out)

    @staticmethod
    def camel(name):
        return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)

    def project(self, record, fields):
        keys = {"resourceName"} | {self.camel(f) for f in fields}
        return {k: v for k, v in record.items() if k in keys}

    @staticmethod
    def compare(ts, op, value):
        return {">=": ts >= value, "<=": ts <= value, ">": ts > value, "<": ts < value,
                "=": ts == value}[op]

    def parse_gaql(self, query, version):
        """Just enough GAQL: the SELECT list, submission_date_time comparisons in WHERE
        (a naive literal is taken as UTC), ORDER BY ... DESC and LIMIT."""
        def bad(code, message):
            return None, self.error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                                    ({"queryError": code}, message), version)
        if not re.search(r"\bFROM\s+lead_form_submission_data\b", query, re.I):
            return bad("PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE",
                       "This fake only serves queries FROM lead_form_submission_data.")
        m = re.match(r"\s*SELECT\s+(.*?)\s+FROM\s", query, re.I | re.S)
        if not m:
            return bad("EXPECTED_SELECT", "Expected SELECT.")
        fields = []
        for item in m.group(1).split(","):
            item = item.strip()
            if not item.startswith("lead_form_submission_data."):
                continue  # fields of other resources are accepted and not returned
            name = item.split(".", 1)[1]
            if name not in self.LFSD_FIELDS:
                return bad("UNRECOGNIZED_FIELD", "Unrecognized field in the query: '%s'." % item)
            fields.append(name)
        conditions = []
        for c in re.finditer(r"lead_form_submission_data\.submission_date_time\s*(>=|<=|>|<|=)\s*(['\"])(.*?)\2",
                             query, re.I):
            ts = self.parse_literal(c.group(3))
            if ts is None:
                return bad("BAD_VALUE_IN_WHERE_CLAUSE",
                           "Invalid date time value '%s'." % c.group(3))
            conditions.append((c.group(1), ts))
        desc = bool(re.search(r"ORDER\s+BY\s+lead_form_submission_data\.submission_date_time\s+DESC", query, re.I))
        lim = re.search(r"\bLIMIT\s+(\d+)\s*$", query, re.I)
        return {"fields": fields, "conditions": conditions, "desc": desc,
                "limit": int(lim.group(1)) if lim else None}, None

    @staticmethod
    def parse_literal(text):
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
            try:
                return calendar.timegm(time.strptime(text, fmt))
            except ValueError:
                pass
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return int(when.timestamp())


# ----------------------------------------------------------------------------------------
# Fault injection rules
# ----------------------------------------------------------------------------------------

# Faults answered instead of the real handler ("pre") or applied to its response ("post").
PRE_FAULTS = {"status500", "status429", "meta_throttle", "meta_transient", "meta_token_expired",
              "meta_permission", "google_quota", "google_unauthenticated", "stall", "html",
              "knowlarity_forbidden"}
POST_FAULTS = {"malformed_json", "missing_data", "close_mid_body", "slow_bytes"}


class FaultBook:
    """Rules in insertion order. Each rule counts the requests matching it on its own; the
    first rule whose window (after K passes, N faults) covers the request wins."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def add(self, spec):
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
            raise ValueError("a rule is an object with a string 'path'")
        if spec.get("fault") not in PRE_FAULTS | POST_FAULTS:
            raise ValueError("unknown fault %r; known: %s" % (spec.get("fault"),
                                                              ", ".join(sorted(PRE_FAULTS | POST_FAULTS))))
        for key in ("times", "after"):
            if key in spec and not isinstance(spec[key], int):
                raise ValueError("%s must be an integer" % key)
        rule = dict(spec)
        rule.setdefault("times", 1)  # negative = forever
        rule.setdefault("after", 0)
        rule["seen"] = 0
        rule["fired"] = 0
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self):
        with self.lock:
            self.rules = []

    def snapshot(self):
        with self.lock:
            return [dict(r) for r in self.rules]

    def pick(self, req):
        chosen = None
        with self.lock:
            for rule in self.rules:
                if rule["path"] not in req.path:
                    continue
                if rule.get("method") and rule["method"].upper() != req.method:
                    continue
                if rule.get("query") and rule["query"] not in req.query:
                    continue
                rule["seen"] += 1
                n = rule["seen"] - rule["after"]
                if chosen is None and n >= 1 and (rule["times"] < 0 or n <= rule["times"]):
                    rule["fired"] += 1
                    chosen = dict(rule)
        return chosen


def fault_response(rule, req, meta, google):
    """The response of a PRE fault (None for stall, which sends nothing)."""
    name = rule["fault"]
    version = (re.search(r"/google/(v\d+)/", req.path) or [None, "v21"])[1]
    object_id = (re.match(r"/meta/v[\d.]+/([^/]+)", req.path) or [None, None])[1]
    if name == "status500":
        return text_response(500, "Internal Server Error\n")
    if name == "status429":
        headers = [("Retry-After", str(rule["retry_after"]))] if "retry_after" in rule else []
        return json_response(429, {"message": "Too Many Requests"}, headers)
    if name == "meta_throttle":
        return meta.throttle_error(int(rule.get("code", 4)), rule.get("regain_minutes", 0), object_id)
    if name == "meta_transient":
        return meta.error(int(rule.get("code", 2)),
                          "An unexpected error has occurred. Please retry your request later.",
                          transient=True)
    if name == "meta_token_expired":
        return meta.error(190, "Error validating access token: Session has expired.", subcode=463)
    if name == "meta_permission":
        code = int(rule.get("code", 200))
        return meta.error(code, "(#%d) Requires leads_retrieval permission to manage the object" % code)
    if name == "google_quota":
        return google.quota_error(str(rule.get("retry_delay", "1s")), version)
    if name == "google_unauthenticated":
        return google.error(401, "UNAUTHENTICATED", google.INVALID_CREDENTIAL)
    if name == "knowlarity_forbidden":
        return json_response(403, {"message": "Forbidden"})
    if name == "html":
        status = int(rule.get("status", 502))
        phrase = http.HTTPStatus(status).phrase
        page = ("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n"
                "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n" % (status, phrase, status, phrase))
        return text_response(status, page, "text/html")
    return None  # stall


def strip_arrays(resp):
    """missing_data: the same JSON without its data/objects/results array."""
    try:
        obj = json.loads(resp.body)
    except ValueError:
        return resp
    if isinstance(obj, dict):
        for key in ("data", "objects", "results"):
            obj.pop(key, None)
    return json_response(200, obj)


# ----------------------------------------------------------------------------------------
# HTTP plumbing
# ----------------------------------------------------------------------------------------

class FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True       # a stalled handler never delays shutdown
    request_queue_size = 64

    def __init__(self, cfg, now):
        super().__init__(("127.0.0.1", cfg.port), Handler)
        self.cfg = cfg
        self.stopping = threading.Event()
        self.data = Dataset(cfg, now)
        self.meta = MetaApi(cfg, self.data, lambda: "http://127.0.0.1:%d" % self.server_port)
        self.knowlarity = KnowlarityApi(cfg, self.data)
        self.google = GoogleApi(cfg, self.data)
        self.faults = FaultBook()
        self.log_lock = threading.Lock()
        self.request_log = []

    def handle_error(self, request, client_address):
        # Clients hanging up mid-response are normal here (timeouts, stall tests).
        if self.cfg.verbose:
            super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as libcurl expects
    server_version = "fake-platforms/1"
    sys_version = ""
    timeout = 60                    # idle keep-alive connections are dropped

    def do_GET(self):
        self.dispatch()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_GET

    def log_message(self, fmt, *args):
        if self.server.cfg.verbose:
            sys.stderr.write("fake_platforms: " + (fmt % args) + "\n")

    # -- request body ----------------------------------------------------------------
    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- dispatch --------------------------------------------------------------------
    def dispatch(self):
        srv = self.server
        try:
            req = Request(self.command, self.path, self.headers, self.read_body())
        except (ValueError, OSError):
            self.close_connection = True
            return
        if req.path.startswith("/_control"):
            return self.send(self.control(req))
        entry = req.log_entry()
        entry["time"] = time.time()
        entry["fault"] = None
        entry["status"] = None
        with srv.log_lock:
            entry["seq"] = len(srv.request_log) + 1
            srv.request_log.append(entry)
        rule = srv.faults.pick(req)
        mode = None
        try:
            if rule and rule["fault"] in PRE_FAULTS:
                entry["fault"] = rule["fault"]
                resp = fault_response(rule, req, srv.meta, srv.google)
                if resp is None:
                    return self.stall(float(rule.get("seconds", 30)), entry)
            else:
                resp = self.route(req)
                if rule:
                    entry["fault"] = mode = rule["fault"]
                    if mode == "malformed_json":
                        resp = Response(200, resp.body[:max(1, len(resp.body) // 2)])
                    elif mode == "missing_data":
                        resp = strip_arrays(resp)
        except Exception:  # a bug in the fake: say so loudly, answer 500
            traceback.print_exc()
            resp = text_response(500, "fake_platforms internal error:\n" + traceback.format_exc())
        entry["status"] = resp.status
        if srv.cfg.verbose:
            sys.stderr.write("fake_platforms: %s %s -> %d%s\n" % (
                req.method, req.path, resp.status, " [%s]" % entry["fault"] if entry["fault"] else ""))
        self.send(resp, mode, rule)

    def route(self, req):
        srv = self.server
        if req.path.startswith("/meta/"):
            return srv.meta.handle(req)
        if req.path.startswith("/knowlarity/"):
            return srv.knowlarity.handle(req)
        if req.path.startswith("/google/"):
            return srv.google.handle(req)
        return text_response(404, "no such endpoint: %s\n" % req.path)

    # -- control API -----------------------------------------------------------------
    def control(self, req):
        srv = self.server
        what = req.path[len("/_control"):].strip("/")
        if what == "health" and req.method == "GET":
            return json_response(200, {"ok": True, "port": srv.server_port, "pid": os.getpid(),
                                       "now": srv.data.now})
        if what == "data" and req.method == "GET":
            return json_response(200, srv.data.describe())
        if what == "requests":
            if req.method == "GET":
                with srv.log_lock:
                    entries = list(srv.request_log)
                wanted = req.param("path")
                if wanted:
                    entries = [e for e in entries if wanted in e["path"]]
                return json_response(200, {"requests": entries})
            if req.method == "DELETE":
                with srv.log_lock:
                    srv.request_log = []
                return json_response(200, {"ok": True})
        if what == "faults":
            if req.method == "GET":
                return json_response(200, {"rules": srv.faults.snapshot()})
            if req.method == "DELETE":
                srv.faults.clear()
                return json_response(200, {"ok": True})
            if req.method == "POST":
                try:
                    spec = req.json_body()
                    rules = [srv.faults.add(s) for s in (spec if isinstance(spec, list) else [spec])]
                except ValueError as e:  # also json.JSONDecodeError
                    return json_response(400, {"error": str(e)})
                return json_response(200, {"ok": True, "added": rules})
        if what == "google_tokens" and req.method == "DELETE":
            srv.google.revoke_all()
            return json_response(200, {"ok": True})
        return json_response(404, {"error": "unknown control endpoint %s %s" % (req.method, req.path)})

    # -- writing ---------------------------------------------------------------------
    def send(self, resp, mode=None, rule=None):
        rule = rule or {}
        close = self.close_connection or mode == "close_mid_body"
        head = ["HTTP/1.1 %d %s" % (resp.status, http.HTTPStatus(resp.status).phrase),
                "Date: " + email.utils.formatdate(usegmt=True),
                "Server: " + self.server_version]
        head += ["%s: %s" % h for h in resp.headers]
        head.append("Content-Length: %d" % len(resp.body))
        if close:
            head.append("Connection: close")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            raw += resp.body
        try:
            if mode == "close_mid_body":
                # Promise the whole body, deliver half, hang up.
                self.wfile.write(raw[:len(raw) - len(resp.body) + len(resp.body) // 2])
                self.wfile.flush()
                self.hang_up()
            elif mode == "slow_bytes":
                delay = float(rule.get("delay_ms", 5)) / 1000.0
                budget = float(rule.get("max_seconds", 10))
                delay = min(delay, budget / max(1, len(raw)))
                for i in range(len(raw)):
                    if self.server.stopping.is_set():
                        break
                    self.wfile.write(raw[i:i + 1])
                    self.wfile.flush()
                    time.sleep(delay)
            else:
                self.wfile.write(raw)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        if close:
            self.close_connection = True

    def stall(self, seconds, entry):
        entry["status"] = 0  # nothing was sent
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.server.stopping.is_set():
            time.sleep(0.05)
        self.hang_up()

    def hang_up(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ----------------------------------------------------------------------------------------
# Command line and lifetime
# ----------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description="Fake Meta / Knowlarity / Google Ads APIs on 127.0.0.1.")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--port-file", help="write the port here once listening (else print it)")
    p.add_argument("--leads-per-form", type=int, default=25, help="Meta leads in each of the 4 forms")
    p.add_argument("--calls", type=int, default=40, help="Knowlarity calls")
    p.add_argument("--google-leads", type=int, default=30, help="Google lead form submissions")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--page-size", type=int, default=10, help="max records per page, every platform")
    p.add_argument("--max-lifetime", type=float, default=600, help="exit after this many seconds")
    p.add_argument("--now", type=int, help="reference unix time for event times (default: start time)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.add_argument("--meta-token", default="meta-test-token")
    p.add_argument("--meta-page-id", default="111222333444555")
    p.add_argument("--knowlarity-key", default="kn-test-key")
    p.add_argument("--knowlarity-token", default="kn-test-token")
    p.add_argument("--knowlarity-channel", default="Basic")
    p.add_argument("--google-refresh-token", default="g-refresh")
    p.add_argument("--google-client-id", default="", help="if set, the token endpoint requires it")
    p.add_argument("--google-client-secret", default="", help="if set, the token endpoint requires it")
    p.add_argument("--google-customer-id", default="1234567890")
    p.add_argument("--google-token-ttl", type=int, default=3599, help="access token lifetime, seconds")
    args = p.parse_args(argv)
    for name in ("leads_per_form", "calls", "google_leads"):
        if getattr(args, name) < 0:
            p.error("--%s must not be negative" % name.replace("_", "-"))
    if args.page_size < 1:
        p.error("--page-size must be at least 1")
    return args


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)  # readers never see a half-written file


def main(argv=None):
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    server = FakeServer(cfg, cfg.now if cfg.now is not None else int(time.time()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    if cfg.port_file:
        write_port_file(cfg.port_file, server.server_port)
    else:
        print(server.server_port, flush=True)
    if cfg.verbose:
        sys.stderr.write("fake_platforms: listening on 127.0.0.1:%d\n" % server.server_port)
    deadline = time.monotonic() + cfg.max_lifetime
    while not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            sys.stderr.write("fake_platforms: --max-lifetime %gs reached, exiting\n" % cfg.max_lifetime)
            break
        stop.wait(min(remaining, 0.25))
    server.stopping.set()
    server.shutdown()
    server.server_close()
    if cfg.port_file:  # a stale port file would point the next test at a dead port
        try:
            with open(cfg.port_file) as f:
                ours = f.read().strip() == str(server.server_port)
            if ours:  # unless another server has taken the file over since
                os.remove(cfg.port_file)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
