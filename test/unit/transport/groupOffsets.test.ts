/**
 * Committed offsets read so that an answer without a partition is never "nothing committed":
 * kafkajs's admin answers no partition of a topic whose metadata a concurrent read of other
 * topics just dropped from its cache (see groupOffsets.ts). A shard opened on such an answer
 * judged its previous owner's committed records again.
 */
import test from 'ava';
import sinon from 'sinon';
import type { Admin, Kafka } from 'kafkajs';
import { committedOffsetsOf, topicOffsetsOf } from '../../../src/transport/kafka/groupOffsets.ts';
import { partitionKey } from '../../../src/transport/topicPartition.ts';
import { KafkaEventSource } from '../../../src/transport/kafka/KafkaEventSource.ts';
import { loadSettings } from '../../../src/config/settings.ts';
import { createLogger } from '../../../src/log.ts';
import { errorCode } from '../../../src/errors.ts';

const FAST = { attempts: 3, delayMs: 1 };
const answer = (topics: Record<string, Record<number, string>>) =>
  Object.entries(topics).map(([topic, parts]) => ({ topic, partitions: Object.entries(parts).map(([p, offset]) => ({ partition: Number(p), offset, metadata: null })) }));

test('an answer that leaves out a partition asked for is read again', async (t) => {
  const fetchOffsets = sinon.stub();
  fetchOffsets.onFirstCall().resolves(answer({ in1: {}, in2: {} }));
  fetchOffsets.onSecondCall().resolves(answer({ in1: { 0: '7', 3: '12' }, in2: { 3: '-1' } }));
  const got = await committedOffsetsOf({ fetchOffsets } as never, 'g', [{ topic: 'in1', partition: 3 }, { topic: 'in2', partition: 3 }], FAST);
  t.is(fetchOffsets.callCount, 2);
  t.is(got.get(partitionKey({ topic: 'in1', partition: 3 })), '12');
  t.is(got.get(partitionKey({ topic: 'in2', partition: 3 })), '-1', "the coordinator's -1 is an answer: nothing committed there");
});

test('an answer that keeps leaving a partition out fails UNAVAILABLE, naming it', async (t) => {
  const fetchOffsets = sinon.stub().resolves(answer({ in1: { 0: '7' } }));
  const err = await t.throwsAsync(committedOffsetsOf({ fetchOffsets } as never, 'g', [{ topic: 'in1', partition: 2 }], FAST));
  t.is(errorCode(err), 'UNAVAILABLE');
  t.regex(err!.message, /in1 partition 2/);
  t.is(fetchOffsets.callCount, FAST.attempts);
});

test("a topic's offsets without a partition asked for are read again", async (t) => {
  const fetchTopicOffsets = sinon.stub();
  fetchTopicOffsets.onFirstCall().resolves([]);
  fetchTopicOffsets.onSecondCall().resolves([{ partition: 1, offset: '9', high: '9', low: '0' }]);
  t.deepEqual(await topicOffsetsOf({ fetchTopicOffsets } as never, 'in1', [1], FAST), [{ partition: 1, offset: '9', high: '9', low: '0' }]);
});

test("a shard opened while kafkajs's answer leaves its partitions out still starts from the committed offsets", async (t) => {
  const settings = loadSettings({ KAFKA_BROKERS: '127.0.0.1:9092' });
  const [a, b, c] = settings.kafka.topics.inputs;
  const fetchOffsets = sinon.stub();
  fetchOffsets.onFirstCall().resolves(answer({ [a!]: {}, [b!]: {}, [c!]: {} }));
  fetchOffsets.resolves(answer({ [a!]: { 5: '321' }, [b!]: { 5: '571' }, [c!]: { 5: '-1' } }));
  const source = new KafkaEventSource({} as Kafka, { fetchOffsets } as unknown as Admin, settings.kafka, createLogger('silent'), { answerRetry: FAST });
  t.deepEqual(await source.committedOffsets(5), { [a!]: '321', [b!]: '571' });
});
