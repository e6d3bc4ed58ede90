/** The rules channel's ordering rules, on an in-memory log shared by several "instances". */
import test from 'ava';
import type { Rules } from '../../../src/domain/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { embeddedRulesChannel, LogRulesChannel } from '../../../src/app/rules/channel.ts';
import type { RulesLog } from '../../../src/transport/ports.ts';
import { rulesFromFile } from './helpers.ts';

/** One topic; each follower reads it at its own pace (`deliver`). */
class MemoryTopic {
  readonly records: Rules[] = [];
}

class MemoryFollower implements RulesLog {
  delivered = 0;
  private onRules: ((rules: Rules, position: bigint) => void) | null = null;
  constructor(readonly topic: MemoryTopic) {}
  async start(onRules: (rules: Rules, position: bigint) => void): Promise<void> {
    this.onRules = onRules;
    this.deliver();
  }
  /** Hands over the records up to `upTo` (all by default). */
  deliver(upTo = this.topic.records.length): void {
    while (this.delivered < upTo) {
      const position = this.delivered++;
      this.onRules?.(this.topic.records[position]!, BigInt(position));
    }
  }
  async catchUp(): Promise<void> {
    this.deliver();
  }
  async append(rules: Rules): Promise<bigint> {
    this.topic.records.push(rules);
    return BigInt(this.topic.records.length - 1);
  }
  async close(): Promise<void> {}
}

const base = (): Rules => rulesFromFile().current();
const withBlock = (block: number, rulesVersion = 1): Rules => ({ ...base(), rulesVersion, thresholds: { block, challenge: block / 2 } });

function instance(topic: MemoryTopic) {
  const holder = new RulesHolder(base());
  const log = new MemoryFollower(topic);
  return { holder, log, channel: new LogRulesChannel(holder, log, silentLogger) };
}

test('start applies the log to its end before it resolves: the latest rules win', async (t) => {
  const topic = new MemoryTopic();
  topic.records.push(withBlock(0.8, 2), withBlock(0.6, 3));
  const { holder, channel } = instance(topic);
  await channel.start();
  t.is(holder.current().rulesVersion, 3);
  t.is(holder.current().thresholds.block, 0.6);
});

test('an empty log keeps the rules from the file', async (t) => {
  const { holder, channel } = instance(new MemoryTopic());
  await channel.start();
  t.deepEqual(holder.current(), base());
});

test('update bumps the version it finds after catching up with changes made elsewhere', async (t) => {
  const topic = new MemoryTopic();
  const a = instance(topic);
  const b = instance(topic);
  await Promise.all([a.channel.start(), b.channel.start()]);
  const first = await a.channel.update(withBlock(0.5, 42));
  t.is(first.rulesVersion, 2);
  t.is(a.holder.current(), first, 'applied on A at once');
  t.is(b.holder.current().rulesVersion, 1, "B has not read A's record yet");
  const second = await b.channel.update(withBlock(0.4));
  t.is(second.rulesVersion, 3, 'B caught up with version 2 before bumping');
  a.log.deliver();
  t.is(a.holder.current().rulesVersion, 3);
  t.is(a.holder.current().thresholds.block, 0.4);
});

test('concurrent updates on one instance get successive versions in log order', async (t) => {
  const topic = new MemoryTopic();
  const a = instance(topic);
  await a.channel.start();
  const results = await Promise.all([0.5, 0.4, 0.3].map((block) => a.channel.update(withBlock(block))));
  t.deepEqual(results.map((r) => r.rulesVersion), [2, 3, 4]);
  t.deepEqual(topic.records.map((r) => r.rulesVersion), [2, 3, 4]);
  t.is(a.holder.current().rulesVersion, 4);
});

test('records older than a change applied here are skipped: the rules never step back', async (t) => {
  const topic = new MemoryTopic();
  const a = instance(topic);
  const b = instance(topic);
  await Promise.all([a.channel.start(), b.channel.start()]);
  await b.channel.publish(withBlock(0.8, 2)); // position 0, not yet read by A
  await a.channel.publish(withBlock(0.7, 3)); // position 1, applied on A at once
  const seen: number[] = [];
  a.holder.onChange((r) => seen.push(r.rulesVersion));
  a.log.deliver();
  t.deepEqual(seen, [], 'A skips position 0 (older) and its own position 1');
  t.is(a.holder.current().rulesVersion, 3);
  b.log.deliver();
  t.is(b.holder.current().rulesVersion, 3, 'B ends where A is: the last record');
});

test('a failed append changes nothing and does not block the next change', async (t) => {
  const topic = new MemoryTopic();
  const a = instance(topic);
  await a.channel.start();
  const append = a.log.append.bind(a.log);
  a.log.append = async () => {
    throw new Error('broker down');
  };
  await t.throwsAsync(a.channel.update(withBlock(0.5)), { message: 'broker down' });
  t.is(a.holder.current().rulesVersion, 1);
  a.log.append = append;
  t.is((await a.channel.update(withBlock(0.5))).rulesVersion, 2);
});

test('embedded channel: publish replaces, update bumps, listeners hear both', async (t) => {
  const holder = new RulesHolder(base());
  const channel = embeddedRulesChannel(holder);
  const seen: number[] = [];
  holder.onChange((r) => seen.push(r.rulesVersion));
  await channel.start();
  t.is((await channel.update(withBlock(0.5, 77))).rulesVersion, 2);
  await channel.publish(withBlock(0.4, 10));
  t.is(channel.current().rulesVersion, 10);
  t.is((await channel.update(withBlock(0.3))).rulesVersion, 11);
  t.deepEqual(seen, [2, 10, 11]);
  await channel.close();
});
