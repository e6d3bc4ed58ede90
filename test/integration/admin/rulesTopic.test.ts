/**
 * The rules channel on the real Kafka: a new instance starts with the latest rules of the topic
 * (read to its end before start resolves), invalid records are skipped, a change made on one
 * instance reaches another within seconds, and versions count from the whole log.
 */
import test from 'ava';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Rules } from '../../../src/domain/index.ts';
import { createLogger } from '../../../src/log.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { openRulesChannel, type RulesChannel } from '../../../src/app/rules/channel.ts';
import { RULES_KEY } from '../../../src/transport/kafka/RulesTopic.ts';
import { createKafka } from '../../../src/transport/kafka/kafkaClient.ts';
import { kafkaClient, testSettings, uniqueId } from '../helpers/harness.ts';
import { rulesWhere } from './instance.ts';

/** A rules channel of its own instance; its log lines are kept (and not printed). */
function channelOn(id: string, name: string): { holder: RulesHolder; channel: RulesChannel; logged: Record<string, unknown>[] } {
  const settings = testSettings(id, { INSTANCE_ID: `${id}-${name}` });
  const logged: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logged.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'warn' }, sink);
  const holder = RulesHolder.fromFile(settings.rulesFile);
  const channel = openRulesChannel(createKafka(settings.kafka.brokers, `rules-test-${name}`, createLogger('error')), settings, holder, log);
  return { holder, channel, logged };
}

const withBlock = (rules: Rules, block: number): Rules => ({ ...rules, thresholds: { block, challenge: Math.min(block / 2, rules.thresholds.challenge) } });

test('a new instance has the latest valid rules of the topic as soon as start resolves', async (t) => {
  const id = uniqueId('rules-start');
  const a = channelOn(id, 'a');
  t.teardown(() => a.channel.close());
  await a.channel.start(); // creates the topic (compacted, one partition)
  await a.channel.update(withBlock(a.holder.current(), 0.8));
  const latest = await a.channel.update(withBlock(a.holder.current(), 0.6));
  t.is(latest.rulesVersion, 3);

  // Records that are not valid rules follow: all are to be ignored.
  const topic = testSettings(id).kafka.topics.rules;
  const producer = kafkaClient().producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({
    topic,
    acks: -1,
    messages: [
      { key: RULES_KEY, value: '{not json' },
      { key: RULES_KEY, value: JSON.stringify({ ...latest, rulesVersion: 9, thresholds: { block: 7, challenge: 0.5 } }) },
      { key: 'other-key', value: JSON.stringify({ ...latest, rulesVersion: 10 }) },
      { key: RULES_KEY, value: null },
    ],
  });
  await producer.disconnect();

  const b = channelOn(id, 'b');
  t.teardown(() => b.channel.close());
  t.is(b.holder.current().rulesVersion, 1, 'the file rules before start');
  await b.channel.start();
  t.deepEqual(b.holder.current(), latest);
  t.is(b.channel.current().thresholds.block, 0.6);
  // Each bad record was logged with what was wrong with it.
  const ignored = b.logged.filter((l) => String(l.msg).startsWith('rules record ignored'));
  t.deepEqual(
    ignored.map((l) => [l.msg, l.offset]),
    [
      ['rules record ignored: not JSON', '2'],
      ['rules record ignored: invalid rules', '3'],
      ['rules record ignored: unexpected key', '4'],
      ['rules record ignored: no value', '5'],
    ],
  );
  t.is(ignored[1]!.field, 'thresholds.block');
});

test('a change made on one instance is applied on another within seconds; versions count from the whole log', async (t) => {
  const id = uniqueId('rules-follow');
  const a = channelOn(id, 'a');
  const b = channelOn(id, 'b');
  t.teardown(async () => {
    await a.channel.close();
    await b.channel.close();
  });
  await a.channel.start();
  await b.channel.start();
  t.is(b.holder.current().rulesVersion, 1);

  const seenOnB = rulesWhere(b.holder, (r) => r.rulesVersion === 2, 10_000);
  const started = Date.now();
  const changed = await a.channel.update(withBlock(a.holder.current(), 0.42));
  t.is(changed.rulesVersion, 2);
  t.deepEqual(await seenOnB, changed);
  t.true(Date.now() - started < 10_000);

  // B changes next, right after A: it must count from A's version, not from what it had read.
  const onA = await a.channel.update(withBlock(a.holder.current(), 0.41));
  const onB = await b.channel.update(withBlock(b.holder.current(), 0.4));
  t.is(onA.rulesVersion, 3);
  t.is(onB.rulesVersion, 4);
  t.deepEqual(await rulesWhere(a.holder, (r) => r.rulesVersion === 4, 10_000), onB);
  t.is(a.holder.current().thresholds.block, 0.4);
});
