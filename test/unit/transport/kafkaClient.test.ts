import test from 'ava';
import { logLevel } from 'kafkajs';
import { isExpectedKafkaLog, kafkaLogLevel } from '../../../src/transport/kafka/kafkaClient.ts';

const CONCURRENT = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';

test("the broker's CONCURRENT_TRANSACTIONS answer after a commit is expected, however kafkajs logs it", (t) => {
  t.true(isExpectedKafkaLog({ message: 'Response AddPartitionsToTxn(key: 24, version: 1)', error: CONCURRENT }));
  t.true(isExpectedKafkaLog({ message: `Failed to send messages: ${CONCURRENT}` }));
  t.true(isExpectedKafkaLog({ message: 'The group coordinator is not available' }));
});

test('other kafkajs errors are not', (t) => {
  t.false(isExpectedKafkaLog({ message: 'Response Produce(key: 0, version: 7)', error: 'The producer has been fenced by a newer producer' }));
  t.false(isExpectedKafkaLog({ message: 'Failed to send messages: This server is not the leader for that topic-partition' }));
});

test('a response saying leadership moved is a warning (kafkajs retries it); running out of retries stays an error', (t) => {
  const notLeader = 'This server is not the leader for that topic-partition';
  t.is(kafkaLogLevel(logLevel.ERROR, { message: 'Response ListOffsets(key: 2, version: 3)', error: notLeader }), 'warn');
  t.is(kafkaLogLevel(logLevel.ERROR, { message: `Failed to send messages: ${notLeader}` }), 'error');
  // A topic created a moment ago, not yet in every answer's metadata: retried by kafkajs.
  t.is(kafkaLogLevel(logLevel.ERROR, { message: 'Response Metadata(key: 3, version: 6)', error: 'This server does not host this topic-partition' }), 'warn');
  t.is(kafkaLogLevel(logLevel.ERROR, { message: 'Response Produce(key: 0, version: 7)', error: 'The producer has been fenced by a newer producer' }), 'error');
  t.is(kafkaLogLevel(logLevel.ERROR, { message: 'Response AddPartitionsToTxn(key: 24, version: 1)', error: CONCURRENT }), 'debug');
  t.is(kafkaLogLevel(logLevel.WARN, { message: 'something odd' }), 'warn');
});
