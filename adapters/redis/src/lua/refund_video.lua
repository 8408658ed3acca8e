-- Refunds a video's charge at most once: the charge record names the period set it was counted
-- in; the record goes and the video leaves the set in one step.
-- A refund settles the charge (it leaves the unsettled set).
-- KEYS[1]: the video's charge record (sf:cr:v:{<video>}); KEYS[2]: the unsettled charges.
-- ARGV[1]: the video id.
-- Returns 1 when this call refunded it, 0 when there was nothing to refund.
redis.call('ZREM', KEYS[2], ARGV[1])
local set = redis.call('GET', KEYS[1])
if not set then
  return 0
end
redis.call('DEL', KEYS[1])
return redis.call('SREM', set, ARGV[1])
