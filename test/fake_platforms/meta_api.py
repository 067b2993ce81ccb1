"""The fake Meta Graph API (/meta/vNN.N/...): forms, leads, GET by id, errors."""

import json
import random
import re
from urllib.parse import quote

from common import b64, json_response, random_token, unb64


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
        # A form's filtered, projected leads per (form, fields, filtering): re-filtering a
        # whole form for each page of a 100k-lead form made paging quadratic. The dataset
        # only changes by POST /_control/meta/leads, which bumps data.meta_version and so
        # empties the cache. A dict's get and set are atomic under the server's threads.
        self.filtered_leads = {}
        self.filtered_version = 0

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
        version = self.data.meta_version
        if version != self.filtered_version:
            self.filtered_leads, self.filtered_version = {}, version
        key = (version, form["id"], tuple(fields) if fields is not None else None, tuple(conditions))
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
