#!/usr/bin/env python3
"""test/fake_platforms/fake_platforms.py, made fit for 100k-lead benchmarks.

The fake server serves exactly the same dataset and the same responses. With
--cache-responses, a successful Meta GET is answered from a cache of the bytes it got
the first time (same URL, same bytes: the dataset is immutable), so a warmed-up server
costs the fetcher little more than the HTTP round trip, as a real Graph API's server
time is not the fetcher's cost either. Fault rules still apply.

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
