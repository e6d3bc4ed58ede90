/**
 * Golden outputs of the per-event hot path: a generated workload (goldenWorkload.ts) goes through
 * what the engine does per record (validate, decide, evolve, the journal envelope, the decision
 * index entry, the decision and aggregate records, idle closes, snapshots) and the text of every
 * output is compared, as a SHA-256 per stream, with the outputs recorded before the hot path was
 * made faster. Any change of a byte anywhere fails it: the hot path may get cheaper, never
 * different. Explanations (a decision decided again from the state before it) are pinned too.
 *
 * The golden file is written only on purpose, when an output is meant to change:
 *   GOLDEN_WRITE=1 npx ava test/unit/domain/hotPathGolden.test.ts
 * GOLDEN_DUMP=<dir> writes each stream's lines there, to diff two versions of the code.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { closeIdleWindows, decide, evolve, initialState, parseRecord, upcastState, windowsEmitted, type JournalEvent, type Rules, type UserState } from '../../../src/domain/index.ts';
import { explainDecision } from '../../../src/domain/explain.ts';
import { toUserView } from '../../../src/domain/view.ts';
import { encodeEnvelope } from '../../../src/persistence/envelope.ts';
import { indexEntryOf } from '../../../src/persistence/decisionIndex.ts';
import { aggregateRecord, decisionRecord, traceIdOf } from '../../../src/actors/outputRecords.ts';
import { config, defaultRules } from './helpers.ts';
import { PARTITIONS, workload } from './goldenWorkload.ts';

const GOLDEN = new URL('./golden/hot-path.json', import.meta.url);
const STEPS = 12_000;
const TOPICS = { decisions: 'risk-decisions', aggregates: 'risk-aggregates', dlq: 'risk-events-dlq' };

/** The rules change halfway, as after a PUT /rules: another model version and other weights. */
const rulesV2: Rules = {
  ...defaultRules,
  rulesVersion: 2,
  modelVersion: 'logistic-v2',
  bias: -3.2,
  weights: Object.fromEntries(Object.entries(defaultRules.weights).map(([f, w], i) => [f, i % 4 === 0 ? 0 : w * (1 + (i % 3) / 4)])),
};
/** A shadow set beside the live rules for some records (CONTRACT §8). */
const shadowRules: Rules = {
  ...defaultRules,
  rulesVersion: 9,
  modelVersion: 'shadow',
  bias: -2,
  weights: { ...defaultRules.weights, velocity1m: 5, newCountry: 0, unusualHour: 2.5 },
  hardRules: [{ id: 'any-new-device-transfer', when: { eventType: 'transfer', newDevice: true }, decision: 'CHALLENGE' }],
};

type Streams = Record<string, string[]>;

function run(): Streams {
  const streams: Streams = { rejected: [], outcomes: [], decisions: [], aggregates: [], envelopes: [], index: [], explain: [], snapshots: [], states: [], views: [] };
  const states = new Map<string, UserState>();
  const stateOf = (userId: string): UserState => states.get(userId) ?? initialState(userId);
  const journal = (userId: string, j: JournalEvent, at: number): UserState => {
    const next = evolve(stateOf(userId), j, config);
    states.set(userId, next);
    const entry = { key: `user:${userId}`, sequenceNumber: next.sequenceNumber, data: j, createdAt: at };
    streams.envelopes!.push(encodeEnvelope(entry.sequenceNumber, at, j));
    const indexed = indexEntryOf(entry);
    if (indexed) streams.index!.push(`${indexed.eventId} ${indexed.userId} ${indexed.value}`);
    // Snapshots are envelopes of the whole state: a snapshot now and then pins the state's stored form.
    if (next.sequenceNumber % 25 === 0) streams.snapshots!.push(encodeEnvelope(next.sequenceNumber, at, next));
    return next;
  };

  const steps = workload(STEPS);
  steps.forEach((step, i) => {
    if (step.kind === 'idle') {
      const closing = closeIdleWindows(stateOf(step.userId), step.now, config);
      if (closing === null) return;
      if (closing.journal) journal(step.userId, closing.journal, step.now);
      for (const a of closing.aggregates) streams.aggregates!.push(aggregateRecord(TOPICS, a).value);
      const emitted = windowsEmitted(stateOf(step.userId), closing.aggregates.map((a) => a.windowStart), step.now);
      if (emitted) journal(step.userId, emitted, step.now);
      return;
    }
    const parsed = parseRecord({ ...step, value: step.value }, config, { now: step.now, partitions: PARTITIONS });
    if (!parsed.ok) {
      // An INVALID_JSON message goes on with the runtime's JSON.parse text, which differs
      // between Node versions (V8's wording): only the engine's own part is pinned.
      streams.rejected!.push(parsed.code === 'INVALID_JSON' ? `${i} ${parsed.code}` : `${i} ${parsed.code} ${parsed.message}`);
      return;
    }
    const e = parsed.event;
    const rules = i < STEPS / 2 ? defaultRules : rulesV2;
    const ctx = { rules, shadow: step.shadow ? shadowRules : null, config, now: step.now, shard: step.partition, traceId: traceIdOf(step.traceparent ?? undefined) };
    const before = stateOf(e.userId);
    const outcome = decide(before, e, ctx);
    streams.outcomes!.push(`${i} ${outcome.kind}`);
    if (i % 10 === 0) {
      // A state recovered from its snapshot decides the same: nothing may hang on the live objects.
      const recovered = upcastState(JSON.parse(JSON.stringify(before)));
      const again = decide(recovered, e, ctx);
      if (JSON.stringify(again) !== JSON.stringify(outcome)) throw new Error(`step ${i}: a recovered state decides otherwise`);
    }
    if (outcome.kind === 'duplicate') return;
    if (outcome.decision) streams.decisions!.push(decisionRecord(TOPICS, outcome.decision, step.traceparent).value);
    for (const a of outcome.aggregates) streams.aggregates!.push(aggregateRecord(TOPICS, a).value);
    if (outcome.kind !== 'accepted') return;
    journal(e.userId, outcome.journal, step.now);
    if (i % 5 === 0) streams.explain!.push(JSON.stringify(explainDecision(before, outcome.journal, rules, config)));
  });
  for (const [, state] of [...states].sort(([a], [b]) => (a < b ? -1 : 1))) {
    streams.states!.push(JSON.stringify(state));
    streams.views!.push(JSON.stringify(toUserView(state, config.history, config.defaultCurrency)));
  }
  return streams;
}

