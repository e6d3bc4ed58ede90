/**
 * zstd-compressed input (as other producers write it) is read: a child engine decides every event
 * of a zstd record batch. The test's producer compresses with the zstd command-line tool.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import kafkajs from 'kafkajs';
import { decompress } from 'fzstd';
import { groupCaughtUp, kafkaClient, parseValues, readToEnd, uniqueId } from '../helpers/harness.ts';
import { childConfig, spawnEngine } from '../helpers/child.ts';

test('records in a zstd batch are decided', async (t) => {
  const { CompressionCodecs, CompressionTypes } = kafkajs;
  const id = uniqueId('zstd');
  const engine = await spawnEngine(id, childConfig(id));
  t.teardown(() => engine.proc.kill('SIGKILL'));
  await engine.started;

  const kafka = kafkaClient();
  // After kafkaClient(), which registers the engine's read-only codec: this process must write zstd.
  CompressionCodecs[CompressionTypes.ZSTD] = (() => ({
    compress: async ({ buffer }: { buffer: Buffer }) => execFileSync('zstd', ['-c', '-q'], { input: buffer }),
    decompress: async (b: Buffer) => Buffer.from(decompress(b)),
  })) as never;
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const events = Array.from({ length: 50 }, (_, i) => ({ eventId: `${id}-${i}`, userId: `${id}-u${i % 7}`, eventType: 'payment', timestamp: Date.now(), amount: '3.25' }));
  await producer.send({
    topic: `${id}.payment-events`,
    compression: CompressionTypes.ZSTD,
    messages: events.map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
  });
  await producer.disconnect();

  await groupCaughtUp(kafka, id, [`${id}.payment-events`]);
  const decisions = parseValues<{ eventId: string }>(await readToEnd(kafka, `${id}.risk-decisions`));
  t.deepEqual(decisions.map((d) => d.eventId).sort(), events.map((e) => e.eventId).sort());
  t.is(parseValues(await readToEnd(kafka, `${id}.risk-events-dlq`)).length, 0);
});
