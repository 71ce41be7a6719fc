"""The Lua scripts of the Redis store: one for reads, one for writes.

Each call is ``EVALSHA sha 18 <the organization's keys> op payload [raw...]``:
``op`` names the operation, ``payload`` is JSON, raw arguments carry byte
strings JSON cannot (lexicographic bounds). A script runs atomically, so a
read sees one state and a write is all or nothing: every check (existence,
version, uniqueness) happens before the first write, and a refused write
returns a status instead of raising, having written nothing. The write script
has no flags (Redis refuses it up front when out of memory rather than halfway);
the read script is ``no-writes``.

Layout (``keys.py``), per organization, ``T`` = ``U`` or ``G``:

* ``T:docs``  hash id -> ``seq \\t version \\t retainedAt \\t json``
* ``T:uniq``  hash lowered name -> id (live and retained records)
* ``T:all`` / ``T:live`` / ``T:ret``  sorted sets id by seq (creation order)
* ``T:names`` lex sorted set ``escaped lowered name \\0 id`` (live records)
* ``T:ix``    lex sorted set ``kind escaped value \\0 id`` (externalId ``x``,
  User displayName ``d``, emails ``e``; live and retained records)
* ``rel``     lex sorted set ``groupId \\0 T \\0 memberId``
* ``rrel``    lex sorted set ``T \\0 memberId \\0 groupId`` (the same pairs reversed)
* ``G:disp``  hash group id -> displayName (for Users' ``groups[].display``)
* ``seq``     the organization's creation counter
"""

from __future__ import annotations

PRELUDE = r"""
local SEP = "\0"
local SEQ, REL, RREL, DISP = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local function tk(b)
  return {docs = KEYS[b + 1], uniq = KEYS[b + 2], all = KEYS[b + 3], live = KEYS[b + 4],
          ret = KEYS[b + 5], names = KEYS[b + 6], ix = KEYS[b + 7]}
end
local TK = {U = tk(4), G = tk(11)}
local TYPES = {"U", "G"}

-- The members of a lex sorted set that start with prefix (which ends in SEP),
-- with the prefix cut off.
local function after_prefix(key, prefix)
  local out = {}
  local high = "(" .. string.sub(prefix, 1, -2) .. "\1"
  for _, e in ipairs(redis.call("ZRANGEBYLEX", key, "[" .. prefix, high)) do
    out[#out + 1] = string.sub(e, #prefix + 1)
  end
  return out
end

local function id_of(e)  -- the id after the last NUL of an index entry
  return string.match(e, "^.*%z(.*)$")
end

local function by_seq(a, b) return a[1] < b[1] end

-- Visible members of a group (retained ones left out), in creation order.
local function members_of(gid)
  local found = {}
  for _, rest in ipairs(after_prefix(REL, gid .. SEP)) do
    local mt, mid = string.sub(rest, 1, 1), string.sub(rest, 3)
    local k = TK[mt]
    if k and not redis.call("ZSCORE", k.ret, mid) then
      local s = redis.call("ZSCORE", k.all, mid)
      if s then found[#found + 1] = {tonumber(s), mid, mt} end
    end
  end
  table.sort(found, by_seq)
  local flat = {}
  for _, m in ipairs(found) do flat[#flat + 1] = m[2]; flat[#flat + 1] = m[3] end
  return flat
end

-- The groups a user is in, in creation order, with their display names.
local function groups_of(uid)
  local found = {}
  for _, gid in ipairs(after_prefix(RREL, "U" .. SEP .. uid .. SEP)) do
    local s = redis.call("ZSCORE", TK.G.all, gid)
    if s then found[#found + 1] = {tonumber(s), gid, redis.call("HGET", DISP, gid)} end
  end
  table.sort(found, by_seq)
  local flat = {}
  for _, g in ipairs(found) do flat[#flat + 1] = g[2]; flat[#flat + 1] = g[3] end
  return flat
end

-- A User's groups or a Group's visible members, if wanted.
local function relations(t, id, wanted)
  if not wanted then return {} end
  if t == "U" then return groups_of(id) end
  return members_of(id)
end

local function fetch(t, id, wanted)
  local env = redis.call("HGET", TK[t].docs, id)
  if not env then return nil end
  return {id, env, relations(t, id, wanted)}
end

local function fetch_all(t, ids, wanted)
  local out = {}
  for _, id in ipairs(ids) do
    local found = fetch(t, id, wanted)
    if found then out[#out + 1] = found end
  end
  return out
end

-- A page reply: the documents of the first n ids, and whether more ids followed
-- (a caller asking for a cursor passes up to n + 1 ids: one more id costs less
-- than one more document).
local function page(t, total, ids, n, wanted)
  local more = #ids > n
  if more then ids[#ids] = nil end
  return {"ok", total, fetch_all(t, ids, wanted), more and 1 or 0}
end

local op, P = ARGV[1], cjson.decode(ARGV[2])
local t = P.t
local k = TK[t]
"""

