/**
 * POST /decide's service over fakes: a caller is answered by the decisions its own instance
 * commits, without waiting for the decisions feed.
 */
import test from 'ava';
import { DecisionService } from '../../../../src/app/decisions/service.ts';
import { domainConfigOf, loadSettings } from '../../../../src/config/settings.ts';
import { RulesHolder } from '../../../../src/app/rules.ts';
import { silentLogger } from '../../../../src/log.ts';
import type { DecisionFeed, OutputRecord } from '../../../../src/transport/ports.ts';
import { MemoryJournal } from '../../helpers/MemoryJournal.ts';

const settings = loadSettings({ CONFIG_FILE: 'config/test.json', LOG_LEVEL: 'silent' });
const decisionOf = (eventId: string, userId: string) => ({ eventId, userId, eventType: 'payment', decision: 'ALLOW', riskScore: 0.1, reasons: [], modelVersion: 'm', rulesVersion: 1, eventTimestamp: 1, decidedAt: 2, shard: 0, traceId: null });

/** A feed that starts and never delivers a record. */
const silentFeed: DecisionFeed = { start: async () => {}, onRecord: () => () => {}, close: async () => {} };

function service(onSend: (records: readonly OutputRecord[]) => void) {
  const store = Object.assign(new MemoryJournal(), { decisionsOf: async () => [], snapshotAtOrBefore: async () => null, saveRulesVersion: async () => true, rulesVersion: async () => null });
  return new DecisionService({
    store,
    ingest: { send: async (records) => onSend(records), close: async () => {} },
    feed: silentFeed,
    domain: domainConfigOf(settings),
    rules: RulesHolder.fromFile(settings.rulesFile).current,
    log: silentLogger,
  });
}

const event = (eventId: string, userId: string): OutputRecord => ({ topic: 'payment-events', key: userId, value: JSON.stringify({ eventId, userId }) });
const decisionRecord = (eventId: string, userId: string): OutputRecord => ({ topic: settings.kafka.topics.decisions, key: userId, value: JSON.stringify(decisionOf(eventId, userId)) });

test('a decision committed by a shard of this instance answers its caller, the feed silent', async (t) => {
  const decisions = service((records) => {
    // The shard judges and commits after the event was produced.
    setImmediate(() => decisions.committed([decisionRecord('other', 'u-1'), decisionRecord('e-1', 'u-2'), ...records.map(() => decisionRecord('e-1', 'u-1'))]));
  });
  t.false(decisions.waiting);
  const result = await decisions.decide(event('e-1', 'u-1'), { userId: 'u-1', eventId: 'e-1' }, 10_000);
  t.deepEqual(result, { status: 'decided', decision: decisionOf('e-1', 'u-1') as never, duplicate: false });
  t.false(decisions.waiting, 'nobody waits any more');
});

test('committed decisions of other users and events, or not JSON, leave a caller waiting', async (t) => {
  const decisions = service(() => {
    setImmediate(() => decisions.committed([decisionRecord('e-1', 'u-2'), decisionRecord('e-2', 'u-1'), { topic: settings.kafka.topics.decisions, key: 'u-1', value: '{' }, { topic: settings.kafka.topics.decisions, key: null, value: '{}' }]));
  });
  const result = await decisions.decide(event('e-1', 'u-1'), { userId: 'u-1', eventId: 'e-1' }, 50);
  t.deepEqual(result, { status: 'pending', eventId: 'e-1' });
});
