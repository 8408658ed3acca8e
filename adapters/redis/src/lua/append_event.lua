-- Appends an event to its video's stream unless the stream already holds that seq (the store's
-- write script logs every event it assigns a seq to, so a publish after it is a no-op), and
-- tells the servers' feed when it did.
-- KEYS: event stream
-- ARGV: seq, event json, stream length kept, video id, feed channel
local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[1] .. '-0', 'e', ARGV[2])
if type(added) == 'table' and added.err then
  return 0
end
redis.call('PUBLISH', ARGV[5], ARGV[4] .. '\n' .. ARGV[2])
return 1
