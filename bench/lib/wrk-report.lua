-- wrk script: prints the run's summary as one JSON line (prefixed WRK_JSON) for
-- bench/lib/wrk.mjs. Without BENCH_WRK_BODY_BYTES only done() is defined, so wrk's
-- per-request path stays native; with it, every request is a POST of that many bytes
-- (set once here: wrk.method/body/headers still build the request natively).
-- Latencies are in microseconds; status errors are responses with status > 399.
local body_bytes = tonumber(os.getenv("BENCH_WRK_BODY_BYTES") or "")
if body_bytes and body_bytes > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", body_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"durationUs":%.0f,"requests":%.0f,"bytes":%.0f,' ..
    '"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,' ..
    '"meanUs":%.1f,"p50Us":%.0f,"p90Us":%.0f,"p99Us":%.0f,"maxUs":%.0f}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
