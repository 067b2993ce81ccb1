"""Fault injection of fake_platforms: the rule book, the PRE faults' responses and the
helpers of the POST faults (the writing ones live in fake_platforms.Handler.send)."""

import http
import json
import re
import threading

from common import json_response, text_response


# ----------------------------------------------------------------------------------------
# Fault injection rules
# ----------------------------------------------------------------------------------------

# Faults answered instead of the real handler ("pre") or applied to its response ("post").
PRE_FAULTS = {"status500", "status429", "meta_throttle", "meta_transient", "meta_token_expired",
              "meta_permission", "google_quota", "google_unauthenticated", "stall", "html",
              "knowlarity_forbidden"}
POST_FAULTS = {"malformed_json", "missing_data", "close_mid_body", "slow_bytes"}
# A pre fault that only waits: the request then goes on as if the rule did not exist
# (the other due rules and the normal handling still apply).
DELAY_FAULT = "delay"
KNOWN_FAULTS = PRE_FAULTS | POST_FAULTS | {DELAY_FAULT}


class FaultBook:
    """Rules in insertion order. Each rule counts the requests matching it on its own; the
    first rule whose window (after K passes, N faults) covers the request wins, except
    that delay rules never win: every due one fires and adds its delay_ms."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def add(self, spec):
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
            raise ValueError("a rule is an object with a string 'path'")
        if spec.get("fault") not in KNOWN_FAULTS:
            raise ValueError("unknown fault %r; known: %s" % (spec.get("fault"),
                                                              ", ".join(sorted(KNOWN_FAULTS))))
        for key in ("times", "after"):
            if key in spec and not isinstance(spec[key], int):
                raise ValueError("%s must be an integer" % key)
        if spec["fault"] == DELAY_FAULT and "delay_ms" in spec:
            value = spec["delay_ms"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError("delay_ms must be a number >= 0")
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
        """(the winning rule or None, total delay_ms of the due delay rules). The caller
        sleeps after this returns: no lock is held while a request waits."""
        chosen = None
        delay_ms = 0
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
                due = n >= 1 and (rule["times"] < 0 or n <= rule["times"])
                if due and rule["fault"] == DELAY_FAULT:
                    rule["fired"] += 1
                    delay_ms += rule.get("delay_ms", 50)
                elif chosen is None and due:
                    rule["fired"] += 1
                    chosen = dict(rule)
        return chosen, delay_ms


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
