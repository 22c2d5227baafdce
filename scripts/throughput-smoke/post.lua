-- wrk script for the throughput smoke: POST one chat request (SMOKE_BODY), count answers that are not 200.
local body = assert(io.open(assert(os.getenv("SMOKE_BODY"), "SMOKE_BODY is not set"), "rb"))
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.body = body:read("*a")
body:close()
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("SMOKE_API_KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end
function response(status, headers, body) if status ~= 200 then failed = failed + 1 end end
function done(summary, latency, requests)
  local failures = 0
  for _, thread in ipairs(threads) do failures = failures + (thread:get("failed") or 0) end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("SMOKE rps=%.1f p50_ms=%.3f requests=%d failed=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, summary.requests, failures, errors))
end
