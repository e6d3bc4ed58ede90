/**
 * The embedded journal's first key layout (up to release 0.1): databases `journal` and
 * `snapshots` keyed by lmdb's ordered-binary encoding of `[key, seq]`. That encoding is not
 * injective (see ./embeddedKeys.ts), so a store in it is converted once, when it is opened, to the
 * binary layout: every entry moves to the same key and sequence number there and the old
 * databases are dropped, all in one write transaction (a crash leaves the old layout whole).
 *
 * The key is decoded from the raw bytes, not with lmdb's own decoder, which splits at the first
 * NUL: a key whose entries landed in another key's range (the collision) still finds its owner.
 */
import * as lmdb from 'lmdb';
import type { Database, DatabaseOptions, RootDatabase } from 'lmdb';
import { keyPrefix, seqKey } from './embeddedKeys.ts';

// Runtime exports of lmdb (ordered-binary's encoder) that its type declarations leave out.
const orderedBinary = lmdb as unknown as {
  keyValueToBuffer(key: unknown): Buffer;
  bufferToKeyValue(bytes: Buffer): unknown;
};

export const LEGACY_DATABASES = ['journal', 'snapshots'] as const;
type LegacyName = (typeof LEGACY_DATABASES)[number];

export interface LegacyMigration {
  /** Entries moved per database. */
  moved: Record<LegacyName, number>;
  /** Entries whose key the old encoder cannot have written; left in place, untouched. */
  unreadable: number;
}

// `create: false` (honoured by lmdb, absent from its types): a fresh store gets no empty old databases.
const LEGACY_OPEN = { keyEncoding: 'binary', encoding: 'string', create: false } as DatabaseOptions;

/** Separator (NUL) + a sequence number as ordered-binary writes it inside an array key. */
const SEQ_SUFFIX = 10;

/**
 * The `[key, seq]` that the old layout encoded as `raw`, or null when no `[string, number]`
 * encodes to exactly these bytes. A sequence number is always 9 bytes there, so it is found from
 * the end; the string before it was written either escaped (< 64 characters) or as raw UTF-8.
 */
export function decodeLegacyKey(raw: Uint8Array): { key: string; seq: number } | null {
  const bytes = Buffer.from(raw);
  if (bytes.length <= SEQ_SUFFIX || bytes[bytes.length - SEQ_SUFFIX] !== 0) return null;
  const seq = decodeOrderedBinary(bytes.subarray(bytes.length - SEQ_SUFFIX + 1));
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return null;
  const text = bytes.subarray(0, bytes.length - SEQ_SUFFIX);
  for (const key of legacyStrings(text)) {
    if (orderedBinary.keyValueToBuffer([key, seq]).equals(bytes)) return { key, seq };
  }
  return null;
}

function* legacyStrings(text: Buffer): Generator<string> {
  const escaped = decodeOrderedBinary(text);
  if (typeof escaped === 'string') yield escaped;
  // A first character below 28 was preceded by an escape byte 27.
  yield (text[0] === 27 ? text.subarray(1) : text).toString('utf8');
}

/** ordered-binary's decoder on a copy; it throws on bytes that no value encodes to. */
function decodeOrderedBinary(bytes: Uint8Array): unknown {
  try {
    return orderedBinary.bufferToKeyValue(Buffer.from(bytes));
  } catch {
    return undefined;
  }
}

/**
 * Moves the old layout's entries into `targets` (binary keys) and drops the old databases. An
 * entry already present in the target is kept as it is. Returns null when there was nothing old.
 */
export function migrateLegacyLayout(root: RootDatabase, targets: Record<LegacyName, Database<string, Buffer>>): LegacyMigration | null {
  const report: LegacyMigration = { moved: { journal: 0, snapshots: 0 }, unreadable: 0 };
  let found = false;
  for (const name of LEGACY_DATABASES) {
    // Undefined when it never existed, or was converted already.
    const legacy: Database<string, Buffer> | undefined = root.openDB<string, Buffer>(name, LEGACY_OPEN);
    if (!legacy) continue;
    found = true;
    const target = targets[name];
    root.transactionSync(() => {
      let unreadable = 0;
      for (const { key: raw, value } of legacy.getRange()) {
        const decoded = decodeLegacyKey(raw);
        if (!decoded) {
          unreadable++;
          continue;
        }
        const key = seqKey(keyPrefix(decoded.key), decoded.seq);
        if (target.get(key) === undefined) void target.put(key, value);
        report.moved[name]++;
      }
      report.unreadable += unreadable;
      if (unreadable === 0) return void legacy.dropSync();
      // Collected first: an LMDB cursor must not walk what it deletes.
      const moved = [...legacy.getKeys()].filter((raw) => decodeLegacyKey(raw) !== null);
      for (const raw of moved) void legacy.remove(raw);
    });
  }
  return found ? report : null;
}
