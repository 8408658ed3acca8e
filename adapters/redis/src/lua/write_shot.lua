-- The fenced shot write (see `shot_write_allowed` in ports/store.rs, mirrored rule for rule):
-- checks the stored attempt and state, stores the shot, assigns the video's next seq, derives
-- the video's state from per-video counters, and appends the events to the video's stream and
-- the servers' feed, all in one atomic step. Events therefore reach the log in seq order
-- whichever server wrote them, and a crash can never leave a seq without its event. Only when
-- the video's state changes are every shot's summaries read (for its progress and ETA).
-- KEYS: video hash, event stream, unfinished set, queued set
-- ARGV: 1 shot index, 2 shot json, 3 state, 4 attempt, 5 step, 6 progress, 7 eta sort key
--       (empty: none), 8 eta json, 9 shot event json without seq, 10 ts json, 11 video id json,
--       12 video id, 13 shot id, 14 stream length kept, 15 seconds a final video's stream is
--       kept, 16 feed channel, 17 the written shot's node (empty: none), 18 the step's live
--       preview as a JSON member `,"preview":{...}` (empty: none), 19 the written shot's
--       version
-- The preview goes on the feed's copy of the shot event only: the stream is at rest and never
-- holds one (the Preview rule), so `since` replay and catch-ups carry none.
-- Per shot the hash also keeps h:<i>, its holder (the node of its last write): at one attempt
-- only the holder may run, preempt or complete it.
-- Counters in the hash: nf final shots, nc completed, nx failed, ns started (not a fresh
-- queued shot: left the queue once, or has a later attempt or a step).
local h, stream = KEYS[1], KEYS[2]
local idx = ARGV[1]
local cur = redis.call('HMGET', h, 'n', 'state', 'seq', 'nf', 'nc', 'nx', 'ns', 'k:' .. idx,
  'h:' .. idx)
local n = tonumber(cur[1])
if not n then
  return {'novideo'}
end
if not cur[8] then
  return {'noshot'}
end
local cstate, catt, cstep = string.match(cur[8], '^([^|]*)|([^|]*)|([^|]*)|')
catt = tonumber(catt)
local state, att, step = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])

-- Plain comparisons rather than lookup tables: this runs on every write.
local function is_final(st)
  return st == 'completed' or st == 'failed' or st == 'cancelled'
end
local ok
if cstate == 'failed' and state == 'queued' and att == catt + 1 then
  -- The owner's retry: a failed shot requeued with fresh budgets.
  ok = true
elseif cstate == 'completed' and state == 'queued' and att == catt + 1 then
  -- The owner's re-roll: a completed shot queued again as its next version (read from the
  -- stored record only here, where it decides), so a stale requeue is still refused.
  local stored = cjson.decode(redis.call('HGET', h, 's:' .. idx))
  ok = tonumber(ARGV[19]) == (tonumber(stored.version) or 1) + 1
elseif is_final(cstate) or att < catt then
  ok = false
elseif att > catt then
  ok = (att == catt + 1 and (state == 'queued' or state == 'paused'))
elseif state == 'assigned' or state == 'paused' then
  ok = (cstate == 'queued')
elseif state == 'queued' then
  ok = false
elseif state == 'running' or state == 'preempted' or state == 'completed' then
  -- A shot stored before holders were kept (no h:<i>) is judged by attempt alone.
  local by_holder = (not cur[9]) or cur[9] == ARGV[17]
  ok = by_holder and (cstate == 'assigned' or cstate == 'running' or cstate == 'preempted')
else
  ok = true
end
if not ok then
  return {'fenced', tostring(catt)}
end

