/**
 * Binary LMDB keys of the embedded journal and snapshots:
 *
 *   [code units: uint32 BE][the persistence key as UTF-16LE code units][sequence number: uint64 BE]
 *
 * lmdb's default key encoder (ordered-binary) is not injective for arbitrary strings: it writes a
 * string of 64+ characters as raw UTF-8 (lone surrogates become U+FFFD) and separates array parts
 * with NUL, so `[a, seq]` and `[a + "\0\x14" + "0", seq]` share a key range. Here the length
 * prefix makes the key part prefix-free (the encodings of two distinct keys are never one a
 * prefix of the other), and UTF-16 code units keep every JavaScript string distinct, NUL and lone
 * surrogates included. So the byte range of one key's entries never meets another key's.
 * Within one key, entries sort by sequence number (big-endian), as range reads need.
 */

/** Longest persistence key, in UTF-16 code units: LMDB's default key size limit is 1978 bytes. */
export const MAX_KEY_UNITS = 960;
const SEQ_BYTES = 8;
const TWO_32 = 2 ** 32;
/** Above every stored sequence number (they are safe integers, < 2^53). */
const SEQ_CEILING = Buffer.alloc(SEQ_BYTES, 0xff);

/** The bytes every entry key of `key` starts with. */
export function keyPrefix(key: string): Buffer {
  if (key.length > MAX_KEY_UNITS) throw new RangeError(`persistence key of ${key.length} characters; at most ${MAX_KEY_UNITS}`);
  const prefix = Buffer.allocUnsafe(4 + key.length * 2);
  prefix.writeUInt32BE(key.length, 0);
  prefix.write(key, 4, 'utf16le');
  return prefix;
}

/** The entry key of sequence number `seq` under `prefix` (from `keyPrefix`). */
export function seqKey(prefix: Buffer, seq: number): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`sequence number must be a non-negative safe integer, got ${seq}`);
  const out = Buffer.allocUnsafe(prefix.length + SEQ_BYTES);
  prefix.copy(out, 0);
  out.writeUInt32BE(Math.floor(seq / TWO_32), prefix.length);
  out.writeUInt32BE(seq % TWO_32, prefix.length + 4);
  return out;
}

/** Upper bound (exclusive) of every entry key under `prefix`; also the start of a reverse scan. */
export function prefixEnd(prefix: Buffer): Buffer {
  return Buffer.concat([prefix, SEQ_CEILING]);
}

/** The sequence number of an entry key. */
export function seqOf(entryKey: Uint8Array): number {
  const at = entryKey.length - SEQ_BYTES;
  const view = Buffer.from(entryKey.buffer, entryKey.byteOffset, entryKey.length);
  return view.readUInt32BE(at) * TWO_32 + view.readUInt32BE(at + 4);
}

/** The persistence key and sequence number of an entry key; null when it is not one. */
export function decodeSeqKey(entryKey: Uint8Array): { key: string; seq: number } | null {
  const view = Buffer.from(entryKey.buffer, entryKey.byteOffset, entryKey.length);
  if (view.length < 4 + SEQ_BYTES) return null;
  const units = view.readUInt32BE(0);
  if (view.length !== 4 + units * 2 + SEQ_BYTES) return null;
  return { key: view.toString('utf16le', 4, 4 + units * 2), seq: seqOf(view) };
}
