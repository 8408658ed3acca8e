-- Compare-and-set of a video's text fields (key rotation): each field is replaced only if it
-- still holds the value it was read with, so a shot write that came in between is never lost;
-- the fields that changed are answered, to be read and mapped again.
-- KEYS: video hash
-- ARGV: triples of field, value read, new value
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'novideo'}
end
local out = {'ok'}
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  else
    out[#out + 1] = ARGV[i]
  end
end
return out
