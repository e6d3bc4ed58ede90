/**
 * EmbeddedJournal (LMDB) in temporary directories: the shared contract, then durability of
 * acknowledged writes when the writing process is killed.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { EmbeddedJournal } from '../../../src/persistence/EmbeddedJournal.ts';
import { runJournalContract } from './journalContract.ts';

const root = mkdtempSync(join(tmpdir(), 'risk-journal-'));
test.after.always(() => rmSync(root, { recursive: true, force: true }));

const dirOf = (ns: string): string => join(root, ns);

/** Raw access to the store's file, as a second LMDB handle (like another process would have). */
async function withRaw<T>(ns: string, db: 'journal' | 'snapshots', fn: (d: ReturnType<typeof openRaw>['d']) => Promise<T> | T): Promise<T> {
  const { env, d } = openRaw(ns, db);
  try {
    return await fn(d);
  } finally {
    await env.close();
  }
}

function openRaw(ns: string, db: string) {
  const env = open({ path: join(dirOf(ns), 'journal.mdb'), maxDbs: 4 });
  return { env, d: env.openDB<string, [string, number]>(db, { encoding: 'string' }) };
}

runJournalContract('lmdb', async (ns) => new EmbeddedJournal({ dir: dirOf(ns) }), {
  cleanup: async (ns) => rmSync(dirOf(ns), { recursive: true, force: true }),
  writeRawEntry: (ns, key, seq, raw) => withRaw(ns, 'journal', (d) => d.put([key, seq], raw).then(() => undefined)),
  snapshotSeqs: (ns, key) =>
    withRaw(ns, 'snapshots', (d) => [...d.getKeys({ start: [key, 0], end: [key, Number.MAX_SAFE_INTEGER] })].map((k) => k[1])),
});

test('lmdb: every acknowledged write survives the writer being killed (SIGKILL)', async (t) => {
  const dir = dirOf('killed');
  const fixture = fileURLToPath(new URL('./fixtures/embeddedWriter.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let acked = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    acked = Math.max(acked, Number(line));
    // Killed while it keeps writing, so the kill lands in the middle of some commit.
    if (acked >= 300 && !child.killed) child.kill('SIGKILL');
  }
  const [, signal] = await exited;
  t.is(signal, 'SIGKILL');

  const store = new EmbeddedJournal({ dir });
  t.teardown(() => store.close());
  const seqs = (await store.readAfter('u1', 0)).map((e) => e.sequenceNumber);
  t.true(seqs.length >= acked, `acknowledged ${acked}, found ${seqs.length}`);
  t.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'no gap, no duplicate');
});
