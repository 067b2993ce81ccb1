"""The fake Knowlarity call log API (/knowlarity/{channel}/v1/account/calllog)."""

import datetime as dt
import re

from common import json_response


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
