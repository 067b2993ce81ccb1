"""The fake Google Ads API: the OAuth token endpoint and googleAds:search (GAQL subset)."""

import calendar
import datetime as dt
import hashlib
import random
import re
import threading
import time
from urllib.parse import parse_qsl

from common import b64, json_response, random_token, unb64


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
