/**
 * Deliberate faults for crash and supervision tests, switched on by RISK_FAULT (a comma list;
 * never set in production). Applied in one place, by wiring:
 * - `crash-before-commit:N` kills the process with SIGKILL right before the Nth shard commit, i.e.
 *   after the batch's events are journaled and before their decisions and offsets are committed;
 * - `poison-event:PREFIX` makes the user actor throw while deciding any event whose eventId starts
 *   with PREFIX, as a bug in the risk logic would;
 * - `stop-before-persist:N` SIGSTOPs the process right before the journal write that holds the
 *   Nth journal entry, making it a zombie at a known point: once continued, that write carries a
 *   stale epoch.
 */
import type { ShardFaults } from '../actors/shardFaults.ts';
import type { EventSource, OwnershipCheck, ShardSink } from '../transport/ports.ts';

export type Faults = ShardFaults;

export const NO_FAULTS: Faults = { beforeDecide: () => undefined, beforePersist: () => undefined };

function parse(spec: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (spec ?? '').split(',')) {
    const i = part.indexOf(':');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

export function faultsFrom(spec: string | undefined): Faults {
  const faults = parse(spec);
  const prefix = faults.get('poison-event');
  const stopAt = Number(faults.get('stop-before-persist') ?? NaN);
  let persists = 0;
  return {
    beforeDecide: (event) => {
      if (prefix && event.eventId.startsWith(prefix)) throw new Error(`injected poison: event ${event.eventId}`);
    },
    beforePersist: (entries) => {
      const before = persists;
      persists += entries;
      if (before < stopAt && persists >= stopAt) process.kill(process.pid, 'SIGSTOP');
    },
  };
}

export function withFaults(source: EventSource, spec: string | undefined): EventSource {
  const crashAt = Number(parse(spec).get('crash-before-commit') ?? NaN);
  if (!Number.isInteger(crashAt)) return source;
  let commits = 0;
  const openSink = async (shard: number, stillOwner: OwnershipCheck): Promise<ShardSink> => {
    const sink = await source.openSink(shard, stillOwner);
    return {
      commit: async (records, offsets) => {
        if (++commits >= crashAt) process.kill(process.pid, 'SIGKILL');
        await sink.commit(records, offsets);
      },
      close: () => sink.close(),
      ...(sink.nextTransaction ? { nextTransaction: () => sink.nextTransaction!() } : {}),
    };
  };
  return new Proxy(source, {
    get: (target, prop, receiver) => (prop === 'openSink' ? openSink : Reflect.get(target, prop, receiver)),
  });
}
