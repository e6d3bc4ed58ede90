/**
 * On the real broker: the engine's admin reads the output topics' metadata (a shard's sink opens)
 * while other shards read the group's committed offsets. kafkajs's admin then answers, now and
 * then, no partition at all for the input topics (its metadata cache held only the output topics
 * for a moment), and the engine took that for "nothing committed": a shard opened so judged its
 * previous owner's committed records again (the cluster test's duplicate decisions). Every read
 * here must give the committed offsets.
 */
import test from 'ava';
import { KafkaEventSource } from '../../../src/transport/kafka/KafkaEventSource.ts';
import { KafkaShardSink } from '../../../src/transport/kafka/KafkaShardSink.ts';
import { createLogger } from '../../../src/log.ts';
import { engineTopics } from '../helpers/harness.ts';

test("committed offsets read while the output topics' metadata is read alongside are the committed offsets, every time", async (t) => {
  const { settings, kafka, admin } = await engineTopics(t, 'offsets');
  const { inputs, decisions, aggregates, dlq } = settings.kafka.topics;
  const shards = Array.from({ length: settings.kafka.partitions }, (_, s) => s);

  // Each shard commits its own offsets in a transaction, as the engine does.
  const expected = new Map<number, Record<string, string>>();
  for (const shard of shards) {
    const sink = await KafkaShardSink.open(kafka, admin, settings.kafka, shard, async () => {});
    const offsets = inputs.map((topic, i) => ({ topic, partition: shard, offset: String(10 * shard + i + 1) }));
    await sink.commit([], offsets);
    await sink.close();
    expected.set(shard, Object.fromEntries(offsets.map((o) => [o.topic, o.offset])));
  }

  const source = new KafkaEventSource(kafka, admin, settings.kafka, createLogger('silent'));
  let reading = true;
  const metadata = (async () => {
    while (reading) await admin.fetchTopicMetadata({ topics: [decisions, aggregates, dlq] });
  })();
  const wrong: string[] = [];
  let reads = 0;
  const until = Date.now() + 6000;
  while (Date.now() < until) {
    const got = await Promise.all(shards.map((shard) => source.committedOffsets(shard)));
    reads += got.length;
    got.forEach((offsets, shard) => {
      if (JSON.stringify(offsets) !== JSON.stringify(expected.get(shard))) wrong.push(`shard ${shard}: ${JSON.stringify(offsets)}`);
    });
  }
  reading = false;
  await metadata;
  t.log(`${reads} reads`);
  t.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${reads} reads were not the committed offsets`);
});
