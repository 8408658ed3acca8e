-- Stores a new video with its shots, atomically with its listing entries and the sets servers
-- sweep (unfinished videos, queued shots), and with its Idempotency-Key when it has one. Refuses
-- an id that exists, and a key that created a video already (answering that video).
-- Refuses too a video whose charge was refunded meanwhile (refund_video.lua): its create came
-- later than the sweep's grace, and the caller must submit again.
-- KEYS: video hash, unfinished set, queued set, index of all videos, index of the owner's
--       videos, the video's charge record, [the Idempotency-Key's record]
-- ARGV: video id, meta json, state, seq, updated_at json, shot count, index member, the
--       counters the write script keeps (final, completed, failed, started shots),
--       then per shot: shot json, summary, shot id (empty unless queued),
--       then with a key: its record (`<video id>|<fingerprint>`), its lifetime in milliseconds
-- Returns {1, ''} when stored, {0, ''} for an id that exists, {2, record} for a key seen before,
-- {3, ''} for a refunded charge.
local n = tonumber(ARGV[6])
if KEYS[7] then
  local seen = redis.call('GET', KEYS[7])
  if seen then
    return {2, seen}
  end
end
if redis.call('GET', KEYS[6]) == 'refunded' then
  return {3, ''}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, ''}
end
local fields = {'meta', ARGV[2], 'state', ARGV[3], 'seq', ARGV[4], 'upd', ARGV[5], 'n', ARGV[6],
  'nf', ARGV[8], 'nc', ARGV[9], 'nx', ARGV[10], 'ns', ARGV[11]}
-- The queued shots join the queued set in one command, not one each.
local queued = {}
for i = 0, n - 1 do
  local b = 12 + 3 * i
  fields[#fields + 1] = string.format('s:%d', i)
  fields[#fields + 1] = ARGV[b]
  fields[#fields + 1] = string.format('k:%d', i)
  fields[#fields + 1] = ARGV[b + 1]
  if ARGV[b + 2] ~= '' then
    queued[#queued + 1] = ARGV[b + 2]
  end
end
if #queued > 0 then
  redis.call('SADD', KEYS[3], unpack(queued))
end
redis.call('HSET', KEYS[1], unpack(fields))
local final = {completed = true, failed = true, cancelled = true}
if not final[ARGV[3]] then
  redis.call('SADD', KEYS[2], ARGV[1])
end
redis.call('ZADD', KEYS[4], 0, ARGV[7])
redis.call('ZADD', KEYS[5], 0, ARGV[7])
if KEYS[7] then
  local b = 12 + 3 * n
  redis.call('SET', KEYS[7], ARGV[b], 'PX', ARGV[b + 1])
end
return {1, ''}
