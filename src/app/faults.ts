/**
 * Deliberate faults for crash tests, switched on by RISK_FAULT (never set in production):
 * `crash-before-commit:N` kills the process with SIGKILL right before the Nth shard commit, i.e.
 * after the batch's events are journaled and before their decisions and offsets are committed.
 * Applied in one place, as a decorator of the event source's sinks.
 */
import type { EventSource, ShardSink } from '../transport/ports.ts';

export function withFaults(source: EventSource, spec: string | undefined): EventSource {
  const m = spec?.match(/^crash-before-commit:(\d+)$/);
  if (!m) return source;
  const crashAt = Number(m[1]);
  let commits = 0;
  const openSink = async (shard: number): Promise<ShardSink> => {
    const sink = await source.openSink(shard);
    return {
      commit: async (records, offsets) => {
        if (++commits >= crashAt) process.kill(process.pid, 'SIGKILL');
        await sink.commit(records, offsets);
      },
      close: () => sink.close(),
    };
  };
  return new Proxy(source, {
    get: (target, prop, receiver) => (prop === 'openSink' ? openSink : Reflect.get(target, prop, receiver)),
  });
}
