#!/usr/bin/env python3
"""Walks the fake Meta Graph API exactly as `leadsync-fetch meta` does (the ACTIVE forms
of the page, then each form's leads with the same fields, limit and time_created
filtering, following paging.next) and writes one SQL statement per non-empty page:

    SELECT ingest_leads('meta_form', '<the page''s data array>') IS NULL;

Replaying that file with psql is "the ingest alone": the same pages, in the same order,
one call and one transaction per page, without HTTP and without the fetcher.

usage: meta_pages.py PORT SINCE_UNIX UNTIL_UNIX OUT.sql   (prints the lead count)
"""
import http.client
import json
import sys
from urllib.parse import quote

PAGE_ID = "111222333444555"
TOKEN = "meta-test-token"
LEAD_FIELDS = "created_time,id,ad_id,form_id,campaign_id,is_organic,platform,field_data"  # as the fetcher asks
LIMIT = 100                                                                               # the fetcher's Meta page limit


def main():
    port, since, until, out_path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(path):
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise SystemExit("meta_pages: %s -> %d %s" % (path.split("?")[0], resp.status, body[:200]))
        return json.loads(body)

    forms = []
    path = "/meta/v25.0/%s/leadgen_forms?fields=id,name,status&limit=100&access_token=%s" % (PAGE_ID, TOKEN)
    while path:
        page = get(path)
        forms += page["data"]
        nxt = page.get("paging", {}).get("next")
        path = nxt[nxt.index("/meta/"):] if nxt else None
    filtering = json.dumps([{"field": "time_created", "operator": "GREATER_THAN", "value": since},
                            {"field": "time_created", "operator": "LESS_THAN", "value": until + 1}],
                           separators=(",", ":"))
    leads = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for form in forms:
            if form.get("status") != "ACTIVE":
                continue
            path = "/meta/v25.0/%s/leads?fields=%s&limit=%d&filtering=%s&access_token=%s" % (
                form["id"], LEAD_FIELDS, LIMIT, quote(filtering, safe=""), TOKEN)
            while path:
                page = get(path)
                data = page["data"]
                if data:
                    leads += len(data)
                    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("'", "''")
                    out.write("SELECT ingest_leads('meta_form', '%s') IS NULL;\n" % text)
                nxt = page.get("paging", {}).get("next")
                path = nxt[nxt.index("/meta/"):] if nxt else None
    print(leads)


if __name__ == "__main__":
    main()
