-- The fenced shot writes of one video (see `shot_write_allowed` in ports/store.rs, mirrored rule
-- for rule), in the order given, all in one atomic step: each write is checked against the
-- stored attempt and state (or an earlier write's in this call), stores its shot, takes the
-- video's next seq, derives the video's state from per-video counters, and its events go to the
-- video's stream and the servers' feed. Events therefore reach the log in seq order whichever
-- server wrote them, and a crash can never leave a seq without its event. Only when the video's
-- state changes are every shot's summaries read (for its progress and ETA).
-- One call carries every write of the video that waited for the same pipeline (shots of a video
-- are placed and finish together): the video's counters and the written shots' summaries are
-- read once, the hash written once, the feed told once; each write still gets its own answer.
-- KEYS: video hash, event stream, unfinished set, queued set
-- ARGV: 1 video id json, 2 video id, 3 stream length kept, 4 seconds a final video's stream is
--       kept, 5 feed channel, then 12 per write: shot index, shot json, state, attempt, step,
--       its summary `state|attempt|step|progress|eta sort key (empty: none)|eta json`, the shot
--       event's members without seq and braces (`"type":"shot",...`), ts json, shot id, the
--       written shot's node (empty: none), the step's live preview as a JSON member
--       `,"preview":{...}` (empty: none), the written shot's version
-- The caller builds the summary and the event's body so that each write makes only the strings
-- it must here: every new Lua string is hashed byte by byte when made (interned), and that was
-- a third of this script's time (BENCHMARKS.md, "Throughput of the farm itself").
-- Answers one array per write: {'ok', shot seq, video seq or '0' (unchanged), and when changed
-- the video's state, progress and eta json}, {'fenced', stored attempt}, {'novideo'} or
-- {'noshot'}.
-- The preview goes on the feed's copy of the shot event only: the stream is at rest and never
-- holds one (the Preview rule), so `since` replay and catch-ups carry none.
-- Per shot the hash also keeps h:<i>, its holder (the node of its last write): at one attempt
-- only the holder may run, preempt or complete it.
-- Counters in the hash: nf final shots, nc completed, nx failed, ns started (not a fresh
-- queued shot: left the queue once, or has a later attempt or a step).
local h, stream = KEYS[1], KEYS[2]
-- Numbers become strings through string.format's '%d': tostring and `..` format with '%.14g',
-- which took 2.5 times as long here (and this script makes a few dozen a video).
local fmt = string.format
local BASE, W = 5, 12
local count = (#ARGV - BASE) / W

-- One read: the video's counters, then each write's shot summary and holder.
local names = {'n', 'state', 'seq', 'nf', 'nc', 'nx', 'ns'}
for j = 0, count - 1 do
  local idx = ARGV[BASE + j * W + 1]
  names[#names + 1] = 'k:' .. idx
  names[#names + 1] = 'h:' .. idx
end
local cur = redis.call('HMGET', h, unpack(names))
local answers = {}
local n = tonumber(cur[1])
if not n then
  for j = 1, count do
    answers[j] = {'novideo'}
  end
  return answers
end
-- What each written shot holds now, by index: the stored values, then this call's writes.
local summaries, holders, records = {}, {}, {}
for j = 0, count - 1 do
  local idx = ARGV[BASE + j * W + 1]
  if summaries[idx] == nil then
    summaries[idx] = cur[8 + 2 * j]
    holders[idx] = cur[9 + 2 * j]
  end
end

-- Plain comparisons rather than lookup tables: this runs on every write.
local function is_final(st)
  return st == 'completed' or st == 'failed' or st == 'cancelled'
end

local vstate0 = cur[2]
local vstate = vstate0
local seq = tonumber(cur[3])
local nf0, nc0, nx0, ns0 = tonumber(cur[4]), tonumber(cur[5]), tonumber(cur[6]), tonumber(cur[7])
local nf, nc, nx, ns = nf0, nc0, nx0, ns0
local fields = {}
local queued_ops, queued_order = {}, {}
local events, feed = {}, {ARGV[2]}
-- Every shot's summary, read the first time the video's state changes in this call.
local all
-- The last final/unfinished transition: 'final' or 'reopened' (nil: none).
local transition
local upd

for j = 1, count do
  local a = BASE + (j - 1) * W
  local idx = ARGV[a + 1]
  local stored = summaries[idx]
  if not stored then
    answers[j] = {'noshot'}
  else
    local cstate, catt, cstep = string.match(stored, '^([^|]*)|([^|]*)|([^|]*)|')
    catt = tonumber(catt)
    local state, att, step = ARGV[a + 3], tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
    local holder, node = holders[idx], ARGV[a + 10]
    local ok
    if cstate == 'failed' and state == 'queued' and att == catt + 1 then
      -- The owner's retry: a failed shot requeued with fresh budgets.
      ok = true
    elseif cstate == 'completed' and state == 'queued' and att == catt + 1 then
      -- The owner's re-roll: a completed shot queued again as its next version (read from the
      -- stored record only here, where it decides), so a stale requeue is still refused.
      local record = cjson.decode(records[idx] or redis.call('HGET', h, 's:' .. idx))
      ok = tonumber(ARGV[a + 12]) == (tonumber(record.version) or 1) + 1
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
      local by_holder = (not holder) or holder == node
      ok = by_holder and (cstate == 'assigned' or cstate == 'running' or cstate == 'preempted')
    else
      ok = true
    end

    if not ok then
      answers[j] = {'fenced', fmt('%d', catt)}
    else
      -- Counter deltas: what the stored shot counted for, and what the written one counts for.
      if is_final(cstate) then nf = nf - 1 end
      if is_final(state) then nf = nf + 1 end
      if cstate == 'completed' then nc = nc - 1 end
      if state == 'completed' then nc = nc + 1 end
      if cstate == 'failed' then nx = nx - 1 end
      if state == 'failed' then nx = nx + 1 end
      if cstate ~= 'queued' or catt > 1 or tonumber(cstep) > 0 then ns = ns - 1 end
      if state ~= 'queued' or att > 1 or step > 0 then ns = ns + 1 end
      local before = vstate
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

      local summary = ARGV[a + 6]
      summaries[idx], holders[idx], records[idx] = summary, node, ARGV[a + 2]
      if all then
        all[tonumber(idx) + 1] = summary
      end
      -- A field named twice takes the later value: HSET sets them in order.
      fields[#fields + 1] = 's:' .. idx
      fields[#fields + 1] = ARGV[a + 2]
      fields[#fields + 1] = 'k:' .. idx
      fields[#fields + 1] = summary
      fields[#fields + 1] = 'h:' .. idx
      fields[#fields + 1] = node
      upd = ARGV[a + 8]
      local shot_id = ARGV[a + 9]
      local op
      if state == 'queued' then
        op = 'add'
      elseif cstate == 'queued' then
        op = 'rem'
      end
      if op then
        if not queued_ops[shot_id] then
          queued_order[#queued_order + 1] = shot_id
        end
        queued_ops[shot_id] = op
      end

      -- Each number becomes a string once (through `fmt`, above).
      seq = seq + 1
      local seqs = fmt('%d', seq)
      -- Each copy made in one concatenation: no intermediate string to intern.
      local shot_event = '{"seq":' .. seqs .. ',' .. ARGV[a + 7] .. '}'
      events[#events + 1] = seqs
      events[#events + 1] = shot_event
      if ARGV[a + 11] ~= '' then
        feed[#feed + 1] = '{"seq":' .. seqs .. ',' .. ARGV[a + 7] .. ARGV[a + 11] .. '}'
      else
        feed[#feed + 1] = shot_event
      end
      if vstate == before then
        answers[j] = {'ok', seqs, '0'}
      else
        -- The video changed: its progress (mean of the shots', in index order, as the Rust
        -- side computes it) and ETA (the latest of its shots') go with the video event.
        if not all then
          local keys = {}
          for i = 0, n - 1 do
            keys[#keys + 1] = fmt('k:%d', i)
          end
          all = redis.call('HMGET', h, unpack(keys))
          for i = 0, n - 1 do
            local written = summaries[fmt('%d', i)]
            if written then
              all[i + 1] = written
            end
          end
        end
        local sum, eta_key, eta_json = 0, '', 'null'
        for i = 1, n do
          local p, ek, ej = string.match(all[i], '^[^|]*|[^|]*|[^|]*|([^|]*)|([^|]*)|(.*)$')
          sum = sum + tonumber(p)
          if ek ~= '' and ek > eta_key then
            eta_key = ek
            eta_json = ej
          end
        end
        local progress = fmt('%.17g', sum / n)
        seq = seq + 1
        local lasts = fmt('%d', seq)
        local video_event = '{"type":"video","seq":' .. lasts .. ',"video_id":' .. ARGV[1] ..
          ',"state":"' .. vstate .. '","progress":' .. progress .. ',"eta":' .. eta_json ..
          ',"ts":' .. ARGV[a + 8] .. '}'
        events[#events + 1] = lasts
        events[#events + 1] = video_event
        feed[#feed + 1] = video_event
        if is_final(vstate) then
          transition = 'final'
        elseif is_final(before) then
          transition = 'reopened'
        end
        answers[j] = {'ok', seqs, lasts, vstate, progress, eta_json}
      end
    end
  end
end

if #events == 0 then
  return answers
end
-- The hash first: should a later command fail, no event is logged past the stored seq.
fields[#fields + 1] = 'upd'
fields[#fields + 1] = upd
fields[#fields + 1] = 'seq'
fields[#fields + 1] = fmt('%d', seq)
if vstate ~= vstate0 then
  fields[#fields + 1] = 'state'
  fields[#fields + 1] = vstate
end
local function moved(name, now, before)
  if now ~= before then
    fields[#fields + 1] = name
    fields[#fields + 1] = fmt('%d', now)
  end
end
moved('nf', nf, nf0)
moved('nc', nc, nc0)
moved('nx', nx, nx0)
moved('ns', ns, ns0)
redis.call('HSET', h, unpack(fields))
local adds, rems = {}, {}
for _, shot_id in ipairs(queued_order) do
  if queued_ops[shot_id] == 'add' then
    adds[#adds + 1] = shot_id
  else
    rems[#rems + 1] = shot_id
  end
end
if #adds > 0 then
  redis.call('SADD', KEYS[4], unpack(adds))
end
if #rems > 0 then
  redis.call('SREM', KEYS[4], unpack(rems))
end

local maxlen = ARGV[3]
for i = 1, #events, 2 do
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, events[i] .. '-0', 'e', events[i + 1])
end
redis.call('PUBLISH', ARGV[5], table.concat(feed, '\n'))
if transition == 'final' then
  redis.call('SREM', KEYS[3], ARGV[2])
  redis.call('EXPIRE', stream, ARGV[4])
elseif transition == 'reopened' then
  -- A retried video is unfinished again: swept and restarted like any other, its log kept.
  redis.call('SADD', KEYS[3], ARGV[2])
  redis.call('PERSIST', stream)
end
return answers
