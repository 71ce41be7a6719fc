-- wrk script for every scenario of bench/run.py; one scenario per wrk run.
--
--   wrk -t2 -c8 -d10s --latency -s bench/lua/scim.lua URL -- \
--       SCENARIO BASE TOKEN DATAFILE TAG [BULK_OPS] [SEEDED]
--
-- SCENARIO  create | get | filter | filter_seeded | patch | list | bulk
-- BASE      path of the SCIM root on the target ("/scim/v2", "/v2")
-- DATAFILE  "id<TAB>userName" lines of existing users ("-" for none)
-- TAG       makes the userNames of this run unique (create, bulk)
-- BULK_OPS  operations per Bulk request (bulk)
-- SEEDED    filter_seeded: users are seed-0000001@bench.example .. SEEDED
--
-- Every request is built here (request()), so each one can carry a fresh
-- userName; no response() callback, so wrk never hands bodies to Lua.

local USER = "urn:ietf:params:scim:schemas:core:2.0:User"
local PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
local BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"

local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local scenario, base, tag, bulk_ops, seeded
local read_headers, write_headers
local ids, names = {}, {}
local counter = 0

function init(args)
  scenario, base = args[1], args[2]
  local token, datafile = args[3], args[4]
  tag = args[5] or "run"
  bulk_ops = tonumber(args[6] or "100")
  seeded = tonumber(args[7] or "0")
  read_headers = { ["Authorization"] = "Bearer " .. token }
  write_headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/scim+json",
  }
  if datafile and datafile ~= "-" then
    for line in io.lines(datafile) do
      local id, name = line:match("^([^\t]+)\t([^\t]+)$")
      if id then
        ids[#ids + 1] = id
        names[#names + 1] = name
      end
    end
  end
  -- Each thread walks the pool from its own place, with a stride coprime to
  -- any pool size we use, so concurrent clients rarely touch the same row.
  counter = (tid or 0) * 7919
  math.randomseed(1234 + (tid or 0))
end

local function user_body(name, n)
  return string.format(
    '{"schemas":["%s"],"userName":"%s","externalId":"ext-%s",'
      .. '"name":{"givenName":"Bench","familyName":"User %d"},'
      .. '"displayName":"Bench User %d","active":true,'
      .. '"emails":[{"value":"%s","type":"work","primary":true}]}',
    USER, name, name, n, n, name)
end

local function pick()
  counter = counter + 1
  return ((counter * 104729) % #ids) + 1
end

local function fresh_name()
  counter = counter + 1
  return string.format("%s-t%d-%d@bench.example", tag, tid or 0, counter), counter
end

local function quote_filter(name)
  -- userName eq "name", URL-encoded (names are [A-Za-z0-9@.-])
  return "userName%20eq%20%22" .. name .. "%22"
end

local builders = {}

function builders.create()
  local name, n = fresh_name()
  return wrk.format("POST", base .. "/Users", write_headers, user_body(name, n))
end

function builders.get()
  return wrk.format("GET", base .. "/Users/" .. ids[pick()], read_headers)
end

function builders.filter()
  return wrk.format("GET", base .. "/Users?filter=" .. quote_filter(names[pick()]), read_headers)
end

function builders.filter_seeded()
  local name = string.format("seed-%07d@bench.example", math.random(1, seeded))
  return wrk.format("GET", base .. "/Users?filter=" .. quote_filter(name), read_headers)
end

function builders.patch()
  local i = pick()
  local value = (counter % 2 == 0) and "false" or "true"
  local body = string.format(
    '{"schemas":["%s"],"Operations":[{"op":"replace","path":"active","value":%s}]}',
    PATCH_OP, value)
  return wrk.format("PATCH", base .. "/Users/" .. ids[i], write_headers, body)
end

function builders.list()
  return wrk.format("GET", base .. "/Users?count=100", read_headers)
end

function builders.bulk()
  local ops = {}
  for k = 1, bulk_ops do
    local name, n = fresh_name()
    ops[k] = string.format('{"method":"POST","path":"/Users","bulkId":"b%d","data":%s}',
                           k, user_body(name, n))
  end
  local body = string.format('{"schemas":["%s"],"Operations":[%s]}', BULK, table.concat(ops, ","))
  return wrk.format("POST", base .. "/Bulk", write_headers, body)
end

local build

function request()
  if build == nil then
    build = builders[scenario]
    if build == nil then
      error("unknown scenario " .. tostring(scenario))
    end
  end
  return build()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
