"""Meta's side of lead webhooks: new leads on demand, the signed page webhook POSTed to
the subscriber, and the subscription handshake (POST /_control/meta/...).

These are the only outgoing connections fake_platforms makes, only when a test asks,
and only to loopback: every URL must be http://127.0.0.1[:PORT]/... or
http://localhost[:PORT]/... (localhost is dialled as 127.0.0.1, never resolved).
"""

import hashlib
import hmac
import http.client
import json
import random
import time
from urllib.parse import urlencode, urlsplit

from common import json_response

TIMEOUT_SECONDS = 10
LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}
MAX_NEW_LEADS = 10000


def loopback_url_error(url):
    """None when url is a plain http URL on loopback, else why not."""
    if not isinstance(url, str):
        return "the webhook URL must be a string"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as e:
        return "bad webhook URL %r: %s" % (url, e)
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS or parts.username is not None \
            or parts.password is not None:
        return ("webhook URL %r refused: only http://127.0.0.1[:PORT]/... or "
                "http://localhost[:PORT]/... (the fake never talks to another host)" % url)
    if port == 0:
        return "webhook URL %r has port 0" % url
    return None


def loopback_request(url, method, body=None, headers=None):
    """(status or None, first 500 characters of the answer or None, error text or None)."""
    parts = urlsplit(url)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    conn = http.client.HTTPConnection(LOOPBACK_HOSTS[parts.hostname], parts.port or 80,
                                      timeout=TIMEOUT_SECONDS)
    try:
        conn.request(method, target, body=body, headers=dict(headers or {}, Host=parts.netloc))
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")[:500], None
    except (OSError, http.client.HTTPException) as e:
        return None, None, "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__
    finally:
        conn.close()


class BadRequest(Exception):
    pass


class MetaWebhooks:
    def __init__(self, cfg, data):
        self.cfg = cfg
        self.data = data
        self.rng = random.SystemRandom()

    # -- control endpoints -------------------------------------------------------------
    def handle(self, what, req):
        """what: "leads", "webhook" or "subscribe" (POST only); None if unknown."""
        handler = {"leads": self.new_leads, "webhook": self.replay,
                   "subscribe": self.subscribe}.get(what)
        if handler is None or req.method != "POST":
            return None
        try:
            body = json.loads(req.body.decode("utf-8")) if req.body.strip() else {}
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            return handler(body)
        except (ValueError, BadRequest) as e:  # also json.JSONDecodeError
            return json_response(400, {"error": str(e)})

    def new_leads(self, body):
        forms = {f["id"]: f for f in self.data.meta_forms}
        active = [f["id"] for f in self.data.meta_forms if f["status"] == "ACTIVE"]
        form_id = body.get("form_id", active[0] if active else None)
        if form_id not in forms or forms[form_id]["status"] != "ACTIVE":
            raise BadRequest("form_id %r is not an ACTIVE form; ACTIVE: %s" % (form_id, ", ".join(active)))
        count = body.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_NEW_LEADS:
            raise BadRequest("count must be an integer from 1 to %d" % MAX_NEW_LEADS)
        for key in ("phone", "full_name"):
            if key in body and not isinstance(body[key], str):
                raise BadRequest("%s must be a string" % key)
        url = self.webhook_url(body, required=False)
        leads = self.data.add_meta_leads(form_id, count, int(time.time()),
                                         body.get("phone"), body.get("full_name"))
        hook = self.send(url, leads, True, None) if url else None
        return json_response(200, {"leads": [d["record"] for d in leads], "webhook": hook})

    def replay(self, body):
        ids = body.get("leadgen_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise BadRequest("leadgen_ids must be a non-empty list of lead id strings")
        unknown = [i for i in ids if i not in self.data.meta_by_id]
        if unknown:
            raise BadRequest("unknown leadgen_ids: %s" % ", ".join(unknown))
        sign = body.get("sign", True)
        secret = body.get("secret")
        if not isinstance(sign, bool) or (secret is not None and not isinstance(secret, str)):
            raise BadRequest("sign must be a boolean and secret a string")
        url = self.webhook_url(body, required=True)
        leads = [self.data.meta_by_id[i] for i in ids]
        return json_response(200, {"leads": [d["record"] for d in leads],
                                   "webhook": self.send(url, leads, sign, secret)})

    def subscribe(self, body):
        url = self.webhook_url(body, required=True)
        token = body.get("verify_token", self.cfg.meta_verify_token)
        if not isinstance(token, str):
            raise BadRequest("verify_token must be a string")
        challenge = str(self.rng.randrange(10 ** 9, 10 ** 10))
        query = urlencode([("hub.mode", "subscribe"), ("hub.challenge", challenge),
                           ("hub.verify_token", token)])
        status, answer, error = loopback_request(url + ("&" if "?" in url else "?") + query, "GET")
        return json_response(200, {"status": status, "verified": status == 200 and answer == challenge,
                                   "challenge": challenge, "body": answer, "error": error})

    # -- helpers -------------------------------------------------------------------------
    def webhook_url(self, body, required):
        url = body.get("webhook_url", self.cfg.meta_webhook_url)
        if url is None:
            if required:
                raise BadRequest("no webhook URL: give webhook_url or start with --meta-webhook-url")
            return None
        err = loopback_url_error(url)
        if err:
            raise BadRequest(err)
        return url

    def payload(self, leads):
        """The exact bytes of one page webhook with one leadgen change per lead."""
        page_id = self.data.meta_page_id
        changes = [{"field": "leadgen", "value": {
            "leadgen_id": d["id"], "page_id": page_id, "form_id": d["form_id"],
            "created_time": d["created_time"]}} for d in leads]
        body = {"object": "page", "entry": [{"id": page_id, "time": int(time.time()), "changes": changes}]}
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    def send(self, url, leads, sign, secret):
        raw = self.payload(leads)
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        if sign:
            key = (self.cfg.meta_app_secret if secret is None else secret).encode("utf-8")
            headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
        status, answer, error = loopback_request(url, "POST", raw, headers)
        return {"status": status, "body": answer, "error": error}
