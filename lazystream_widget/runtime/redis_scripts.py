"""The Lua scripts of the Redis queue backend: each runs atomically inside Redis.

Key layout of one session (``{sid}`` is a Redis Cluster hash tag: a session's keys share a slot)::

    <prefix>{sid}:meta       hash: state (open/ended), created, ended_at, owner
    <prefix>{sid}:seq        the session's trace sequence counter
    <prefix>{sid}:pos        hash: <queue> -> id of the last item the consumer took; <queue>:n -> how many;
                             <queue>:prev / <queue>:by -> the previous position and who moved it (a lost
                             reply is recovered from these, so a reconnecting consumer neither loses nor repeats)
    <prefix>{sid}:read       hash: <queue> -> when the consumer last read (Redis's clock, microseconds)
    <prefix>{sid}:queues     set of the session's queue names
    <prefix>{sid}:q:<queue>  the stream of items: fields d (the item) and p (the producer's write token)
"""

from __future__ import annotations

# KEYS: stream, pos, read. ARGV: queue, count, call token, heartbeat? ("1"/"0"), expiry seconds.
# Returns {new position, item, item, ...}; the position is unchanged when nothing was waiting.
TAKE = """
local pos = redis.call('HGET', KEYS[2], ARGV[1]) or '0-0'
if ARGV[4] == '1' then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[3], ARGV[1], t[1] .. string.format('%06d', t[2]))
  if redis.call('TTL', KEYS[3]) < 0 then redis.call('EXPIRE', KEYS[3], ARGV[5]) end
end
local entries = redis.call('XRANGE', KEYS[1], '(' .. pos, '+', 'COUNT', ARGV[2])
if #entries == 0 then return {pos} end
local last = entries[#entries][1]
redis.call('HSET', KEYS[2], ARGV[1], last, ARGV[1] .. ':prev', pos, ARGV[1] .. ':by', ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[1] .. ':n', #entries)
if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
local out = {last}
for _, e in ipairs(entries) do
  local f = e[2]
  for j = 1, #f, 2 do
    if f[j] == 'd' then out[#out + 1] = f[j + 1]; break end
  end
end
return out
"""

# KEYS: stream, pos. ARGV: queue. The oldest unread item, or nil.
PEEK = """
local pos = redis.call('HGET', KEYS[2], ARGV[1]) or '0-0'
local e = redis.call('XRANGE', KEYS[1], '(' .. pos, '+', 'COUNT', 1)[1]
if not e then return false end
local f = e[2]
for j = 1, #f, 2 do
  if f[j] == 'd' then return f[j + 1] end
end
return false
"""

# XINFO STREAM as a table (nil when the stream does not exist).
_INFO = """
local function info(key)
  if redis.call('EXISTS', key) == 0 then return nil end
  local raw = redis.call('XINFO', 'STREAM', key)
  local t = {}
  for i = 1, #raw, 2 do t[raw[i]] = raw[i + 1] end
  return t
end
"""

# KEYS: stream, pos. ARGV: queue. How many items wait after the consumer's position.
SIZE = _INFO + """
local i = info(KEYS[1])
if not i then return 0 end
local pos = redis.call('HGET', KEYS[2], ARGV[1]) or '0-0'
if i['entries-added'] then
  local taken = tonumber(redis.call('HGET', KEYS[2], ARGV[1] .. ':n') or '0')
  return math.max(0, math.min(i['length'], i['entries-added'] - taken))
end
return #redis.call('XRANGE', KEYS[1], '(' .. pos, '+')  -- Redis < 7: count them
"""

# KEYS: stream, pos. ARGV: queue, expiry. Move the consumer's position to the end of the stream.
CLEAR = _INFO + """
local i = info(KEYS[1])
if not i then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], i['last-generated-id'])
if i['entries-added'] then redis.call('HSET', KEYS[2], ARGV[1] .. ':n', i['entries-added']) end
if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return 1
"""

# Appending, shared by APPEND and APPEND_NUMBERED. KEYS: stream, meta, queues, seq, pos, read.
# ARGV: item, write token, maxlen, expiry, touch ("1": refresh the session's expiry), queue name.
# Only an open session takes items. A writer asks for the expiry with its first item of a queue (so a
# stream gets one atomically with its first item: no key without one is ever left behind) and again
# every quarter of the expiry (at most every 10 minutes) while it writes.
_APPEND = """
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'open' then return redis.error_reply('LSWCLOSED ' .. tostring(state)) end
local function append(item)
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'd', item, 'p', ARGV[2])
  if ARGV[5] == '1' then
    redis.call('SADD', KEYS[3], ARGV[6])
    for i = 1, 6 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
  end
  return id
end
"""

APPEND = _APPEND + "return append(ARGV[1])"

# As APPEND, with ARGV[1] and ARGV[7] the item's text before and after its sequence number: the number
# and the append are one atomic step, so numbered items are in sequence order in the stream.
APPEND_NUMBERED = _APPEND + """
local seq = redis.call('INCR', KEYS[4])
return append(ARGV[1] .. seq .. ARGV[7])
"""

# KEYS: read. ARGV: queue. Microseconds since the consumer last read (by Redis's clock), or -1.
READ_AGE = """
local hb = redis.call('HGET', KEYS[1], ARGV[1])
if not hb then return -1 end
local t = redis.call('TIME')
return tonumber(t[1] .. string.format('%06d', t[2])) - tonumber(hb)
"""

# KEYS: meta, seq, pos, read, queues. ARGV: stream key prefix, expiry seconds, mode
# ("touch": refresh the expiry; "end": mark ended, then expire; "delete": delete now).
SESSION_KEYS = """
local keys = {KEYS[1], KEYS[2], KEYS[3], KEYS[4]}
for _, q in ipairs(redis.call('SMEMBERS', KEYS[5])) do keys[#keys + 1] = ARGV[1] .. q end
keys[#keys + 1] = KEYS[5]
if ARGV[3] == 'delete' then
  for _, k in ipairs(keys) do redis.call('DEL', k) end
  return 1
end
if ARGV[3] == 'end' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'state', 'ended', 'ended_at', t[1])
end
for _, k in ipairs(keys) do redis.call('EXPIRE', k, ARGV[2]) end
return 1
"""