READ = (
    "#!lua flags=no-writes\n"
    + PRELUDE
    + r"""
if op == "get" then
  return fetch(t, P.id, P.m) or false

elseif op == "rels" then
  local out = {}
  for i, id in ipairs(P.ids) do out[i] = relations(t, id, true) end
  return out

elseif op == "head" then
  return redis.call("HGET", k.docs, P.id)

elseif op == "ids" then
  -- The union of index lookups, then those documents.
  local seen, ids = {}, {}
  local function add(id)
    if id and not seen[id] then seen[id] = true; ids[#ids + 1] = id end
  end
  for _, l in ipairs(P.l) do
    local kind, v = l[1], l[2]
    if kind == "id" then
      add(v)
    elseif kind == "uniq" then
      add(redis.call("HGET", k.uniq, v))
    elseif kind == "ix" then
      for _, id in ipairs(after_prefix(k.ix, v)) do add(id) end
    elseif kind == "in" then
      for _, mt in ipairs(TYPES) do
        for _, gid in ipairs(after_prefix(RREL, mt .. SEP .. v .. SEP)) do add(gid) end
      end
    elseif kind == "has" then
      for _, uid in ipairs(after_prefix(REL, v .. SEP .. "U" .. SEP)) do add(uid) end
    elseif kind == "lex" then
      local found = redis.call("ZRANGEBYLEX", k.names, ARGV[l[2]], ARGV[l[3]],
                               "LIMIT", 0, P.max + 1)
      for _, e in ipairs(found) do add(id_of(e)) end
    end
    if #ids > P.max then return {"toomany", #ids} end
  end
  return {"ok", #ids, fetch_all(t, ids, P.m)}

elseif op == "range" then
  -- A page of a creation-order set: by rank, or after a seq (keyset).
  local z = k[P.z]
  local total = redis.call("ZCARD", z)
  if P.n == 0 then return {"ok", total, {}} end
  local ids
  if P.mode == "rank" then
    local cmd = P.rev and "ZREVRANGE" or "ZRANGE"
    ids = redis.call(cmd, z, P.a, P.a + P.n - 1)
  elseif P.rev then
    local from = P.s and string.format("(%d", P.s) or "+inf"
    ids = redis.call("ZREVRANGEBYSCORE", z, from, "-inf", "LIMIT", 0, P.n + 1)
  else
    local from = P.s and string.format("(%d", P.s) or "-inf"
    ids = redis.call("ZRANGEBYSCORE", z, from, "+inf", "LIMIT", 0, P.n + 1)
  end
  return page(t, total, ids, P.n, P.m)

elseif op == "lex" then
  -- A page of the name index in name order, within [ARGV[3], ARGV[4]]: by rank,
  -- or within [ARGV[5], ARGV[6]] (the range after a cursor).
  local names = k.names
  local total = redis.call("ZLEXCOUNT", names, ARGV[3], ARGV[4])
  if P.n == 0 or total == 0 then return {"ok", total, {}} end
  local entries = {}
  if P.mode == "rank" then
    local lo, low = 0, ARGV[3]
    if low ~= "-" then
      local before = (string.sub(low, 1, 1) == "[" and "(" or "[") .. string.sub(low, 2)
      lo = redis.call("ZLEXCOUNT", names, "-", before)
    end
    local first, last = lo, lo + total - 1
    if P.rev then
      local a = last - P.a
      local b = math.max(first, a - P.n + 1)
      if a >= b then
        local got = redis.call("ZRANGE", names, b, a)
        for i = #got, 1, -1 do entries[#entries + 1] = got[i] end
      end
    else
      local a = first + P.a
      local b = math.min(last, a + P.n - 1)
      if a <= b then entries = redis.call("ZRANGE", names, a, b) end
    end
  elseif P.rev then
    entries = redis.call("ZREVRANGEBYLEX", names, ARGV[6], ARGV[5], "LIMIT", 0, P.n + 1)
  else
    entries = redis.call("ZRANGEBYLEX", names, ARGV[5], ARGV[6], "LIMIT", 0, P.n + 1)
  end
  local ids = {}
  for i, e in ipairs(entries) do ids[i] = id_of(e) end
  return page(t, total, ids, P.n, P.m)

elseif op == "lexseq" then
  -- A name range [ARGV[3], ARGV[4]] in creation order: sort the range's ids by
  -- seq here, and hand back only the page's documents.
  local found = redis.call("ZRANGEBYLEX", k.names, ARGV[3], ARGV[4], "LIMIT", 0, P.max + 1)
  if #found > P.max then return {"toomany", #found} end
  local items = {}
  for _, e in ipairs(found) do
    local id = id_of(e)
    local s = redis.call("ZSCORE", k.live, id)
    if s then items[#items + 1] = {tonumber(s), id} end
  end
  if P.rev then
    table.sort(items, function(a, b) return a[1] > b[1] end)
  else
    table.sort(items, by_seq)
  end
  local ids = {}
  if P.n > 0 then
    if P.mode == "rank" then
      for i = P.a + 1, math.min(#items, P.a + P.n) do ids[#ids + 1] = items[i][2] end
    else
      for _, it in ipairs(items) do
        if not P.s or (P.rev and it[1] < P.s) or (not P.rev and it[1] > P.s) then
          ids[#ids + 1] = it[2]
          if #ids > P.n then break end
        end
      end
    end
  end
  return page(t, #items, ids, P.n, P.m)
end
return redis.error_reply("unknown read op " .. tostring(op))
"""
)

