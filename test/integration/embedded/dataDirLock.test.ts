/**
 * One engine per DATA_DIR: a second embedded engine on the same directory exits 2 with one line
 * naming the first one's pid, and the first keeps working; a clean shutdown releases the lock; a
 * lock left by a dead process is taken over.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE, lockDataDir } from '../../../src/app/dataDirLock.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { openEmbeddedParts } from '../../../src/app/wiring.ts';
import { loadSettings } from '../../../src/config/settings.ts';
import { silentLogger } from '../../../src/log.ts';
import { ConfigError } from '../../../src/errors.ts';
import { spawnEngine } from '../helpers/child.ts';
import { pollUntil } from '../helpers/harness.ts';

function tempDataDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'risk-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

test('a second engine on the same DATA_DIR exits 2 with one line naming the holder; the first keeps working and releases the lock on shutdown', async (t) => {
  const dataDir = tempDataDir(t);
  const env = { KAFKA_BROKERS: '', DATA_DIR: dataDir, CONFIG_FILE: '' };
  const first = await spawnEngine('embedded', '', env);
  t.teardown(() => first.proc.kill('SIGKILL'));
  await first.started;

  const second = await spawnEngine('embedded', '', env);
  t.teardown(() => second.proc.kill('SIGKILL'));
  const outcome = await Promise.race([second.exited, second.started.then(() => 'started as well')]);
  t.deepEqual(outcome, { code: 2, signal: null });
  t.is(second.stderr.length, 1, second.stderr.join('\n'));
  t.is(second.stderr[0], `risk-engine: invalid setting DATA_DIR: expects a directory no other engine uses (${dataDir} is in use by risk-engine pid ${first.proc.pid})`);

  // The first engine still owns every shard and decides.
  const event = { eventId: 'e-1', userId: 'u-lock', eventType: 'login', timestamp: Date.now(), deviceId: 'd-1', country: 'DE' };
  const post = await fetch(`${first.adminUrl}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
  t.is(post.status, 202);
  const user = await pollUntil(
    'u-lock to be decided',
    async () => {
      const res = await fetch(`${first.adminUrl}/users/u-lock`);
      return res.status === 200 ? ((await res.json()) as { profile: { eventCount: number }; source: string }) : undefined;
    },
    (u) => u?.profile.eventCount === 1,
    30_000,
    50,
  );
  t.is(user?.source, 'actor');
  t.is((await fetch(`${first.adminUrl}/readyz`)).status, 200);
  t.is(readFileSync(join(dataDir, LOCK_FILE), 'utf8').split('\n')[0], String(first.proc.pid));

  first.proc.kill('SIGTERM');
  t.deepEqual(await first.exited, { code: 0, signal: null });
  t.false(existsSync(join(dataDir, LOCK_FILE)), 'released on a clean shutdown');
});

test('the lock is exclusive within a process too, and free again once released', (t) => {
  const dir = tempDataDir(t);
  const lock = lockDataDir(dir);
  t.teardown(() => lock.release());
  const refused = t.throws(() => lockDataDir(dir), { instanceOf: ConfigError });
  t.regex(refused!.message, new RegExp(`pid ${process.pid}\\)$`));
  lock.release();
  t.false(existsSync(lock.path));
  const again = lockDataDir(dir);
  t.teardown(() => again.release());
  t.is(readFileSync(again.path, 'utf8'), `${process.pid}\n${hostname()}\n`);
});

test('a lock left by a dead process, or unreadable, is taken over', async (t) => {
  const dir = tempDataDir(t);
  const path = join(dir, LOCK_FILE);
  for (const stale of [`${await deadPid()}\n${hostname()}\n`, '', 'not a pid\n']) {
    writeFileSync(path, stale);
    const lock = lockDataDir(dir);
    t.is(readFileSync(path, 'utf8'), `${process.pid}\n${hostname()}\n`, JSON.stringify(stale));
    lock.release();
  }
});

test('a lock held by a live process, or by another host, is refused with its pid', (t) => {
  const dir = tempDataDir(t);
  const path = join(dir, LOCK_FILE);
  writeFileSync(path, `${process.ppid}\n${hostname()}\n`);
  t.throws(() => lockDataDir(dir), { instanceOf: ConfigError, message: new RegExp(`in use by risk-engine pid ${process.ppid}\\)$`) });
  writeFileSync(path, `${process.pid}\nsome-other-host\n`);
  t.throws(() => lockDataDir(dir), { instanceOf: ConfigError, message: new RegExp(`pid ${process.pid} on host some-other-host\\)$`) });
  t.is(readFileSync(path, 'utf8'), `${process.pid}\nsome-other-host\n`, 'left as it was');
});

test('a start that fails after taking the lock leaves it free', (t) => {
  const dir = tempDataDir(t);
  // The embedded log refuses this group id, after the lock was taken.
  const settings = loadSettings({ DATA_DIR: dir, KAFKA_GROUP_ID: 'bad\u0001group' });
  t.throws(() => openEmbeddedParts(settings, silentLogger, RulesHolder.fromFile(settings.rulesFile)), {
    instanceOf: ConfigError,
    message: 'invalid setting KAFKA_GROUP_ID: expects a group id without control characters or lone surrogates in embedded mode',
  });
  t.false(existsSync(join(dir, LOCK_FILE)));
  const lock = lockDataDir(dir);
  t.teardown(() => lock.release());
  t.true(existsSync(lock.path));
});
