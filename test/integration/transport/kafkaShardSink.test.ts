/**
 * A shard's hand-off on the real Kafka and Redis, as the engine opens a shard (Engine.openShard):
 * a new epoch in the store, then a producer of the shard's transactional id. The old owner's commit
 * times out (injected: it never reaches the broker) after the new owner took over and committed
 * part of the same round. The old owner must not make its outcome final with a fresh producer (it
 * would fence the new owner) and commit the round again: every decision is committed once.
 */
import test from 'ava';
import sinon from 'sinon';
import { KafkaShardSink } from '../../../src/transport/kafka/KafkaShardSink.ts';
import { RedisJournal } from '../../../src/persistence/RedisJournal.ts';
import { assertEpochHeld } from '../../../src/persistence/JournalStore.ts';
import { errorCode } from '../../../src/errors.ts';
import type { ConsumedOffset, OutputRecord } from '../../../src/transport/ports.ts';
import { engineTopics, readToEnd } from '../helpers/harness.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

test('an owner superseded while its commit timed out commits nothing more: each decision of the round is committed once', async (t) => {
  const { id, settings, kafka, admin } = await engineTopics(t, 'handoff');
  const store = await RedisJournal.connect({ url: REDIS_URL, prefix: id });
  t.teardown(() => store.close());

  const shard = 0;
  const input = settings.kafka.topics.inputs[0]!;
  const decision = (n: number): OutputRecord => ({ topic: settings.kafka.topics.decisions, key: 'u1', value: JSON.stringify({ eventId: `e${n}` }) });
  const through = (offset: number): ConsumedOffset[] => [{ topic: input, partition: shard, offset: String(offset) }];
  const open = async () => {
    const epoch = await store.nextEpoch(shard);
    const sink = await KafkaShardSink.open(kafka, admin, settings.kafka, shard, () => assertEpochHeld(store, { shard, epoch }));
    t.teardown(() => sink.close().catch(() => undefined));
    return sink;
  };

  const old = await open();
  const transact = sinon.stub(old as unknown as { transact(...args: unknown[]): Promise<void> }, 'transact');
  transact.onFirstCall().rejects(Object.assign(new Error('Request timed out'), { type: 'REQUEST_TIMED_OUT' }));
  transact.callThrough();

  const newer = await open();
  await newer.commit([decision(1)], through(1));

  // The old owner's shard retries a failed transaction until the failure is final, as ShardTransaction does.
  let final: unknown;
  for (let attempt = 1; attempt <= 3 && final === undefined; attempt++) {
    await old.commit([decision(1), decision(2)], through(2)).then(
      () => (final = 'committed'),
      (err: unknown) => {
        if (errorCode(err) === 'FENCED') final = err;
      },
    );
  }
  t.is(errorCode(final), 'FENCED');
  await newer.commit([decision(2)], through(2));

  const committed = (await readToEnd(kafka, settings.kafka.topics.decisions)).map((m) => (JSON.parse(m.value!.toString('utf8')) as { eventId: string }).eventId);
  t.deepEqual(committed.sort(), ['e1', 'e2']);
  const [offsets] = await admin.fetchOffsets({ groupId: settings.kafka.groupId, topics: [input] });
  t.is(offsets!.partitions.find((p) => p.partition === shard)!.offset, '2');
});
