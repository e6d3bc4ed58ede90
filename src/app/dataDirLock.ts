/**
 * One engine per DATA_DIR. Two engines on one directory would both own every shard: the second
 * fences the first, which then only refuses its batches while looking healthy. The lock is a file
 * `<DATA_DIR>/risk-engine.lock` holding the holder's pid and host, created atomically (written
 * aside, then hard-linked into place, so that it never exists half-written).
 *
 * A lock whose process is gone (killed, crashed) is stale and taken over, as PostgreSQL does
 * with postmaster.pid: its pid does not answer `kill(pid, 0)`, or it is our own pid (a container
 * restarted under the same pid; we hold no lock yet). A lock of another host cannot be checked
 * and counts as held. A stale lock is read again just before it is removed, so a lock that
 * another engine took over meanwhile stays; only two engines starting within that instant over
 * one stale lock could both get through.
 */
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';

export const LOCK_FILE = 'risk-engine.lock';

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** Lock files this process holds: a second engine in the same process is refused too. */
const held = new Set<string>();

export function lockDataDir(dir: string): DataDirLock {
  mkdirSync(dir, { recursive: true });
  const path = resolve(join(dir, LOCK_FILE));
  if (held.has(path)) throw inUse(dir, { pid: process.pid, host: hostname() });
  const content = `${process.pid}\n${hostname()}\n`;
  // Each round either creates the lock, or finds a live holder, or removes a stale lock and tries again.
  for (let round = 0; round < 5; round++) {
    if (tryCreate(path, content)) return hold(path, content);
    const holder = readHolder(path);
    if (holder === 'gone') continue;
    if (holder !== 'unreadable' && isAlive(holder)) throw inUse(dir, holder);
    removeIfUnchanged(path, holder);
  }
  throw new ConfigError('DATA_DIR', `expects a directory no other engine uses (${dir}: its lock ${path} kept changing hands)`);
}

function hold(path: string, content: string): DataDirLock {
  held.add(path);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    held.delete(path);
    process.off('exit', release);
    try {
      if (readFileSync(path, 'utf8') === content) unlinkSync(path);
    } catch {
      // Gone already: nothing to release.
    }
  };
  // A process that exits without a clean shutdown (a fatal error) still leaves no lock behind.
  process.on('exit', release);
  return { path, release };
}

function tryCreate(path: string, content: string): boolean {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(aside, content, { flag: 'wx' });
  try {
    linkSync(aside, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(aside);
  }
}

interface Holder {
  pid: number;
  host: string;
  raw?: string;
}

function readHolder(path: string): Holder | 'gone' | 'unreadable' {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  const [pidText, host] = raw.split('\n');
  const pid = Number(pidText);
  return Number.isSafeInteger(pid) && pid > 0 && host ? { pid, host, raw } : 'unreadable';
}

function isAlive({ pid, host }: Holder): boolean {
  if (host !== hostname()) return true;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes a stale lock, unless another engine replaced it since it was read. */
function removeIfUnchanged(path: string, seen: Holder | 'unreadable'): void {
  try {
    const now = readFileSync(path, 'utf8');
    if (seen !== 'unreadable' && now !== seen.raw) return;
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function inUse(dir: string, holder: Holder): ConfigError {
  const where = holder.host === hostname() ? '' : ` on host ${holder.host}`;
  return new ConfigError('DATA_DIR', `expects a directory no other engine uses (${dir} is in use by risk-engine pid ${holder.pid}${where})`);
}
