#!/usr/bin/env python3
"""Fake Meta Graph, Knowlarity and Google Ads APIs for testing leadsync-fetch.

One ThreadingHTTPServer on 127.0.0.1 serves all three platforms plus a control API
(/_control/...) for fault injection, request inspection and the generated dataset.
Python 3 standard library only. Its only outgoing connections are the Meta webhooks
and subscription handshakes a test asks for (POST /_control/meta/...), to loopback only.

    python3 fake_platforms.py --port 0 --port-file PATH [--seed S] [--page-size N] ...

This file is the entry point (command line, server, request dispatch, control API);
the platforms, the dataset and the faults live in the modules beside it (README.md has
the layout). See README.md for the endpoints, the fault rules and which behaviours come
from the platforms' documentation and which are invented.
"""

import argparse
import email.utils
import http
import http.server
import os
import signal
import socket
import sys
import threading
import time
import traceback

# The sibling modules are found next to this file, whether it runs as a script or is
# loaded by path (test/bench/lib/fake_meta_server.py uses spec_from_file_location).
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from common import Request, Response, json_response, text_response  # noqa: E402
from dataset import Dataset  # noqa: E402
from faults import DELAY_FAULT, PRE_FAULTS, FaultBook, fault_response, strip_arrays  # noqa: E402
from google_api import GoogleApi  # noqa: E402
from knowlarity_api import KnowlarityApi  # noqa: E402
from meta_api import MetaApi  # noqa: E402
from meta_webhooks import MetaWebhooks, loopback_url_error  # noqa: E402


# ----------------------------------------------------------------------------------------
# HTTP plumbing
# ----------------------------------------------------------------------------------------

class FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True       # a stalled handler never delays shutdown
    request_queue_size = 64

    def __init__(self, cfg, now):
        super().__init__(("127.0.0.1", cfg.port), Handler)
        self.cfg = cfg
        self.stopping = threading.Event()
        self.data = Dataset(cfg, now)
        self.meta = MetaApi(cfg, self.data, lambda: "http://127.0.0.1:%d" % self.server_port)
        self.knowlarity = KnowlarityApi(cfg, self.data)
        self.google = GoogleApi(cfg, self.data)
        self.meta_hooks = MetaWebhooks(cfg, self.data)
        self.faults = FaultBook()
        self.log_lock = threading.Lock()
        self.request_log = []

    def handle_error(self, request, client_address):
        # Clients hanging up mid-response are normal here (timeouts, stall tests).
        if self.cfg.verbose:
            super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as libcurl expects
    server_version = "fake-platforms/1"
    sys_version = ""
    timeout = 60                    # idle keep-alive connections are dropped

    def do_GET(self):
        self.dispatch()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_GET

    def log_message(self, fmt, *args):
        if self.server.cfg.verbose:
            sys.stderr.write("fake_platforms: " + (fmt % args) + "\n")

    # -- request body ----------------------------------------------------------------
    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- dispatch --------------------------------------------------------------------
    def dispatch(self):
        srv = self.server
        try:
            req = Request(self.command, self.path, self.headers, self.read_body())
        except (ValueError, OSError):
            self.close_connection = True
            return
        if req.path.startswith("/_control"):
            return self.send(self.control(req))
        entry = req.log_entry()
        entry["time"] = time.time()
        entry["fault"] = None
        entry["status"] = None
        with srv.log_lock:
            entry["seq"] = len(srv.request_log) + 1
            srv.request_log.append(entry)
        rule, delay_ms = srv.faults.pick(req)
        if delay_ms:
            entry["fault"] = DELAY_FAULT
            entry["delay_ms"] = delay_ms
            srv.stopping.wait(delay_ms / 1000.0)  # holds no lock: other requests go on
        mode = None
        try:
            if rule and rule["fault"] in PRE_FAULTS:
                entry["fault"] = rule["fault"]
                resp = fault_response(rule, req, srv.meta, srv.google)
                if resp is None:
                    return self.stall(float(rule.get("seconds", 30)), entry)
            else:
                resp = self.route(req)
                if rule:
                    entry["fault"] = mode = rule["fault"]
                    if mode == "malformed_json":
                        resp = Response(200, resp.body[:max(1, len(resp.body) // 2)])
                    elif mode == "missing_data":
                        resp = strip_arrays(resp)
        except Exception:  # a bug in the fake: say so loudly, answer 500
            traceback.print_exc()
            resp = text_response(500, "fake_platforms internal error:\n" + traceback.format_exc())
        entry["status"] = resp.status
        if srv.cfg.verbose:
            sys.stderr.write("fake_platforms: %s %s -> %d%s\n" % (
                req.method, req.path, resp.status, " [%s]" % entry["fault"] if entry["fault"] else ""))
        self.send(resp, mode, rule)

    def route(self, req):
        srv = self.server
        if req.path.startswith("/meta/"):
            return srv.meta.handle(req)
        if req.path.startswith("/knowlarity/"):
            return srv.knowlarity.handle(req)
        if req.path.startswith("/google/"):
            return srv.google.handle(req)
        return text_response(404, "no such endpoint: %s\n" % req.path)

    # -- control API -----------------------------------------------------------------
    def control(self, req):
        srv = self.server
        what = req.path[len("/_control"):].strip("/")
        if what == "health" and req.method == "GET":
            return json_response(200, {"ok": True, "port": srv.server_port, "pid": os.getpid(),
                                       "now": srv.data.now})
        if what == "data" and req.method == "GET":
            return json_response(200, srv.data.describe())
        if what == "requests":
            if req.method == "GET":
                with srv.log_lock:
                    entries = list(srv.request_log)
                wanted = req.param("path")
                if wanted:
                    entries = [e for e in entries if wanted in e["path"]]
                return json_response(200, {"requests": entries})
            if req.method == "DELETE":
                with srv.log_lock:
                    srv.request_log = []
                return json_response(200, {"ok": True})
        if what == "faults":
            if req.method == "GET":
                return json_response(200, {"rules": srv.faults.snapshot()})
            if req.method == "DELETE":
                srv.faults.clear()
                return json_response(200, {"ok": True})
            if req.method == "POST":
                try:
                    spec = req.json_body()
                    rules = [srv.faults.add(s) for s in (spec if isinstance(spec, list) else [spec])]
                except ValueError as e:  # also json.JSONDecodeError
                    return json_response(400, {"error": str(e)})
                return json_response(200, {"ok": True, "added": rules})
        if what.startswith("meta/"):
            resp = srv.meta_hooks.handle(what[len("meta/"):], req)
            if resp is not None:
                return resp
        if what == "google_tokens" and req.method == "DELETE":
            srv.google.revoke_all()
            return json_response(200, {"ok": True})
        return json_response(404, {"error": "unknown control endpoint %s %s" % (req.method, req.path)})

    # -- writing ---------------------------------------------------------------------
    def send(self, resp, mode=None, rule=None):
        rule = rule or {}
        close = self.close_connection or mode == "close_mid_body"
        head = ["HTTP/1.1 %d %s" % (resp.status, http.HTTPStatus(resp.status).phrase),
                "Date: " + email.utils.formatdate(usegmt=True),
                "Server: " + self.server_version]
        head += ["%s: %s" % h for h in resp.headers]
        head.append("Content-Length: %d" % len(resp.body))
        if close:
            head.append("Connection: close")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            raw += resp.body
        try:
            if mode == "close_mid_body":
                # Promise the whole body, deliver half, hang up.
                self.wfile.write(raw[:len(raw) - len(resp.body) + len(resp.body) // 2])
                self.wfile.flush()
                self.hang_up()
            elif mode == "slow_bytes":
                delay = float(rule.get("delay_ms", 5)) / 1000.0
                budget = float(rule.get("max_seconds", 10))
                delay = min(delay, budget / max(1, len(raw)))
                for i in range(len(raw)):
                    if self.server.stopping.is_set():
                        break
                    self.wfile.write(raw[i:i + 1])
                    self.wfile.flush()
                    time.sleep(delay)
            else:
                self.wfile.write(raw)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        if close:
            self.close_connection = True

    def stall(self, seconds, entry):
        entry["status"] = 0  # nothing was sent
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.server.stopping.is_set():
            time.sleep(0.05)
        self.hang_up()

    def hang_up(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ----------------------------------------------------------------------------------------
# Command line and lifetime
# ----------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description="Fake Meta / Knowlarity / Google Ads APIs on 127.0.0.1.")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--port-file", help="write the port here once listening (else print it)")
    p.add_argument("--leads-per-form", type=int, default=25, help="Meta leads in each of the 4 forms")
    p.add_argument("--calls", type=int, default=40, help="Knowlarity calls")
    p.add_argument("--google-leads", type=int, default=30, help="Google lead form submissions")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--page-size", type=int, default=10, help="max records per page, every platform")
    p.add_argument("--max-lifetime", type=float, default=600, help="exit after this many seconds")
    p.add_argument("--now", type=int, help="reference unix time for event times (default: start time)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.add_argument("--meta-token", default="meta-test-token")
    p.add_argument("--meta-page-id", default="111222333444555")
    p.add_argument("--meta-webhook-url", help="POST Meta page webhooks here (loopback http only)")
    p.add_argument("--meta-app-secret", default="meta-app-secret", help="signs the webhooks")
    p.add_argument("--meta-verify-token", default="meta-verify-token",
                   help="hub.verify_token of the subscription handshake")
    p.add_argument("--knowlarity-key", default="kn-test-key")
    p.add_argument("--knowlarity-token", default="kn-test-token")
    p.add_argument("--knowlarity-channel", default="Basic")
    p.add_argument("--google-refresh-token", default="g-refresh")
    p.add_argument("--google-client-id", default="", help="if set, the token endpoint requires it")
    p.add_argument("--google-client-secret", default="", help="if set, the token endpoint requires it")
    p.add_argument("--google-customer-id", default="1234567890")
    p.add_argument("--google-token-ttl", type=int, default=3599, help="access token lifetime, seconds")
    args = p.parse_args(argv)
    for name in ("leads_per_form", "calls", "google_leads"):
        if getattr(args, name) < 0:
            p.error("--%s must not be negative" % name.replace("_", "-"))
    if args.page_size < 1:
        p.error("--page-size must be at least 1")
    if args.meta_webhook_url is not None and loopback_url_error(args.meta_webhook_url):
        p.error("--meta-webhook-url: " + loopback_url_error(args.meta_webhook_url))
    return args


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)  # readers never see a half-written file


def main(argv=None):
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    server = FakeServer(cfg, cfg.now if cfg.now is not None else int(time.time()))
    # The handlers only append to a list: Event.set() there could deadlock, taking the
    # Event's lock while the interrupted main thread holds it inside stop.wait() (it did:
    # a fake hung at SIGTERM in CI, its main thread stuck on that lock).
    stop_requests = []
    signal.signal(signal.SIGTERM, lambda *_: stop_requests.append(signal.SIGTERM))
    signal.signal(signal.SIGINT, lambda *_: stop_requests.append(signal.SIGINT))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    if cfg.port_file:
        write_port_file(cfg.port_file, server.server_port)
    else:
        print(server.server_port, flush=True)
    if cfg.verbose:
        sys.stderr.write("fake_platforms: listening on 127.0.0.1:%d\n" % server.server_port)
    deadline = time.monotonic() + cfg.max_lifetime
    while not stop_requests:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            sys.stderr.write("fake_platforms: --max-lifetime %gs reached, exiting\n" % cfg.max_lifetime)
            break
        time.sleep(min(remaining, 0.25))  # a signal ends the sleep; its handler has run
    server.stopping.set()
    server.shutdown()
    server.server_close()
    if cfg.port_file:  # a stale port file would point the next test at a dead port
        try:
            with open(cfg.port_file) as f:
                ours = f.read().strip() == str(server.server_port)
            if ours:  # unless another server has taken the file over since
                os.remove(cfg.port_file)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
