/**
 * The Redis store's server-side scripts. Each runs atomically in Redis, so a check and
 * the take that follows it are one step for every replica: no two Checks can both take
 * the last unit. Redis's Lua numbers are doubles: every amount that is written back goes
 * through ARGV strings or `%d`, never Lua's 14-digit number formatting.
 */

/** Grace after a window's end before its counter expires: late settlements still land in it. */
export const GRACE_MS = 3_600_000;

/**
 * KEYS: the n counter keys, then the overrides hash, the reservation key, the pending set.
 * ARGV: now, n, timeoutMs, release (1|0), then per counter: kind (b|w), p1, p2, p3,
 * override field, metric — a bucket's p1..p3 are rate, period ms, burst; a window's are
 * max, amount, end. Returns {1, remaining...} or {0, refused index (0-based), retry ms}.
 */
export const RESERVE = `
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local timeout = tonumber(ARGV[3])
local release = ARGV[4] == '1'
local overrides, reservation, pending = KEYS[n + 1], KEYS[n + 2], KEYS[n + 3]

if release then
  local due = redis.call('ZRANGEBYSCORE', pending, '-inf', now, 'LIMIT', 0, 8)
  for _, member in ipairs(due) do
    redis.call('ZREM', pending, member)
    local held = cjson.decode(member)
    for j, key in ipairs(held.k) do
      if redis.call('EXISTS', key) == 1 then redis.call('DECRBY', key, held.a[j]) end
    end
    redis.call('DEL', held.r)
  end
end

local fields = {}
for i = 1, n do fields[i] = ARGV[4 + (i - 1) * 6 + 5] end
local overridden = redis.call('HMGET', overrides, unpack(fields))

local after, limits = {}, {}
local refused, wait = 0, 0
for i = 1, n do
  local base = 4 + (i - 1) * 6
  local p1, p2, p3 = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local override = overridden[i]
  if ARGV[base + 1] == 'b' then
    local rate, period, burst = p1, p2, p3
    if override then rate = tonumber(override); burst = tonumber(override) end
    limits[i] = { rate, period, burst }
    local state = redis.call('HMGET', KEYS[i], 't', 'at')
    local tokens = burst
    if state[1] then
      local elapsed = math.max(0, now - tonumber(state[2]))
      tokens = math.min(burst, tonumber(state[1]) + elapsed * rate / period)
    end
    if tokens >= 1 then
      after[i] = tokens - 1
    else
      after[i] = tokens
      local w = math.max(1, math.ceil((1 - tokens) * period / rate))
      if w >= wait then refused = i; wait = w end
    end
  else
    local max, amount = p1, p2
    if override then max = tonumber(override) end
    local used = tonumber(redis.call('GET', KEYS[i]) or '0')
    if used + amount <= max then
      after[i] = max - used - amount
    else
      after[i] = math.max(0, max - used)
      local w = math.max(1, p3 - now)
      if w >= wait then refused = i; wait = w end
    end
  end
end
if refused > 0 then return { 0, refused - 1, wait } end

local held = { r = reservation, k = {}, a = {}, m = {}, p = release and 1 or 0 }
for i = 1, n do
  local base = 4 + (i - 1) * 6
  if ARGV[base + 1] == 'b' then
    local l = limits[i]
    redis.call('HSET', KEYS[i], 't', string.format('%.6f', after[i]), 'at', ARGV[1])
    redis.call('PEXPIRE', KEYS[i], math.ceil(l[3] / l[1] * l[2]) + 1000)
  else
    -- The counter's expiry is set when the counter is made (only reserves make counters).
    if redis.call('INCRBY', KEYS[i], ARGV[base + 3]) == tonumber(ARGV[base + 3]) then
      redis.call('PEXPIREAT', KEYS[i], string.format('%d', tonumber(ARGV[base + 4]) + ${GRACE_MS}))
    end
    table.insert(held.k, KEYS[i]); table.insert(held.a, ARGV[base + 3]); table.insert(held.m, ARGV[base + 6])
  end
end
if #held.k > 0 then
  local member = cjson.encode(held)
  if release then
    redis.call('SET', reservation, member, 'PX', timeout + ${GRACE_MS})
    redis.call('ZADD', pending, string.format('%d', now + timeout), member)
  else
    redis.call('SET', reservation, member, 'PX', timeout)
  end
end
local out = { 1 }
for i = 1, n do out[i + 1] = math.floor(after[i]) end
return out
`;

/**
 * KEYS: the reservation key, the pending set. ARGV: now, input tokens, output tokens,
 * cost µUSD (each '' when unknown: the estimate stays charged for it), "settle" |
 * "release". Returns 1 when the reservation was settled or released as asked, 0 when it
 * was unknown or had timed out (then handled as the timeout says).
 */
export const SETTLE = `
local member = redis.call('GET', KEYS[1])
if not member then return 0 end
redis.call('DEL', KEYS[1])
local held = cjson.decode(member)
local late = false
if held.p == 1 then
  local due = redis.call('ZSCORE', KEYS[2], member)
  redis.call('ZREM', KEYS[2], member)
  if not due then return 0 end
  late = tonumber(due) <= tonumber(ARGV[1])
end
local input, output = tonumber(ARGV[2]), tonumber(ARGV[3])
local total = nil
if input and output then total = input + output end
local actual = { input_tokens = input, output_tokens = output, total_tokens = total, cost_usd = tonumber(ARGV[4]) }
for j, key in ipairs(held.k) do
  local reserved = tonumber(held.a[j])
  local delta = -reserved
  if not late and ARGV[5] == 'settle' then
    local used = actual[held.m[j]]
    if used then delta = used - reserved else delta = 0 end
  end
  if delta ~= 0 and redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, string.format('%d', delta)) end
end
if late then return 0 end
return 1
`;