WRITE = (
    "#!lua\n"
    + PRELUDE
    + r"""
-- The types under which an id names a resource of this organization.
local function types_of(mid)
  local out = {}
  for _, mt in ipairs(TYPES) do
    if redis.call("HEXISTS", TK[mt].docs, mid) == 1 then out[#out + 1] = mt end
  end
  return out
end

local function link(gid, mt, mid)
  redis.call("ZADD", REL, 0, gid .. SEP .. mt .. SEP .. mid)
  redis.call("ZADD", RREL, 0, mt .. SEP .. mid .. SEP .. gid)
end

local function unlink(gid, mt, mid)
  redis.call("ZREM", REL, gid .. SEP .. mt .. SEP .. mid)
  redis.call("ZREM", RREL, mt .. SEP .. mid .. SEP .. gid)
end

local function add_members(gid, ids)
  for _, mid in ipairs(ids) do
    for _, mt in ipairs(types_of(mid)) do link(gid, mt, mid) end
  end
end

-- Make the visible members exactly ids (unknown ids ignored, retained members kept).
local function set_visible(gid, ids)
  local target, order = {}, {}
  for _, mid in ipairs(ids) do
    for _, mt in ipairs(types_of(mid)) do
      local key = mt .. SEP .. mid
      if not target[key] then target[key] = true; order[#order + 1] = {mt, mid} end
    end
  end
  for _, rest in ipairs(after_prefix(REL, gid .. SEP)) do
    local mt, mid = string.sub(rest, 1, 1), string.sub(rest, 3)
    if not target[rest] and TK[mt] and not redis.call("ZSCORE", TK[mt].ret, mid) then
      unlink(gid, mt, mid)
    end
  end
  for _, m in ipairs(order) do link(gid, m[1], m[2]) end
end

if op == "create" then
  if redis.call("HEXISTS", k.docs, P.id) == 1 then return {"exists"} end
  if P.u and redis.call("HEXISTS", k.uniq, P.u) == 1 then return {"taken"} end
  local seq = redis.call("INCR", SEQ)
  redis.call("HSET", k.docs, P.id, string.format("%d\t1\t\t", seq) .. ARGV[3])
  redis.call("ZADD", k.all, seq, P.id)
  redis.call("ZADD", k.live, seq, P.id)
  if P.u then
    redis.call("HSET", k.uniq, P.u, P.id)
    redis.call("ZADD", k.names, 0, P.n .. P.id)
  end
  for _, e in ipairs(P.ix) do redis.call("ZADD", k.ix, 0, e .. P.id) end
  if t == "G" then
    if P.d then redis.call("HSET", DISP, P.id, P.d) end
    add_members(P.id, P.add)
  end
  return {"ok", seq, relations(t, P.id, true)}

elseif op == "update" then
  local env = redis.call("HGET", k.docs, P.id)
  if not env then return {"notfound"} end
  local seq, ver, ret = string.match(env, "^(%d+)\t(%d+)\t([^\t]*)\t")
  if tonumber(ver) ~= P.v then return {"conflict"} end
  if P.u and P.u ~= P.ou then
    local owner = redis.call("HGET", k.uniq, P.u)
    if owner and owner ~= P.id then return {"taken"} end
  end
  -- Checks done: from here on everything is written.
  local now_ret = ret
  if P.r == "set" and ret == "" then now_ret = P.at elseif P.r == "clear" then now_ret = "" end
  local nv = tonumber(ver) + 1
  redis.call("HSET", k.docs, P.id, seq .. "\t" .. string.format("%d", nv) .. "\t" .. now_ret
             .. "\t" .. ARGV[3])
  if P.ou ~= P.u then
    if P.ou and redis.call("HGET", k.uniq, P.ou) == P.id then redis.call("HDEL", k.uniq, P.ou) end
    if P.u then redis.call("HSET", k.uniq, P.u, P.id) end
  end
  if P.on then redis.call("ZREM", k.names, P.on .. P.id) end
  if P.n and now_ret == "" then redis.call("ZADD", k.names, 0, P.n .. P.id) end
  if ret == "" and now_ret ~= "" then
    redis.call("ZREM", k.live, P.id)
    redis.call("ZADD", k.ret, seq, P.id)
  elseif ret ~= "" and now_ret == "" then
    redis.call("ZREM", k.ret, P.id)
    redis.call("ZADD", k.live, seq, P.id)
  end
  for _, e in ipairs(P.oix) do redis.call("ZREM", k.ix, e .. P.id) end
  for _, e in ipairs(P.ix) do redis.call("ZADD", k.ix, 0, e .. P.id) end
  if t == "G" then
    if P.d then redis.call("HSET", DISP, P.id, P.d) else redis.call("HDEL", DISP, P.id) end
    if P.set then set_visible(P.id, P.set) end
    if P.rep then set_visible(P.id, P.rep) end
    for _, mid in ipairs(P.rem or {}) do
      for _, mt in ipairs(TYPES) do unlink(P.id, mt, mid) end
    end
    if P.add then add_members(P.id, P.add) end
  end
  return {"ok", tonumber(seq), nv, now_ret, relations(t, P.id, P.m)}

elseif op == "delete" then
  local env = redis.call("HGET", k.docs, P.id)
  if not env then return {"notfound"} end
  local ver = string.match(env, "^%d+\t(%d+)\t")
  if tonumber(ver) ~= P.v then return {"conflict"} end
  redis.call("HDEL", k.docs, P.id)
  if P.u and redis.call("HGET", k.uniq, P.u) == P.id then redis.call("HDEL", k.uniq, P.u) end
  if P.n then redis.call("ZREM", k.names, P.n .. P.id) end
  redis.call("ZREM", k.all, P.id)
  redis.call("ZREM", k.live, P.id)
  redis.call("ZREM", k.ret, P.id)
  for _, e in ipairs(P.ix) do redis.call("ZREM", k.ix, e .. P.id) end
  -- Its memberships, both ways.
  local as_member = t .. SEP .. P.id .. SEP
  for _, gid in ipairs(after_prefix(RREL, as_member)) do
    redis.call("ZREM", REL, gid .. SEP .. t .. SEP .. P.id)
  end
  redis.call("ZREMRANGEBYLEX", RREL, "[" .. as_member, "(" .. t .. SEP .. P.id .. "\1")
  if t == "G" then
    for _, rest in ipairs(after_prefix(REL, P.id .. SEP)) do
      local mt, mid = string.sub(rest, 1, 1), string.sub(rest, 3)
      redis.call("ZREM", RREL, mt .. SEP .. mid .. SEP .. P.id)
    end
    redis.call("ZREMRANGEBYLEX", REL, "[" .. P.id .. SEP, "(" .. P.id .. "\1")
    redis.call("HDEL", DISP, P.id)
  end
  return {"ok"}
end
return redis.error_reply("unknown write op " .. tostring(op))
"""
)
