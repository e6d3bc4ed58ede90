/**
 * Records the engine writes are compressed with `kafka.compression` (none unless set, so that
 * consumers without an lz4 codec keep reading): the shard's transactions (decisions, aggregates,
 * dead letters) and POST /events. zstd is refused at start-up
 * by a runtime that cannot write it.
 */
import test from 'ava';
import sinon from 'sinon';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { KafkaIngestSink, KafkaShardSink } from '../../../src/transport/kafka/KafkaShardSink.ts';
import { loadSettings } from '../../../src/config/settings.ts';
import { ConfigError } from '../../../src/errors.ts';

const { CompressionTypes } = kafkajs;

function stubKafka() {
  const tx = { sendBatch: sinon.stub().resolves(), sendOffsets: sinon.stub().resolves(), commit: sinon.stub().resolves(), abort: sinon.stub().resolves() };
  const producer = { connect: sinon.stub().resolves(), disconnect: sinon.stub().resolves(), transaction: sinon.stub().resolves(tx), sendBatch: sinon.stub().resolves() };
  const admin = { fetchTopicMetadata: sinon.stub().resolves({ topics: [] }) };
  return { kafka: { producer: sinon.stub().returns(producer) } as unknown as Kafka, admin: admin as unknown as Admin, producer, tx };
}

function settingsWith(kafka: object) {
  const file = join(mkdtempSync(join(tmpdir(), 'compression-')), 'config.json');
  writeFileSync(file, JSON.stringify({ kafka }));
  return loadSettings({ KAFKA_BROKERS: '127.0.0.1:9092', CONFIG_FILE: file });
}

const record = { topic: 'risk-decisions', key: 'u1', value: '{}' };

test('uncompressed by default; with lz4 set, a shard transaction and POST /events write lz4', async (t) => {
  t.is(loadSettings({ KAFKA_BROKERS: '127.0.0.1:9092' }).kafka.compression, 'none');
  const settings = settingsWith({ compression: 'lz4' });
  const { kafka, admin, producer, tx } = stubKafka();
  const sink = await KafkaShardSink.open(kafka, admin, settings.kafka, 3, async () => undefined);
  await sink.commit([record], [{ topic: 'payment-events', partition: 3, offset: '8' }]);
  t.is(tx.sendBatch.lastCall.args[0].compression, CompressionTypes.LZ4);
  const ingest = await KafkaIngestSink.open(kafka, settings.kafka.compression);
  await ingest.send([record]);
  t.is(producer.sendBatch.lastCall.args[0].compression, CompressionTypes.LZ4);
});

test('kafka.compression none writes uncompressed; gzip and snappy are passed on', async (t) => {
  for (const [name, type] of [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP], ['snappy', CompressionTypes.Snappy]] as const) {
    const settings = settingsWith({ compression: name });
    const { kafka, admin, tx } = stubKafka();
    const sink = await KafkaShardSink.open(kafka, admin, settings.kafka, 0, async () => undefined);
    await sink.commit([record], []);
    t.is(tx.sendBatch.lastCall.args[0].compression, type, name);
  }
});

test('kafka.compression must be a codec name; zstd only where node:zlib writes it', (t) => {
  t.throws(() => settingsWith({ compression: 'brotli' }), { instanceOf: ConfigError, message: /kafka\.compression/ });
  const writable = typeof (zlib as unknown as { zstdCompress?: unknown }).zstdCompress === 'function';
  if (writable) t.is(settingsWith({ compression: 'zstd' }).kafka.compression, 'zstd');
  else t.throws(() => settingsWith({ compression: 'zstd' }), { instanceOf: ConfigError, message: /kafka\.compression.*Node 22\.15/ });
});