const digest = (lines: readonly string[]): string => createHash('sha256').update(lines.join('\n')).digest('hex');

test('the hot path gives the recorded outputs, byte for byte', (t) => {
  const streams = run();
  const actual = Object.fromEntries(Object.entries(streams).map(([name, lines]) => [name, { lines: lines.length, sha256: digest(lines) }]));
  if (process.env['GOLDEN_DUMP']) {
    mkdirSync(process.env['GOLDEN_DUMP'], { recursive: true });
    for (const [name, lines] of Object.entries(streams)) writeFileSync(`${process.env['GOLDEN_DUMP']}/${name}.txt`, `${lines.join('\n')}\n`);
  }
  if (process.env['GOLDEN_WRITE'] === '1') {
    writeFileSync(GOLDEN, `${JSON.stringify({ steps: STEPS, streams: actual }, null, 2)}\n`);
    t.log('golden outputs written');
  }
  const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as { steps: number; streams: typeof actual };
  t.is(golden.steps, STEPS);
  t.deepEqual(actual, golden.streams);
});

test('the workload reaches the corners it is meant to', (t) => {
  const streams = run();
  const count = (name: string, re: RegExp) => streams[name]!.filter((l) => re.test(l)).length;
  t.true(count('outcomes', / redelivered$/) > 20, 'redeliveries');
  t.true(count('outcomes', / duplicate$/) > 20, 'duplicates');
  t.true(count('rejected', /./) > 20, 'rejected records');
  t.true(count('decisions', /"decision":"BLOCK"/) > 20, 'BLOCKs');
  t.true(count('decisions', /"decision":"CHALLENGE"/) > 20, 'CHALLENGEs');
  t.true(count('decisions', /"shadow":/) > 100, 'shadow verdicts');
  t.true(count('decisions', /"traceId":"/) > 100, 'trace ids');
  t.true(count('decisions', /ESCALATED/) > 0, 'escalations');
  t.true(count('envelopes', /"type":"windowsClosed"/) > 5, 'idle closes');
  t.true(count('envelopes', /"window":null/) > 5, 'events too late for their window');
  t.true(count('envelopes', /"closed":\[\{/) > 100, 'windows closed by events');
  t.true(count('states', /\\"u\\":/) > 0, 'a currency beyond the history table');
  // The string table (255) fills up and is renumbered: a history of 50 entries never holds more.
  t.true(count('envelopes', /"deviceId":"dev-/) > 600, 'ever new devices');
  t.true(count('envelopes', /"eventType":"odd-/) > 100, 'unknown event types kept in the string table');
  t.true(count('states', /\\"a\\":/) > 0, 'an amount beyond 2^53 minor units');
  t.true(count('states', /\\"o\\":/) > 0, 'an offset beyond 2^53');
  t.true(count('explain', /"reproduced":true/) > 500, 'explanations reproduced');
});
