-- Charges one video to an owner's period unless the allowance is spent: check, record and count
-- in one step, so servers sharing the Redis never spend one credit twice.
-- A new charge is also dated in the unsettled set, where the sweeper finds it if its video is
-- never stored.
-- KEYS[1]: the owner's period set (sf:cr:{<owner>}:<period>); KEYS[2]: the video's charge
-- record (sf:cr:v:{<video>}); KEYS[3]: the unsettled charges (sf:cr:unsettled).
-- ARGV: video id, allowance, expire-at (unix seconds), now (unix milliseconds).
-- Returns {charged (1|0), used}.
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return {1, redis.call('SCARD', KEYS[1])}
end
local used = redis.call('SCARD', KEYS[1])
if used >= tonumber(ARGV[2]) then
  return {0, used}
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], KEYS[1])
redis.call('EXPIREAT', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return {1, used + 1}
