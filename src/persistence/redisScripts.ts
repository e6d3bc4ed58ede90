/**
 * The Lua scripts of RedisJournal. Each check-and-write runs as one script, so the fence check,
 * the sequence check and the write are atomic without WATCH (which would pin a connection).
 *
 * Keys of one persistence key share the hash tag `{key}`; the shard's epoch key does not, so
 * these scripts need a single Redis (or a primary with replicas), not Redis Cluster. For the same
 * reason the append names the decision-index keys it writes in ARGV rather than KEYS: their number
 * varies per call, and one script call per round keeps the round at one round trip.
 *
 * Replies are `{status, number}`: 0 = written (number = new head), 1 = fenced (number = the
 * shard's epoch), 2 = sequence conflict (number = the key's head).
 */
import { defineScript, type CommandParser } from 'redis';

export const OK = 0;
export const FENCED = 1;
export const CONFLICT = 2;
export type ScriptReply = [status: number, value: number];

/*
 * The head (last sequence number) of a key is the newest journal score, or, once a snapshot
 * trimmed the journal empty, the newest snapshot's: no separate counter to keep in step.
 */
const PRELUDE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > tonumber(ARGV[1]) then return {1, current} end
local head = 0
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then
  head = tonumber(last[2])
else
  local snap = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  if snap[2] then head = tonumber(snap[2]) end
end
`;

// ZADD's arguments go through unpack(), which is bounded by Lua's C stack: add in slices.
// ARGV: epoch, first sequence number, n, n envelopes, the index's expiry (s), m, then the decision
// index as m arguments of (key, userId, value) triples, then the shadow-rule counts as (hash key,
// field, increment) triples: written with the entries, or not at all.
const APPEND_LUA = `${PRELUDE}
local first = tonumber(ARGV[2])
if first ~= head + 1 then return {2, head} end
local n = tonumber(ARGV[3])
local i = 1
while i <= n do
  local args = {}
  for j = i, math.min(i + 499, n) do
    args[#args + 1] = first + j - 1
    args[#args + 1] = ARGV[j + 3]
  end
  redis.call('ZADD', KEYS[2], unpack(args))
  i = i + 500
end
local ttl = ARGV[n + 4]
local k = n + 6
local indexEnd = n + 5 + tonumber(ARGV[n + 5])
while k <= indexEnd do
  redis.call('HSET', ARGV[k], ARGV[k + 1], ARGV[k + 2])
  redis.call('EXPIRE', ARGV[k], ttl)
  k = k + 3
end
while k <= #ARGV do
  redis.call('HINCRBY', ARGV[k], ARGV[k + 1], ARGV[k + 2])
  k = k + 3
end
return {0, head + n}
`;

// A snapshot may not be ahead of the journal: it would claim events that were never stored.
// The journal is trimmed up to the OLDEST snapshot kept, not the newest: explaining a decision
// rebuilds the state just before it from a snapshot at or below it plus the journal after that.
const SNAPSHOT_LUA = `${PRELUDE}
local seq = tonumber(ARGV[2])
if seq > head then return {2, head} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], seq, seq)
redis.call('ZADD', KEYS[3], seq, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[4]) + 1))
local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', oldest[2])
return {0, head}
`;

const CLAIM_LUA = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if wanted > current then
  redis.call('SET', KEYS[1], wanted)
  return wanted
end
return current
`;

// Erasure: the journal and snapshots of one key and the user's decision-index fields, in one step.
// ARGV: the head the caller read (its index keys were collected up to it; a write since means
// entries it has not seen: {2, head}, read again), userId, the channel, the key, then the index keys.
const ERASE_LUA = `
local head = 0
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  head = tonumber(last[2])
else
  local snap = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  if snap[2] then head = tonumber(snap[2]) end
end
if head ~= tonumber(ARGV[1]) then return {2, head} end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 5, #ARGV do redis.call('HDEL', ARGV[i], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {0, head}
`;

const toReply = (reply: unknown): ScriptReply => {
  const [status, value] = reply as [number, number];
  return [Number(status), Number(value)];
};

export const scripts = {
  journalAppend: defineScript({
    SCRIPT: APPEND_LUA,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: [string, string, string], epoch: number, firstSeq: number, envelopes: string[], ttlSeconds: number, index: string[], shadowCounts: string[] = []) {
      parser.pushKeys(keys);
      parser.push(String(epoch), String(firstSeq), String(envelopes.length), ...envelopes, String(ttlSeconds), String(index.length), ...index, ...shadowCounts);
    },
    transformReply: toReply,
  }),
  journalSnapshot: defineScript({
    SCRIPT: SNAPSHOT_LUA,
    NUMBER_OF_KEYS: 3,
    parseCommand(parser: CommandParser, keys: [string, string, string], epoch: number, seq: number, envelope: string, keep: number) {
      parser.pushKeys(keys);
      parser.push(String(epoch), String(seq), envelope, String(keep));
    },
    transformReply: toReply,
  }),
  journalErase: defineScript({
    SCRIPT: ERASE_LUA,
    NUMBER_OF_KEYS: 2,
    parseCommand(parser: CommandParser, keys: [string, string], expectedHead: number, userId: string, channel: string, key: string, indexKeys: string[]) {
      parser.pushKeys(keys);
      parser.push(String(expectedHead), userId, channel, key, ...indexKeys);
    },
    transformReply: toReply,
  }),
  journalClaim: defineScript({
    SCRIPT: CLAIM_LUA,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser: CommandParser, epochKey: string, epoch: number) {
      parser.pushKey(epochKey);
      parser.push(String(epoch));
    },
    transformReply: (reply: unknown) => Number(reply),
  }),
};
