#!/usr/bin/env python3
"""Fixed-rate webhook load for the benchmarks of leadsync-fetch serve (run.sh, bench_webhooks).

  webhook_load.py google --url URL --key KEY --rate R --seconds S [--first N] [--clients C]
  webhook_load.py meta --url URL --secret S --fake URL --db DBNAME --rate R --seconds S [--clients C]

Request k is due at start + k/R and handed to one of C client threads, each with its own
keep-alive connection; its latency is counted from the moment it was due, not from when a
thread was free, so a server that falls behind shows it (no coordinated omission).

google: new Google Ads leads (the bodies of google_webhooks.lua, numbers FIRST, FIRST+1,
...); prints {"sent", "non2xx", "p50_ms", "p99_ms", "max_ms"} of the answers.

meta: one signed page webhook per lead of the fake Graph API's data set (a valid phone, one
lead per phone, so each makes exactly one history row), and a psql session that polls
lead_sources_history every 10 ms for the rows of those leads; prints the time from each
2xx to the first poll that sees its row: {"sent", "non2xx", "seen", "p50_ms", "p99_ms",
"max_ms"}. A row is seen at most 10 ms plus one query after it was committed, so the
figures are upper bounds.
"""
import argparse, hashlib, hmac, http.client, json, queue, statistics, subprocess, sys, threading, time
import urllib.parse, urllib.request


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def google_body(n, key):
    return ('{"lead_id": "wh-%d", "google_key": "%s", "is_test": false, "user_column_data": '
            '[{"column_id": "FULL_NAME", "string_value": "Webhook Person %d"}, '
            '{"column_id": "PHONE_NUMBER", "string_value": "+91%d"}]}' % (n, key, n, 8000000000 + n))


def meta_body(leadgen_id, page_id):
    return json.dumps({"object": "page", "entry": [{"id": page_id, "time": int(time.time()), "changes": [
        {"field": "leadgen", "value": {"leadgen_id": leadgen_id, "page_id": page_id}}]}]})


def run_at_rate(url, requests, rate, clients, on_answer):
    """Sends requests[k] = (path, body, headers) at start + k/rate; on_answer(k, status, due,
    answered) from the client thread. Returns when every request is answered."""
    target = urllib.parse.urlsplit(url)
    jobs = queue.Queue()

    def client():
        conn = None
        while True:
            job = jobs.get()
            if job is None:
                return
            k, due = job
            path, body, headers = requests[k]
            status = 0
            for _ in range(2):  # a keep-alive connection the server closed: once more, on a new one
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                    conn.request("POST", path, body=body, headers=headers)
                    answer = conn.getresponse()
                    answer.read()
                    status = answer.status
                    if answer.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException):
                    if conn is not None:
                        conn.close()
                    conn = None
            on_answer(k, status, due, time.monotonic())

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    start = time.monotonic() + 0.1
    for k in range(len(requests)):
        due = start + k / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        jobs.put((k, due))
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join()


def summary(latencies_s, sent, non2xx, **extra):
    ms = [x * 1000 for x in latencies_s]
    out = {"sent": sent, "non2xx": non2xx}
    out.update(extra)
    out.update({"p50_ms": round(statistics.median(ms), 2) if ms else None,
                "p99_ms": round(percentile(ms, 99), 2) if ms else None, "max_ms": round(max(ms), 2) if ms else None})
    return out


def google(args):
    count = int(args.rate * args.seconds)
    headers = {"Content-Type": "application/json"}
    requests = [("/webhooks/google", google_body(args.first + k, args.key), headers) for k in range(count)]
    latencies, non2xx, lock = [], [0], threading.Lock()

    def on_answer(k, status, due, answered):
        with lock:
            latencies.append(answered - due)
            if not 200 <= status < 300:
                non2xx[0] += 1

    run_at_rate(args.url, requests, args.rate, args.clients, on_answer)
    return summary(latencies, count, non2xx[0])


class RowWatcher:
    """A psql session that polls for the history rows of the given external ids every 10 ms
    and notes, per id, the monotonic time of the first poll that saw it."""

    def __init__(self, db, ids):
        self.pending = set(ids)
        self.seen = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.psql = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        last = 0
        while not self.stop.is_set():
            # Rows commit a little out of id order (several resolvers): look back 1000 ids.
            self.psql.stdin.write("SELECT id, external_id FROM public.lead_sources_history WHERE id > %d;\n"
                                  "\\echo END\n" % max(0, last - 1000))
            now = None
            for line in self.psql.stdout:
                line = line.rstrip("\n")
                if line == "END":
                    break
                if now is None:
                    now = time.monotonic()
                row_id, _, external_id = line.partition("|")
                last = max(last, int(row_id))
                with self.lock:
                    if external_id in self.pending:
                        self.pending.discard(external_id)
                        self.seen[external_id] = now
            time.sleep(0.01)

    def wait_all(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    break
            time.sleep(0.05)
        self.stop.set()
        self.thread.join()
        self.psql.stdin.close()
        self.psql.wait()


def meta(args):
    with urllib.request.urlopen(args.fake.rstrip("/") + "/_control/data", timeout=30) as answer:
        data = json.load(answer)
    ids, phones = [], set()
    page_id = data["meta"]["page_id"]
    for lead in data["meta"]["leads"]:
        if lead["phone_key"] and lead["phone_key"] not in phones:
            phones.add(lead["phone_key"])
            ids.append(lead["id"])
    count = int(args.rate * args.seconds)
    if len(ids) < count:
        sys.exit("webhook_load.py: the fake has %d usable Meta leads, %d needed" % (len(ids), count))
    ids = ids[:count]
    requests = []
    for leadgen_id in ids:
        body = meta_body(leadgen_id, page_id).encode()
        signature = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
        requests.append(("/webhooks/meta", body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}))
    watcher = RowWatcher(args.db, ids)
    acked, non2xx, lock = {}, [0], threading.Lock()

    def on_answer(k, status, due, answered):
        with lock:
            if 200 <= status < 300:
                acked[ids[k]] = answered
            else:
                non2xx[0] += 1

    run_at_rate(args.url, requests, args.rate, args.clients, on_answer)
    watcher.wait_all(30)
    # A row the poll saw before the 2xx reached the client counts as 0.
    latencies = [max(0.0, watcher.seen[i] - acked[i]) for i in acked if i in watcher.seen]
    return summary(latencies, count, non2xx[0], seen=len(latencies))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["google", "meta"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--key", default="")
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--secret", default="")
    ap.add_argument("--fake", default="")
    ap.add_argument("--db", default="")
    args = ap.parse_args()
    print(json.dumps(google(args) if args.kind == "google" else meta(args)))


if __name__ == "__main__":
    main()
