/**
 * nact's persistence engine on top of a JournalStore (Redis or LMDB).
 *
 * Writes are micro-batched: nact runs each actor's message in its own setImmediate callback, so
 * the persists of one event-loop turn come from many callbacks. Flushing in the next setImmediate
 * collects all of them into one `store.append` per fence (one Redis round trip), and each caller
 * is then settled with the outcome of its own key.
 *
 * Not supported: event tags (the store does not keep them; a tagged persist is refused rather
 * than silently losing them) and deleted events.
 */
import nact from 'nact';
import { EngineError } from '../errors.ts';
import { keyErrorsOf, type Fence, type JournalEntry, type JournalStore } from './JournalStore.ts';

export { replayState } from './replayState.ts';

export interface NactPersistenceEngineOptions {
  /**
   * The fence of writes that come without one. nact's own `snapshotEvery` calls
   * `takeSnapshot(snapshot)` with nothing else; `persist` gets the fence given to `ctx.persist`.
   */
  fenceOf?: (key: string) => Fence | undefined;
}

/** What nact's recovery consumes: `reduce` (used by nact) and `then` (its typings' PromiseLike). */
export interface EventStream extends PromiseLike<nact.PersistedEvent[]> {
  reduce<U>(fn: (acc: U, event: nact.PersistedEvent, index: number) => U, initial: U): Promise<U>;
}

interface PendingWrite {
  entry: JournalEntry;
  fence: Fence;
  resolve(): void;
  reject(err: unknown): void;
}

export class NactPersistenceEngine {
  readonly #fenceOf: (key: string) => Fence | undefined;
  #pending: PendingWrite[] = [];

  constructor(
    readonly store: JournalStore,
    options: NactPersistenceEngineOptions = {},
  ) {
    this.#fenceOf = options.fenceOf ?? (() => undefined);
  }

  /** This engine as a nact plugin: `start(engine.plugin())`. */
  plugin(): nact.Plugin {
    // nact's typings promise a snapshot that is never undefined and an EventStream of DOM
    // `Event`s; its runtime (lib/persistence/persistent-actor.js) expects what this class does.
    return nact.configurePersistence(this as unknown as nact.PersistenceEngine);
  }

  /** Events of `key` with sequence number > `offset`, ascending; called synchronously by nact. */
  events(key: string, offset = 0, limit?: number, tags?: string[]): EventStream {
    let loaded: Promise<nact.PersistedEvent[]> | undefined;
    const load = (): Promise<nact.PersistedEvent[]> =>
      (loaded ??= (async () => {
        if (tags && tags.length > 0) throw new Error('NactPersistenceEngine: events by tag are not supported');
        const entries = await this.store.readAfter(key, offset);
        // nact read the snapshot first; another incarnation of the entity (one being stopped
        // while its last message finishes) may have saved a newer one since, trimming the journal
        // it covers. Replaying what is left would skip events: fail instead, and the actor
        // recovers again (its supervision resets it), from the newer snapshot.
        const gapAt = entries.findIndex((e, i) => e.sequenceNumber !== offset + i + 1);
        if (gapAt >= 0) {
          throw new EngineError('UNAVAILABLE', `${key}: the journal was trimmed during recovery (entry ${entries[gapAt]!.sequenceNumber} after ${offset + gapAt})`);
        }
        return (limit ? entries.slice(0, limit) : entries).map(toPersistedEvent);
      })());
    return {
      reduce: (fn, initial) => load().then((events) => events.reduce(fn, initial)),
      then: (onFulfilled, onRejected) => load().then(onFulfilled, onRejected),
    };
  }

  async latestSnapshot(key: string): Promise<nact.PersistedSnapshot | undefined> {
    const s = await this.store.latestSnapshot(key);
    return s ? { data: s.data, sequenceNumber: s.sequenceNumber, key: s.key, createdAt: s.createdAt } : undefined;
  }

  async takeSnapshot(snapshot: nact.PersistedSnapshot, fence?: Fence): Promise<void> {
    const f = fence ?? this.#fenceOf(snapshot.key);
    if (!f) throw new Error(`NactPersistenceEngine: no fence for the snapshot of ${snapshot.key}`);
    const { key, sequenceNumber, data, createdAt } = snapshot;
    await this.store.saveSnapshot({ key, sequenceNumber, data, createdAt }, f);
  }

  /** `ctx.persist(msg, tags, fence)` arrives here as `persist(event, fence)`. */
  persist(event: nact.PersistedEvent, fence?: Fence): Promise<void> {
    const f = fence ?? this.#fenceOf(event.key);
    if (!f) return Promise.reject(new Error(`NactPersistenceEngine: no fence for the write to ${event.key}`));
    if (event.tags.length > 0) return Promise.reject(new Error('NactPersistenceEngine: event tags are not supported'));
    const entry: JournalEntry = { key: event.key, sequenceNumber: event.sequenceNumber, data: event.data, createdAt: event.createdAt };
    return new Promise<void>((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => this.#flush());
      this.#pending.push({ entry, fence: f, resolve, reject });
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    const byFence = new Map<string, PendingWrite[]>();
    for (const w of batch) {
      const id = `${w.fence.shard}/${w.fence.epoch}`;
      const group = byFence.get(id);
      if (group) group.push(w);
      else byFence.set(id, [w]);
    }
    // All appends start in this one callback, so a Redis store pipelines them together too.
    for (const group of byFence.values()) {
      const append = async () => this.store.append(group.map((w) => w.entry), group[0]!.fence);
      append().then(
        () => group.forEach((w) => w.resolve()),
        (err: unknown) => {
          // Without per-key errors no key is known to be written: every caller fails.
          const perKey = keyErrorsOf(err);
          for (const w of group) {
            const keyErr = perKey ? perKey.get(w.entry.key) : err;
            if (keyErr) w.reject(keyErr);
            else w.resolve();
          }
        },
      );
    }
  }
}

function toPersistedEvent(e: JournalEntry): nact.PersistedEvent {
  return { data: e.data, sequenceNumber: e.sequenceNumber, key: e.key, createdAt: e.createdAt, isDeleted: false, tags: [] };
}
