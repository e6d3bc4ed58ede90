/**
 * LZ4 against Kafka's own Java clients (the broker's jars, through scripts/services.sh
 * kafka-class): what the engine's codec compresses the Java console consumer reads, and what the
 * Java producer compresses with compression.type=lz4 the engine's codec reads.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { BROKERS, kafkaClient, uniqueId } from '../helpers/harness.ts';

const run = promisify(execFile);
const { CompressionCodecs, CompressionTypes } = kafkajs;

async function createTopic(topic: string): Promise<void> {
  const admin = kafkaClient().admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

const values = (id: string) => Array.from({ length: 40 }, (_, i) => JSON.stringify({ eventId: `${id}-${i}`, pad: 'x'.repeat(i * 10) }));

test('records the engine compresses with lz4 are read by the Java console consumer', async (t) => {
  const id = uniqueId('lz4-out');
  await createTopic(id);
  const producer = kafkaClient().producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const sent = values(id);
  await producer.send({ topic: id, compression: CompressionTypes.LZ4, messages: sent.map((value) => ({ key: 'k', value })) });
  await producer.disconnect();
  const { stdout } = await run('bash', ['scripts/services.sh', 'kafka-class', 'org.apache.kafka.tools.consumer.ConsoleConsumer', '--bootstrap-server', BROKERS[0]!, '--topic', id, '--from-beginning', '--max-messages', String(sent.length), '--timeout-ms', '60000'], { maxBuffer: 16 << 20 });
  t.deepEqual(stdout.trim().split('\n'), sent);
});

test('records the Java producer compresses with lz4 are read through the engine codec', async (t) => {
  const id = uniqueId('lz4-in');
  await createTopic(id);
  const sent = values(id);
  const producer = run('bash', ['scripts/services.sh', 'kafka-class', 'org.apache.kafka.tools.ConsoleProducer', '--bootstrap-server', BROKERS[0]!, '--topic', id, '--compression-codec', 'lz4', '--producer-property', 'linger.ms=50']);
  producer.child.stdin!.end(`${sent.join('\n')}\n`);
  await producer;

  const kafka = kafkaClient(); // registers the engine's codecs
  const lz4 = CompressionCodecs[CompressionTypes.LZ4]!;
  let decompressed = 0;
  CompressionCodecs[CompressionTypes.LZ4] = (() => {
    const codec = (lz4 as () => { compress: unknown; decompress(b: Buffer): Promise<Buffer> })();
    return { ...codec, decompress: (b: Buffer) => (decompressed++, codec.decompress(b)) };
  }) as never;
  t.teardown(() => {
    CompressionCodecs[CompressionTypes.LZ4] = lz4;
  });
  const consumer = kafka.consumer({ groupId: uniqueId('lz4-reader') });
  await consumer.connect();
  await consumer.subscribe({ topic: id, fromBeginning: true });
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${got.length} records`)), 60_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message.value!.toString('utf8'));
        if (got.length >= sent.length) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  t.deepEqual(got, sent);
  t.true(decompressed > 0, 'the batches came lz4-compressed');
});
