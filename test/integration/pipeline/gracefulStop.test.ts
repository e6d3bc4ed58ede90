/**
 * A graceful stop while events flow commits what the engine has taken before it leaves its group:
 * with instance transactions (KIP-447) the coordinator refuses offsets of a member that left, so
 * work committed after the leave would be aborted and judged again by the next owner. The next
 * engine must find nothing journaled and uncommitted (no redelivery), and every event has one
 * decision. Runs in both kinds of transactions.
 */
import test from 'ava';
import { groupCaughtUp, kafkaClient, parseValues, readToEnd, startEngine, testSettings, topicMessages, uniqueId } from '../helpers/harness.ts';
import { generate, type GenEvent } from '../helpers/workload.ts';

for (const transactions of ['instance', 'shard'] as const) {
  test(`kafka.transactions ${transactions}: a stop while events flow commits what was taken; the next engine judges nothing twice`, async (t) => {
    const id = uniqueId(`stop-${transactions}`);
    const settings = (name: string) => testSettings(id, { KAFKA_TRANSACTIONS: transactions, INSTANCE_ID: `${id}-${name}` });
    const first = settings('a');
    const topicOf = (e: GenEvent) => first.kafka.topics.inputs[['login', 'payment', 'transfer'].indexOf(e.eventType)]!;
    const { events } = generate(id, 200, 6000, 5);
    const kafka = kafkaClient();
    const a = await startEngine(first);
    const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await producer.connect();
    t.teardown(() => producer.disconnect());
    const registry = a.engine.metrics.registry;
    const decided = async () => (await registry.getSingleMetric('risk_decisions_total')!.get()).values.reduce((n, v) => n + v.value, 0);
    // Events keep coming while the engine stops: it stops once it has decided some of them.
    let sending = true;
    const sender = (async () => {
      for (let i = 0; i < events.length && sending; i += 200) await producer.sendBatch({ acks: -1, topicMessages: topicMessages(events.slice(i, i + 200), topicOf) });
    })();
    while ((await decided()) < 1000) await new Promise((resolve) => setTimeout(resolve, 20));
    await a.stop();
    sending = false;
    await sender;
    const sent = (await readToEnd(kafka, first.kafka.topics.inputs[0]!)).length + (await readToEnd(kafka, first.kafka.topics.inputs[1]!)).length + (await readToEnd(kafka, first.kafka.topics.inputs[2]!)).length;

    const b = await startEngine(settings('b'));
    t.teardown(() => b.stop());
    await groupCaughtUp(kafka, id, first.kafka.topics.inputs);
    const decisions = parseValues<{ eventId: string }>(await readToEnd(kafka, first.kafka.topics.decisions));
    t.is(decisions.length, sent, 'one decision per event sent');
    t.is(new Set(decisions.map((d) => d.eventId)).size, sent);
    const redelivered = (await b.engine.metrics.registry.getSingleMetric('risk_redelivered_events_total')!.get()).values[0]?.value ?? 0;
    t.is(redelivered, 0, 'nothing the first engine journaled was left uncommitted');
  });
}
