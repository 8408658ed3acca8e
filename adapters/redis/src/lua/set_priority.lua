-- Sets a video's priority (its owner's reorder): kept in the hash's `prio` field, which a read
-- takes over the one `meta` was created with. A video that is gone is left gone.
-- KEYS[1]: the video hash. ARGV[1]: the priority's wire name.
-- Returns 1 when set, 0 for no such video.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'prio', ARGV[1])
return 1
