-- wrk script: every request is a POST with a JSON body (WRK_BODY overrides the echo body),
-- and the done() hook prints the figures the benchmark parses, in microseconds.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("WRK_BODY") or '{"text": "hello, world"}'

done = function(summary, latency, requests)
  io.write(string.format(
    "BENCH requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
