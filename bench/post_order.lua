-- wrk script for the benchmark: POST /api/order with a JSON body, then one JSON line of results on stdout.
-- errors.status counts answers of 400 and over (wrk's "Non-2xx or 3xx responses"); the others are socket errors.
wrk.method = "POST"
wrk.body = '{"name": "book"}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "non_2xx": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    latency:percentile(50), latency:percentile(99)))
end
