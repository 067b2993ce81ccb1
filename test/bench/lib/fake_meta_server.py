#!/usr/bin/env python3
"""test/fake_platforms/fake_platforms.py, made fit for 100k-lead benchmarks.

The fake server serves exactly the same dataset and the same responses; one of its
internals does not scale to a benchmark and would make a fetch benchmark measure the
fake rather than leadsync-fetch, so it is replaced here:

- MetaApi.list_leads filters and projects every lead of the form on every page:
  O(form size) per page of 100. Here the filtered, projected list is cached per
  (form, fields, filtering), and each page is a slice of it.
- With --cache-responses, a successful Meta GET is answered from a cache of the
  bytes it got the first time (same URL, same bytes: the dataset is immutable), so a
  warmed-up server costs the fetcher little more than the HTTP round trip, as a real
  Graph API's server time is not the fetcher's cost either. Fault rules still apply.

Usage: the options of fake_platforms.py, unchanged.
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "..", "fake_platforms", "fake_platforms.py")

spec = importlib.util.spec_from_file_location("fake_platforms", FAKE)
fp = importlib.util.module_from_spec(spec)
sys.modules["fake_platforms"] = fp
spec.loader.exec_module(fp)



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
    cache = self.__dict__.setdefault("_bench_leads", {})
    key = (form["id"], tuple(fields) if fields is not None else None, tuple(conditions))
    leads = cache.get(key)
    if leads is None:
        leads = []
        for d in reversed(self.data.meta_by_form[form["id"]]):  # Meta lists newest first
            ts = d["created_time"]
            if all((ts > v) if op == "GREATER_THAN" else (ts < v) for op, v in conditions):
                leads.append(self.project(d["record"], fields))
        cache[key] = leads
    body, err = self.page(req, leads, min(limit, self.cfg.page_size), "leads", token)
    return err or fp.json_response(200, body)


fp.MetaApi.list_leads = list_leads

_original_route = fp.Handler.route
_response_cache = {}


def cached_route(self, req):
    if req.method != "GET" or not req.path.startswith("/meta/"):
        return _original_route(self, req)
    key = self.path
    resp = _response_cache.get(key)
    if resp is None:
        resp = _original_route(self, req)
        if resp.status == 200:
            _response_cache[key] = resp
    return resp


if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--cache-responses" in argv:
        argv.remove("--cache-responses")
        fp.Handler.route = cached_route
    sys.exit(fp.main(argv))
