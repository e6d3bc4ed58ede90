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
const HEAD_OF = `
local function head_of(journal, snapshots)
  local last = redis.call('ZRANGE', journal, -1, -1, 'WITHSCORES')
  if last[2] then return tonumber(last[2]) end
  local snap = redis.call('ZRANGE', snapshots, -1, -1, 'WITHSCORES')
  if snap[2] then return tonumber(snap[2]) end
  return 0
end
`;

/** KEYS: the shard's epoch, the key's journal, its snapshots; ARGV[1]: the writer's epoch. Fenced: {1, epoch}. */
const PRELUDE = `${HEAD_OF}
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > tonumber(ARGV[1]) then return {1, current} end
local head = head_of(KEYS[2], KEYS[3])
`;

// A round's appends, every user of the round in one script: one epoch check, then per user the
// head check and the write (a user whose head moved is refused alone: {2, head}), the decision
// index and the shadow counts of its entries. One call per round, not one per user: one command
// and one reply for the client to handle, one script invocation for Redis.
// ARGV: epoch, the index's expiry (s), the number of users, then the round packed into one string
// (packRound): per user, journal key, snapshots key, first sequence number, n, n envelopes, m, m
// index arguments ((key, userId, value) triples), s, s shadow-count arguments ((hash key, field,
// increment) triples), each as a 4-byte big-endian length and its bytes. The shadow counts of the
// users written are summed first and added once per field: two HINCRBYs per event otherwise, half
// of Redis's commands in a round with shadow rules. One argument rather than
// ten per user: the client encoded each argument into the command text piece by piece and
// converted that text again for the socket (15% of what a catch-up allocated); the packed round
// is written once into one buffer.
// ZADD's arguments go through unpack(), bounded by Lua's C stack: they are added in slices of 500.
// Reply: {1, epoch} when fenced; else per user, in order, {status, value} flattened.
const APPEND_ROUND_LUA = `${HEAD_OF}
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > tonumber(ARGV[1]) then return {1, current} end
local ttl = ARGV[2]
local users = tonumber(ARGV[3])
local packed = ARGV[4]
local pos = 1
local function take()
  local s
  s, pos = struct.unpack('>I4c0', packed, pos)
  return s
end
local out = {}
-- The shadow counts of the users written, summed per (hash, field): one HINCRBY each at the end.
local counts = {}
for u = 1, users do
  local jkey = take()
  local skey = take()
  local first = tonumber(take())
  local n = tonumber(take())
  local envelopes = {}
  for j = 1, n do envelopes[j] = take() end
  local m = tonumber(take())
  local index = {}
  for j = 1, m do index[j] = take() end
  local s = tonumber(take())
  local shadow = {}
  for j = 1, s do shadow[j] = take() end
  local head = head_of(jkey, skey)
  if first ~= head + 1 then
    out[#out + 1] = 2
    out[#out + 1] = head
  else
    local i = 1
    while i <= n do
      local args = {}
      for j = i, math.min(i + 499, n) do
        args[#args + 1] = first + j - 1
        args[#args + 1] = envelopes[j]
      end
      redis.call('ZADD', jkey, unpack(args))
      i = i + 500
    end
    for x = 1, m, 3 do
      redis.call('HSET', index[x], index[x + 1], index[x + 2])
      redis.call('EXPIRE', index[x], ttl)
    end
    for x = 1, s, 3 do
      local byField = counts[shadow[x]]
      if not byField then
        byField = {}
        counts[shadow[x]] = byField
      end
      byField[shadow[x + 1]] = (byField[shadow[x + 1]] or 0) + tonumber(shadow[x + 2])
    end
    out[#out + 1] = 0
    out[#out + 1] = head + n
  end
end
for key, byField in pairs(counts) do
  for field, n in pairs(byField) do redis.call('HINCRBY', key, field, n) end
end
return out
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
const ERASE_LUA = `${HEAD_OF}
local head = head_of(KEYS[1], KEYS[2])
if head ~= tonumber(ARGV[1]) then return {2, head} end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 5, #ARGV do redis.call('HDEL', ARGV[i], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {0, head}
`;

// A key's newest snapshot and the journal after it, atomically (read only).
// KEYS: the journal, the snapshots. Reply: {snapshot envelope or nil, then the tail's envelopes}.
const READ_LATEST_LUA = `
local snap = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
local tail = redis.call('ZRANGE', KEYS[1], '(' .. (snap[2] or '0'), '+inf', 'BYSCORE')
local out = { snap[1] or false }
for i = 1, #tail do out[i + 1] = tail[i] end
return out
`;

const toReply = (reply: unknown): ScriptReply => {
  const [status, value] = reply as [number, number];
  return [Number(status), Number(value)];
};

/** One user's part of a round's append. */
export interface RoundAppend {
  journalKey: string;
  snapshotsKey: string;
  first: number;
  envelopes: string[];
  index: string[];
  shadow: string[];
}

/**
 * A round's users as the append script reads them: every field a 4-byte big-endian byte length and
 * its UTF-8 bytes, in the order of the script's ARGV comment. The buffer is sized as if every text
 * were ASCII (a byte per UTF-16 unit), as the journal's texts nearly always are, so that their
 * bytes need not be counted before they are written (a fiftieth of a catch-up's thread); a round
 * whose texts turn out longer is packed again at its exact size. (Sizing for the worst case, three
 * bytes per unit, cost 10-15% more CPU per event in an A/B: three times the memory outside the
 * heap per round, which V8 counts towards its next full collection.)
 */
export function packRound(users: readonly RoundAppend[]): Buffer {
  let units = 0;
  eachField(users, (text) => void (units += 4 + text.length));
  const fits = packInto(users, Buffer.allocUnsafe(units + 4));
  if (fits) return fits;
  let bytes = 0;
  eachField(users, (text) => void (bytes += 4 + Buffer.byteLength(text)));
  // Sized exactly (and the 4 spare bytes the check wants), every field fits whole.
  return packInto(users, Buffer.allocUnsafe(bytes + 4))!;
}

/**
 * The fields written into `buf`, or null when one may not have fit. A write that stops short
 * leaves less than a character's 4 bytes of room (UTF-8 writes whole characters), so a write that
 * left at least 4 bytes free was whole.
 */
function packInto(users: readonly RoundAppend[], buf: Buffer): Buffer | null {
  let at = 0;
  let whole = true;
  eachField(users, (text) => {
    if (!whole) return;
    const n = buf.write(text, at + 4);
    if (at + 4 + n > buf.length - 4) whole = false;
    buf.writeUInt32BE(n, at);
    at += 4 + n;
  });
  return whole ? buf.subarray(0, at) : null;
}

/** Every field of a round's users, in the order the append script takes them. */
function eachField(users: readonly RoundAppend[], visit: (text: string) => void): void {
  for (const u of users) {
    visit(u.journalKey);
    visit(u.snapshotsKey);
    visit(String(u.first));
    visit(String(u.envelopes.length));
    for (const e of u.envelopes) visit(e);
    visit(String(u.index.length));
    for (const x of u.index) visit(x);
    visit(String(u.shadow.length));
    for (const x of u.shadow) visit(x);
  }
}

export const scripts = {
  journalAppendRound: defineScript({
    SCRIPT: APPEND_ROUND_LUA,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser: CommandParser, epochKey: string, epoch: number, ttlSeconds: number, users: readonly RoundAppend[]) {
      parser.pushKey(epochKey);
      parser.push(String(epoch), String(ttlSeconds), String(users.length), packRound(users));
    },
    transformReply: (reply: unknown) => (reply as unknown[]).map(Number),
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
  journalReadLatest: defineScript({
    SCRIPT: READ_LATEST_LUA,
    NUMBER_OF_KEYS: 2,
    parseCommand(parser: CommandParser, keys: [string, string]) {
      parser.pushKeys(keys);
    },
    transformReply: (reply: unknown) => reply as [snapshot: string | null, ...tail: string[]],
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