-- Counter deltas: what the stored shot counted for, and what the written one counts for.
local nf, nc, nx, ns = tonumber(cur[4]), tonumber(cur[5]), tonumber(cur[6]), tonumber(cur[7])
local nf0, nc0, nx0, ns0 = nf, nc, nx, ns
if is_final(cstate) then nf = nf - 1 end
if is_final(state) then nf = nf + 1 end
if cstate == 'completed' then nc = nc - 1 end
if state == 'completed' then nc = nc + 1 end
if cstate == 'failed' then nx = nx - 1 end
if state == 'failed' then nx = nx + 1 end
if cstate ~= 'queued' or catt > 1 or tonumber(cstep) > 0 then ns = ns - 1 end
if state ~= 'queued' or att > 1 or step > 0 then ns = ns + 1 end
local vstate
if nf == n then
  if nc == n then
    vstate = 'completed'
  elseif nx > 0 then
    vstate = 'failed'
  else
    vstate = 'cancelled'
  end
elseif ns > 0 then
  vstate = 'running'
else
  vstate = 'queued'
end

-- A number becomes a string through sprintf, the costliest step of a short script: each one is
-- made once, and the hash is given only the counters that moved.
local seq = tonumber(cur[3]) + 1
local seqs = tostring(seq)
local changed = vstate ~= cur[2]
local last = changed and seq + 1 or seq
local lasts = changed and tostring(last) or seqs
local summary = state .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[6] .. '|' .. ARGV[7] .. '|' .. ARGV[8]
local fields = {'s:' .. idx, ARGV[2], 'k:' .. idx, summary, 'h:' .. idx, ARGV[17],
  'upd', ARGV[10], 'seq', lasts}
local function moved(name, now, before)
  if now ~= before then
    fields[#fields + 1] = name
    fields[#fields + 1] = tostring(now)
  end
end
if changed then
  fields[#fields + 1] = 'state'
  fields[#fields + 1] = vstate
end
moved('nf', nf, nf0)
moved('nc', nc, nc0)
moved('nx', nx, nx0)
moved('ns', ns, ns0)
redis.call('HSET', h, unpack(fields))
if state == 'queued' then
  redis.call('SADD', KEYS[4], ARGV[13])
elseif cstate == 'queued' then
  redis.call('SREM', KEYS[4], ARGV[13])
end

local maxlen = ARGV[14]
local shot_event = '{"seq":' .. seqs .. ',' .. string.sub(ARGV[9], 2)
redis.call('XADD', stream, 'MAXLEN', '~', maxlen, seqs .. '-0', 'e', shot_event)
local fed_event = shot_event
if ARGV[18] ~= '' then
  fed_event = string.sub(shot_event, 1, -2) .. ARGV[18] .. '}'
end
local feed = ARGV[12] .. '\n' .. fed_event
if not changed then
  redis.call('PUBLISH', ARGV[16], feed)
  return {'ok', seqs, '0'}
end

-- The video changed: its progress (mean of the shots', in index order, as the Rust side
-- computes it) and ETA (the latest of its shots') go with the video event.
local names = {}
for i = 0, n - 1 do
  names[#names + 1] = 'k:' .. i
end
local all = redis.call('HMGET', h, unpack(names))
local sum, eta_key, eta_json = 0, '', 'null'
for i = 1, n do
  local p, ek, ej = string.match(all[i], '^[^|]*|[^|]*|[^|]*|([^|]*)|([^|]*)|(.*)$')
  sum = sum + tonumber(p)
  if ek ~= '' and ek > eta_key then
    eta_key = ek
    eta_json = ej
  end
end
local progress = string.format('%.17g', sum / n)
local video_event = '{"type":"video","seq":' .. lasts .. ',"video_id":' .. ARGV[11] ..
  ',"state":"' .. vstate .. '","progress":' .. progress .. ',"eta":' .. eta_json ..
  ',"ts":' .. ARGV[10] .. '}'
redis.call('XADD', stream, 'MAXLEN', '~', maxlen, lasts .. '-0', 'e', video_event)
redis.call('PUBLISH', ARGV[16], feed .. '\n' .. video_event)
if is_final(vstate) then
  redis.call('SREM', KEYS[3], ARGV[12])
  redis.call('EXPIRE', stream, ARGV[15])
elseif is_final(cur[2]) then
  -- A retried video is unfinished again: swept and restarted like any other, its log kept.
  redis.call('SADD', KEYS[3], ARGV[12])
  redis.call('PERSIST', stream)
end
return {'ok', seqs, lasts, vstate, progress, eta_json}
