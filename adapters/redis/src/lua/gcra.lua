-- One request against a user's limit, GCRA: the key holds the user's theoretical arrival time
-- (microseconds, Redis's own clock, so every server counts against one time line); a request
-- passes when that time, advanced by one interval, is no more than `burst` intervals ahead of
-- now, and is refused (answering the microseconds to wait) otherwise.
-- KEYS[1]: the user's counter for this limit (sf:rl:<limit>:{<owner>}).
-- ARGV: interval (microseconds), burst.
-- Returns 0 when admitted, else the microseconds until the next request would be.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local next = tat + interval
local allowed_at = next - interval * burst
if allowed_at > now then
  return allowed_at - now
end
-- Kept until the bucket is full again; then it is the same as no key.
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1)
return 0
