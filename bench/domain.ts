/**
 * The pure hot path without I/O: what the engine does per event between the fetched record and
 * the bytes it writes (validate, decide, evolve, the journal envelope, the decision index entry,
 * the decision record),
 * over the bench's workload. Prints µs per event; `--cpu-prof` shows where it goes.
 *   node --import tsx bench/domain.ts [events] [users]
 */
import { generate } from '../src/loadgen/generator.ts';
import { DEFAULT_DOMAIN_CONFIG, decide, evolve, initialState, parseRecord, type Rules, type UserState } from '../src/domain/index.ts';
import { encodeEnvelope } from '../src/persistence/envelope.ts';
import { indexEntryOf } from '../src/persistence/decisionIndex.ts';
import { decisionRecord } from '../src/actors/outputRecords.ts';
import { shardOf } from '../src/domain/shardOf.ts';
import { readFileSync } from 'node:fs';

const events = Number(process.argv[2] ?? 100_000);
const users = Number(process.argv[3] ?? 5000);
const partitions = 12;
const TOPICS = { decisions: 'risk-decisions', aggregates: 'risk-aggregates', dlq: 'risk-events-dlq' };
const rules = JSON.parse(readFileSync('config/default-rules.json', 'utf8')) as Rules;
const config = { ...DEFAULT_DOMAIN_CONFIG, unknownTypes: 'other' as const };
const { events: generated } = generate({ users, events, fraudRatio: 0.02, seed: 7 });
const records = generated.map(({ event }, i) => ({
  topic: `${event.eventType}-events`,
  partition: shardOf(event.userId, partitions),
  offset: String(i),
  key: Buffer.from(event.userId),
  value: Buffer.from(JSON.stringify(event)),
  headers: {},
  timestamp: event.timestamp,
}));

function run(): number {
  const states = new Map<string, UserState>();
  const now = records.at(-1)!.timestamp + 1000;
  let bytes = 0;
  const start = process.cpuUsage();
  for (const rec of records) {
    const parsed = parseRecord(rec, config, { now, partitions });
    if (!parsed.ok) throw new Error(parsed.message);
    const e = parsed.event;
    const state = states.get(e.userId) ?? initialState(e.userId);
    const outcome = decide(state, e, { rules, config, now, shard: rec.partition, traceId: null });
    if (outcome.kind !== 'accepted') continue;
    const next = evolve(state, outcome.journal, config);
    states.set(e.userId, next);
    const entry = { key: `user:${e.userId}`, sequenceNumber: next.sequenceNumber, data: outcome.journal, createdAt: now };
    // The UTF-8 bytes of each text, as the stores and Kafka take them: counting them reads the
    // whole text, so a text built piecewise (a rope) pays here for the copy that flattens it, as
    // it would in the engine, rather than looking cheaper than it is.
    bytes += Buffer.byteLength(encodeEnvelope(entry.sequenceNumber, now, entry.data));
    bytes += Buffer.byteLength(indexEntryOf(entry)?.value ?? '');
    bytes += Buffer.byteLength(decisionRecord(TOPICS, outcome.decision!, null).value);
  }
  const used = process.cpuUsage(start);
  if (bytes === 0) throw new Error('nothing written');
  return (used.user + used.system) / records.length;
}

for (let i = 0; i < 4; i++) console.log(`pass ${i + 1}: ${run().toFixed(2)} µs of CPU per event (${records.length} events, ${users} users)`);
