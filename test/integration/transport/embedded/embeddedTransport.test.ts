// The embedded transport end to end, without external services: HTTP-style ingestion into the
// log, a minimal engine deciding each event and committing decisions with its offsets, alerts,
// and a restart that neither loses nor repeats anything.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { silentLogger } from '../../../../src/log.ts';
import { openEmbeddedTransport, type EmbeddedTransport } from '../../../../src/transport/embedded/index.ts';
import type { Alert, BatchControl, InputBatch, OutputRecord, ShardListener, ShardSink } from '../../../../src/transport/ports.ts';
import { shardOf } from '../../../../src/transport/shardOf.ts';

const INPUTS = ['login-events', 'payment-events', 'transfer-events'];
const PARTITIONS = 4;

/** Decides every event (BLOCK every 5th), alerts on BLOCK, commits decisions with the offsets. */
class MiniEngine implements ShardListener {
  private readonly sinks = new Map<number, ShardSink>();
  decided = 0;
  private waiter: { count: number; resolve: () => void } | null = null;

  constructor(private readonly transport: EmbeddedTransport) {}

  async onAssigned(shards: readonly number[]): Promise<void> {
    for (const s of shards) this.sinks.set(s, await this.transport.source.openSink(s));
  }

  async onRevoked(): Promise<void> {}

  async onBatch(shard: number, batch: InputBatch, control: BatchControl): Promise<void> {
    await control.heartbeat();
    const decisions: OutputRecord[] = [];
    for (const r of batch.records) {
      const e = JSON.parse(r.value!.toString('utf8')) as { eventId: string; userId: string; eventType: string; n: number };
      const decision = e.n % 5 === 0 ? 'BLOCK' : 'ALLOW';
      decisions.push({ topic: 'risk-decisions', key: e.userId, value: JSON.stringify({ eventId: e.eventId, userId: e.userId, decision, shard }) });
      if (decision === 'BLOCK') {
        const alert: Alert = { alertId: e.eventId, userId: e.userId, eventId: e.eventId, eventType: e.eventType, decision, riskScore: 0.95, reasons: [{ code: 'TEST' }], at: 0 };
        await this.transport.alerts.publish(alert, null);
      }
    }
    await this.sinks.get(shard)!.commit(decisions, [{ topic: batch.topic, partition: batch.partition, offset: batch.nextOffset }]);
    this.decided += batch.records.length;
    if (this.waiter && this.decided >= this.waiter.count) this.waiter.resolve();
  }

  decidedAtLeast(count: number): Promise<void> {
    if (this.decided >= count) return Promise.resolve();
    return new Promise((resolve) => (this.waiter = { count, resolve }));
  }
}

const types = ['login', 'payment', 'transfer'];
const events = (from: number, to: number): OutputRecord[] =>
  Array.from({ length: to - from }, (_, i) => {
    const n = from + i;
    const userId = `user-${n % 13}`;
    const eventType = types[n % 3]!;
    return { topic: `${eventType}-events`, key: userId, value: JSON.stringify({ eventId: `e-${n}`, userId, eventType, n }) };
  });

function allDecisions(t: EmbeddedTransport): { eventId: string; userId: string; shard: number; partition: number }[] {
  return [...Array(PARTITIONS).keys()].flatMap((p) =>
    t.log.read('risk-decisions', p, '0', 10_000).map((r) => ({ ...JSON.parse(r.value!.toString('utf8')), partition: p })),
  );
}

test('events go in, one decision per event comes out on the user\'s shard, alerts print, and a restart resumes', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'embedded-transport-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  let printed = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      printed += chunk.toString('utf8');
      done();
    },
  });
  const open = () => openEmbeddedTransport({ dataDir, inputs: INPUTS, partitions: PARTITIONS, groupId: 'risk-engine', maxBatch: 16, out, log: silentLogger });

  const first = open();
  const engine = new MiniEngine(first);
  await first.ingest.send(events(0, 100));
  await first.source.start(engine);
  await first.ingest.send(events(100, 150));
  await engine.decidedAtLeast(150);
  t.deepEqual((await first.source.positions([0, 1, 2, 3])).map((p) => p.lag), [0, 0, 0, 0]);
  await first.close();
  await first.close(); // idempotent

  const second = open();
  t.teardown(() => second.close());
  const again = new MiniEngine(second);
  await second.source.start(again);
  await second.ingest.send(events(150, 160));
  await again.decidedAtLeast(10);
  await second.source.stop();
  t.is(again.decided, 10, 'after the restart only the new events were handed over');

  const decisions = allDecisions(second);
  t.is(decisions.length, 160);
  t.is(new Set(decisions.map((d) => d.eventId)).size, 160, 'exactly one decision per event');
  t.true(decisions.every((d) => d.partition === shardOf(d.userId, PARTITIONS) && d.shard === d.partition), 'decisions on the user\'s shard');

  const lines = printed.split('\n').filter(Boolean);
  t.is(lines.length, 32);
  t.true(lines.every((l) => /^ALERT BLOCK (login|payment|transfer) user=user-\d+ event=e-\d+ score=0\.95 reasons=TEST subject=risk\.alerts\.block\.(login|payment|transfer)$/.test(l)));
  t.false(second.source.isConnected());
});
