"""The dataset of fake_platforms: every record the three platforms serve, deterministic
from --seed, plus the facts (/_control/data) a test needs to predict rows."""

import random
import threading
import unicodedata
import uuid

from common import (CITIES, FIRST_NAMES, LAST_NAMES, PHONE_STYLES, WINDOW_SECONDS, ist_text,
                    random_token, utc_text_meta)


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
        # Guards every change after construction (POST /_control/meta/leads). Readers take
        # no lock: a new lead is complete before any list or dict shows it (see add_meta_leads).
        self.lock = threading.Lock()
        self.meta_version = 0  # bumped by each add_meta_leads, so caches of listings expire
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

    def _meta_lead(self, form, index, ts, phone=None, full_name=None, fresh=False):
        """A lead descriptor. phone / full_name override the generated ones; fresh (a lead
        made by POST /_control/meta/leads) skips the dataset's planted bad lead."""
        spec = form["_spec"]
        first, last = self._person()
        if full_name is not None:
            first, _, last = full_name.strip().partition(" ")
        name = full_name if full_name is not None else first + " " + last
        organic = index % 4 == 3
        key = self._new_phone_key() if phone is None else phone_key_of(phone)
        style = ["e164", "spaced", "plain", "zero"][(index + self.meta_forms.index(form)) % 4]
        phone_text = PHONE_STYLES[style](key) if phone is None else phone
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
            fields.append({"name": spec["name_fields"][0], "values": [name]})
        fields.append({"name": spec["phone_field"], "values": [phone_text]})
        fields.append({"name": "email", "values": ["%s.%s%d@example.com" % (first.lower(), last.lower(), index)]})
        if spec["custom"]:
            fields.append({"name": spec["custom"][0], "values": [self.rng.choice(spec["custom"][1])]})
        else:
            fields.append({"name": "city", "values": [self.rng.choice(CITIES)]})
        record["field_data"] = fields
        desc = {"id": record["id"], "form_id": form["id"], "form_status": form["status"],
                "index": index, "created_time": ts, "created_time_text": record["created_time"],
                "name": name, "phone": phone_text,
                "phone_key": key, "bad": None if key else "phone too short", "record": record}
        # A lead without any phone field (first form, second lead): must be rejected.
        if form is self.meta_forms[0] and index == 1 and not fresh:
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

    # -- POST /_control/meta/leads ---------------------------------------------------
    def add_meta_leads(self, form_id, count, created_time, phone=None, full_name=None):
        """count new leads on form form_id created at created_time; returns their
        descriptors. Ids and generated phones never collide with existing ones.

        Readers (request threads) take no lock, so each list is replaced by a new one
        (copy on write) and a lead is published by id before any listing shows it: a
        reader sees a lead completely or not at all."""
        with self.lock:
            form = next(f for f in self.meta_forms if f["id"] == form_id)
            by_form = list(self.meta_by_form[form_id])
            new = []
            for _ in range(count):
                new.append(self._meta_lead(form, len(by_form) + len(new), created_time,
                                           phone, full_name, fresh=True))
                new[-1]["note"] = "created by POST /_control/meta/leads"
            everyone = list(self.meta_leads)
            for d in new:
                self.meta_by_id[d["id"]] = d  # a dict store is atomic
                insert_by_time(by_form, d)
                insert_by_time(everyone, d)
            self.meta_by_form[form_id] = by_form
            self.meta_leads = everyone
            form["leads_count"] = len(by_form)
            self.meta_version += 1
        return new

    # -- /_control/data --------------------------------------------------------------
    def describe(self):
        def clean(d):
            return {k: v for k, v in d.items() if not k.startswith("_")}
        with self.lock:  # a consistent snapshot (all of a batch of new leads or none)
            meta_forms = [clean(f) for f in self.meta_forms]
            meta_leads = [clean(d) for d in self.meta_leads]
        owners = {}
        for d in meta_leads:
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
                     "forms": meta_forms, "leads": meta_leads},
            "knowlarity": {"channel": self.cfg.knowlarity_channel, "numbers": KNOWLARITY_NUMBERS,
                           "calls": self.knowlarity_calls},
            "google": {"customer_id": self.google_customer_id, "leads": self.google_leads},
            "shared_phone_keys": {k: v for k, v in owners.items() if k and len(v) > 1},
        }


def phone_key_of(phone):
    """leadsync's normalize_phone: the last ten decimal digits, None when fewer."""
    digits = "".join(str(unicodedata.decimal(c)) for c in phone if c.isdecimal())
    return digits[-10:] if len(digits) >= 10 else None


def insert_by_time(leads, desc):
    """Insert desc into leads (oldest first) after every lead not newer than it."""
    i = len(leads)
    while i > 0 and leads[i - 1]["created_time"] > desc["created_time"]:
        i -= 1
    leads.insert(i, desc)
