#!/usr/bin/env python3
"""A burst of webhooks from concurrent clients, for the crash tests of leadsync-fetch serve.

Each client thread owns a slice of the leads and sends each one until it is answered 2xx
(a refused connection, a reset or a 5xx is tried again after a short pause), and writes
"<kind> <id> <status>" to --acked for every 2xx, flushed at once, so the file holds what
was acknowledged however the server died. Stops by itself after --deadline seconds.

Kinds: Google Ads leads (google_key in the body, phone 9<9 digits from the index>) and
Meta notifications (a signed page webhook of one leadgen id from --meta-ids).
"""
import argparse, hashlib, hmac, http.client, json, threading, time, urllib.parse


def google_body(index, key, prefix):
    return json.dumps({"lead_id": "burst-%d-%d" % (prefix, index), "google_key": key, "is_test": False,
                       "user_column_data": [{"column_id": "PHONE_NUMBER",
                                             "string_value": "+91%d%08d" % (prefix, index)}]})


def meta_body(leadgen_id, page_id):
    return json.dumps({"object": "page", "entry": [{"id": page_id, "time": 1700000000, "changes": [
        {"field": "leadgen", "value": {"leadgen_id": leadgen_id, "page_id": page_id}}]}]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--google", type=int, default=0, help="Google leads to send")
    ap.add_argument("--phone-prefix", type=int, default=97)
    ap.add_argument("--meta-ids", default="", help="file of leadgen ids, one a line")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--google-key", default="")
    ap.add_argument("--app-secret", default="")
    ap.add_argument("--page-id", default="1")
    ap.add_argument("--acked", required=True)
    ap.add_argument("--deadline", type=float, default=90)
    args = ap.parse_args()

    url = urllib.parse.urlsplit(args.url)
    work = [("google", str(i)) for i in range(args.google)]
    if args.meta_ids:
        work += [("meta", line.strip()) for line in open(args.meta_ids) if line.strip()]
    # Interleave the kinds so the burst mixes them.
    work.sort(key=lambda item: hashlib.md5(item[1].encode()).hexdigest())
    acked = open(args.acked, "a", buffering=1)
    lock = threading.Lock()
    stop_at = time.time() + args.deadline
    failures = {"n": 0}

    def send(kind, ident):
        if kind == "google":
            body, path, headers = google_body(int(ident), args.google_key, args.phone_prefix), "/webhooks/google", {}
        else:
            body = meta_body(ident, args.page_id)
            path = "/webhooks/meta"
            headers = {"X-Hub-Signature-256": "sha256=" + hmac.new(args.app_secret.encode(), body.encode(),
                                                                   hashlib.sha256).hexdigest()}
        headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        try:
            conn.request("POST", path, body=body, headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    def client(items):
        for kind, ident in items:
            while time.time() < stop_at:
                try:
                    status = send(kind, ident)
                except (OSError, http.client.HTTPException):
                    status = 0
                if 200 <= status < 300:
                    with lock:
                        acked.write("%s %s %d\n" % (kind, ident, status))
                    break
                with lock:
                    failures["n"] += 1
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(work[i::args.clients],)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"sent": len(work), "retried": failures["n"]}))


if __name__ == "__main__":
    main()
