-- wrk script of the service benchmarks (bench/service_load.py): replays a file of requests.
--
-- WRK_REQUESTS names a file with one request per line: METHOD <tab> PATH <tab> BODY (BODY may be
-- empty). "@@N@@" in a path or body is replaced by a number unique to the request (thread and
-- counter), so that event ids and unknown users never repeat. WRK_AUTH is the Authorization
-- header's value. Every thread starts at a different line and cycles through the file.
-- done() prints one line "WRK_JSON {...}": requests, duration, latency percentiles (µs), the
-- status code counts and wrk's socket errors.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  requests_ = {}
  for line in io.lines(os.getenv("WRK_REQUESTS")) do
    local method, path, body = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
    table.insert(requests_, { method, path, body })
  end
  auth_ = os.getenv("WRK_AUTH")
  next_ = (tid * 7919) % #requests_ + 1
  statuses = {}
end

function request()
  local r = requests_[next_]
  next_ = next_ % #requests_ + 1
  counter = counter + 1
  local n = tostring(tid * 1000000000 + counter)
  local path = r[2]:gsub("@@N@@", n)
  local headers = { ["Authorization"] = auth_ }
  local body = nil
  if r[3] ~= "" then
    body = r[3]:gsub("@@N@@", n)
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(r[1], path, headers, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses")
    for code, n in pairs(seen) do
      counts[code] = (counts[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(counts) do
    table.insert(parts, string.format('"%s": %d', code, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
