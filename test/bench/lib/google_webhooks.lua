-- wrk script: Google Ads lead form webhooks, each a new lead, each sent once.
--   wrk -t T -c T -d 3600s -s google_webhooks.lua URL -- TOTAL FIRST KEY T DONE_FILE
-- Thread t (one connection each) sends leads FIRST + t, FIRST + t + T, ... below
-- FIRST + TOTAL and stops after its last answer, so a run is exactly TOTAL leads. The body
-- is the one baselines/webhook_ingest_lead.pgbench builds for the same number, plus the
-- key. done() prints one line: leads, seconds, non-2xx answers, socket errors, latency.
--
-- Two things of wrk 4.1 this works around. It calls the first thread's request() once
-- before the run, to check it, and never sends that request: thread 1 answers that call
-- with a request that is not a lead. And its main thread sleeps the whole -d duration
-- even when every thread has stopped: the last thread to finish appends to DONE_FILE,
-- finds all T there and sends wrk SIGINTs, which end the run as Ctrl-C would.

local threads, started = {}, 0

function setup(thread)
  thread:set("index", started)
  started = started + 1
  table.insert(threads, thread)
end

function init(args)
  total, first, key, stride, done_file = tonumber(args[1]), tonumber(args[2]), args[3], tonumber(args[4]), args[5]
  checked = index ~= 0  -- thread 1's first request() is wrk's check, never sent
  quota = 0
  for i = index, total - 1, stride do quota = quota + 1 end
  next_lead, answered, bad = index, 0, 0
end

function request()
  if not checked or next_lead >= total then  -- wrk's check, or the quota is sent: no lead
    checked = true
    return wrk.format("GET", "/healthz")
  end
  local n = first + next_lead
  next_lead = next_lead + stride
  local body = string.format('{"lead_id": "wh-%d", "google_key": "%s", "is_test": false, "user_column_data": ' ..
    '[{"column_id": "FULL_NAME", "string_value": "Webhook Person %d"}, ' ..
    '{"column_id": "PHONE_NUMBER", "string_value": "+91%d"}]}', n, key, n, 8000000000 + n)
  return wrk.format("POST", "/webhooks/google", {["Content-Type"] = "application/json"}, body)
end

function response(status)
  answered = answered + 1
  if answered <= quota and (status < 200 or status > 299) then bad = bad + 1 end
  if answered == quota then
    finished()
    wrk.thread:stop()
  end
end

function finished()
  local file = io.open(done_file, "a")
  file:write(index, "\n")
  file:close()
  local count = 0
  for _ in io.lines(done_file) do count = count + 1 end
  if count == stride then
    local stat = io.open("/proc/self/stat")
    local pid = stat:read("*n")
    stat:close()
    -- Any thread of wrk may take the signal, and only the main thread's taking it ends
    -- the sleep (one run hung for the whole -d): signal every 50 ms until wrk is gone.
    -- (Not os.execute: system() ignores SIGINT until its child is done.)
    io.popen("(while kill -INT " .. pid .. " 2>/dev/null; do sleep 0.05; done) >/dev/null 2>&1 &"):close()
  end
end

function done(summary, latency)
  local leads, non2xx = 0, 0
  for _, thread in ipairs(threads) do
    leads = leads + thread:get("quota")
    non2xx = non2xx + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format("leads=%d seconds=%.3f non2xx=%d socket_errors=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    leads, summary.duration / 1e6, non2xx, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
