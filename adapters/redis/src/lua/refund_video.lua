-- Refunds a video's charge at most once: the charge record names the period set it was counted
-- in; the video leaves the set and the record becomes 'refunded' in one step.
-- A refund settles the charge (it leaves the unsettled set).
-- The record stays, as 'refunded', for as long as it was to live: the create script refuses a
-- video whose charge reads so, so a create still on its way when the sweep gave its charge back
-- (slower than `store.charge_grace`) never stores a video nobody paid for.
-- KEYS[1]: the video's charge record (sf:cr:v:{<video>}); KEYS[2]: the unsettled charges.
-- ARGV[1]: the video id.
-- Returns 1 when this call refunded it, 0 when there was nothing to refund.
redis.call('ZREM', KEYS[2], ARGV[1])
local set = redis.call('GET', KEYS[1])
if not set or set == 'refunded' then
  return 0
end
redis.call('SET', KEYS[1], 'refunded', 'KEEPTTL')
return redis.call('SREM', set, ARGV[1])
