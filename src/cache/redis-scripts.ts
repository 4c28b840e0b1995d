/**
 * The Redis index's Lua scripts: what changes together runs as one script, so records
 * never disagree after a crash, and a batch costs one round trip.
 */

// What a blob is (blob:<digest>, shared) and which replica holds it (its access order,
// its totals, the holders set) change together, or not at all.
// KEYS: blob, access, stats, holders. ARGV: digest, size, mediaType, upstream, lastAccess, replica.
export const PUT_BLOB = `
local held = redis.call('ZSCORE', KEYS[2], ARGV[1])
local old = redis.call('HGET', KEYS[1], 'size')
redis.call('HSET', KEYS[1], 'size', ARGV[2], 'upstream', ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'mediaType', ARGV[3]) end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[6])
if held then
  redis.call('HINCRBY', KEYS[3], 'bytes', tonumber(ARGV[2]) - tonumber(old or ARGV[2]))
else
  redis.call('HINCRBY', KEYS[3], 'bytes', ARGV[2])
  redis.call('HINCRBY', KEYS[3], 'blobs', 1)
end
return 1`

// KEYS: blob, access, stats, holders. ARGV: digest, replica.
export const DELETE_BLOB = `
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local size = redis.call('HGET', KEYS[1], 'size') or '0'
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'bytes', -tonumber(size))
redis.call('HINCRBY', KEYS[3], 'blobs', -1)
if redis.call('SCARD', KEYS[4]) == 0 then redis.call('DEL', KEYS[1]) end
return 1`

// Adds the records of blobs this replica does not hold yet, as PUT_BLOB does; one call a batch.
// KEYS: access, stats, then blob and holders of each record.
// ARGV: replica, then digest, size, mediaType, upstream, lastAccess of each record.
export const ADD_BLOBS = `
local added = 0
local bytes = 0
for i = 0, (#KEYS - 2) / 2 - 1 do
  local a = 2 + i * 5
  if not redis.call('ZSCORE', KEYS[1], ARGV[a]) then
    local blob = KEYS[3 + i * 2]
    redis.call('HSET', blob, 'size', ARGV[a + 1], 'upstream', ARGV[a + 3])
    if ARGV[a + 2] ~= '' then redis.call('HSET', blob, 'mediaType', ARGV[a + 2]) end
    redis.call('ZADD', KEYS[1], ARGV[a + 4], ARGV[a])
    redis.call('SADD', KEYS[4 + i * 2], ARGV[1])
    added = added + 1
    bytes = bytes + tonumber(ARGV[a + 1])
  end
end
if added > 0 then
  redis.call('HINCRBY', KEYS[2], 'bytes', bytes)
  redis.call('HINCRBY', KEYS[2], 'blobs', added)
end
return added`

// A page of the access order after a cursor (score and digest of the last record seen;
// an empty digest: from the start), least recently used first, ties by digest as Redis
// orders them. A cursor rather than a rank: records deleted meanwhile shift nothing.
// KEYS: access. ARGV: score, digest, limit. Returns digest, score, digest, score…
export const ACCESS_PAGE = `
local limit = tonumber(ARGV[3])
if ARGV[2] == '' then
  return redis.call('ZRANGE', KEYS[1], '-inf', '+inf', 'BYSCORE', 'LIMIT', 0, limit, 'WITHSCORES')
end
local out = {}
local ties = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[1], 'BYSCORE', 'WITHSCORES')
for i = 1, #ties, 2 do
  if ties[i] > ARGV[2] then
    out[#out + 1] = ties[i]
    out[#out + 1] = ties[i + 1]
    if #out >= limit * 2 then return out end
  end
end
local rest = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], '+inf', 'BYSCORE', 'LIMIT', 0, limit - #out / 2, 'WITHSCORES')
for i = 1, #rest do out[#out + 1] = rest[i] end
return out`

// A verdict, kept for its time unused; a negative one is also entered in a sorted set by
// last use, trimmed to its bound, the oldest going with their keys.
// KEYS: verdict, negatives. ARGV: value, ttl ms, 1 if negative, now, max negatives.
export const PUT_VERDICT = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[4], KEYS[1])
  local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
  if over > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[2], over)
    for i = 1, #popped, 2 do
      if popped[i] ~= KEYS[1] then redis.call('DEL', popped[i]) end
    end
  end
else
  redis.call('ZREM', KEYS[2], KEYS[1])
end
return 1`
