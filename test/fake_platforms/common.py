"""Shared pieces of fake_platforms: the Response object, JSON/text response helpers,
cursor encoding, time texts, phone spellings and the parsed incoming Request."""

import base64
import datetime as dt
import json
import time
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit


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

