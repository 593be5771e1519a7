-- wrk script for bench/load/run.sh: every request is the same POST /v1/chat/completions for model
-- "mock-ok". Arguments after wrk's "--": "stream" or "whole", then any extra headers as "Name: value"
-- (Portkey's x-portkey-* headers). done() prints one machine-readable line:
--   RESULT requests=N seconds=S rps=R connect=N read=N write=N status=N timeout=N p50_us=… p99_us=… p999_us=… max_us=…
-- Latency is wrk's: from a request's send to the last byte of its answer (for a stream, the end of
-- the stream), per connection, back to back; wrk corrects the figures for coordinated omission after
-- the run, before done() sees them (an estimate: see bench/README.md).

function init(args)
  local stream = args[1] == "stream"
  wrk.method = "POST"
  wrk.path = "/v1/chat/completions"
  wrk.headers["Content-Type"] = "application/json"
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
  if stream then
    wrk.body = '{"model":"mock-ok","stream":true,"stream_options":{"include_usage":true},' ..
               '"messages":[{"role":"user","content":"measure me"}]}'
  else
    wrk.body = '{"model":"mock-ok","messages":[{"role":"user","content":"measure me"}]}'
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
