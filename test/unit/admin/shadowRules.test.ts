/**
 * Shadow rules over the admin API (CONTRACT §8) on the embedded channel, and the shadow slot of
 * the rules channel on a log shared by two "instances": applied in log order, a stop keeps its
 * version, and live and shadow versions never collide.
 */
import test from 'ava';
import type { Rules } from '../../../src/domain/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { embeddedRulesChannel, LogRulesChannel } from '../../../src/app/rules/channel.ts';
import type { RulesLog, ShadowRecord } from '../../../src/transport/ports.ts';
import { countsOf, type ShadowCounts, type ShadowCountStore } from '../../../src/persistence/shadowCounts.ts';
import { build, rulesFromFile } from './helpers.ts';

type Json = Record<string, any>;

/** The store's part, in memory: field tables per version. */
class MemoryCounts implements ShadowCountStore {
  readonly tables = new Map<number, Map<string, number>>();
  readonly started: [number, number][] = [];
  async startShadowCounts(version: number, since: number): Promise<void> {
    this.started.push([version, since]);
    this.tables.set(version, new Map([['since', since]]));
  }
  async shadowCounts(version: number): Promise<ShadowCounts | null> {
    return countsOf(version, this.tables.get(version) ?? new Map());
  }
  add(version: number, field: string, n: number): void {
    const t = this.tables.get(version) ?? new Map<string, number>();
    t.set(field, (t.get(field) ?? 0) + n);
    this.tables.set(version, t);
  }
}

function shadowApp() {
  const holder = rulesFromFile();
  const counts = new MemoryCounts();
  const { app } = build({}, { rules: embeddedRulesChannel(holder, { counts: () => counts, now: () => 1_000 }) });
  return { app, holder, counts };
}

const candidate = (block = 0.5): Json => ({ ...JSON.parse(JSON.stringify(rulesFromFile().current())), thresholds: { block, challenge: block / 2 } });

test('PUT /rules/shadow runs a candidate under its own version; GET shows it; the live rules stay', async (t) => {
  const { app, holder, counts } = shadowApp();
  t.is((await app.inject({ method: 'GET', url: '/rules/shadow' })).statusCode, 404);
  t.is((await app.inject({ method: 'GET', url: '/rules/shadow/report' })).statusCode, 404);

  const put = await app.inject({ method: 'PUT', url: '/rules/shadow', payload: { ...candidate(0.5), rulesVersion: 77 } });
  t.is(put.statusCode, 200);
  t.is(put.json<Json>().rulesVersion, 2);
  t.deepEqual(put.json<Json>().thresholds, { block: 0.5, challenge: 0.25 });
  const got = await app.inject({ method: 'GET', url: '/rules/shadow' });
  t.deepEqual(got.json(), put.json());
  t.is(holder.current().rulesVersion, 1);
  t.deepEqual(counts.started, [[2, 1_000]]);

  // The report before anything was counted, then with counts.
  t.deepEqual((await app.inject({ method: 'GET', url: '/rules/shadow/report' })).json(), { shadowVersion: 2, since: 1_000, events: 0, agree: 0, disagreements: {} });
  counts.add(2, 'events', 5);
  counts.add(2, 'agree', 3);
  counts.add(2, 'ALLOW->BLOCK', 2);
  t.deepEqual((await app.inject({ method: 'GET', url: '/rules/shadow/report' })).json(), { shadowVersion: 2, since: 1_000, events: 5, agree: 3, disagreements: { 'ALLOW->BLOCK': 2 } });

  // Promotion: the shadow's body is a rules object PUT /rules takes; live versions go past the shadow's.
  const promoted = await app.inject({ method: 'PUT', url: '/rules', payload: got.json() });
  t.is(promoted.statusCode, 200);
  t.is(promoted.json<Json>().rulesVersion, 3);
});

test('PUT /rules/shadow: 400 naming the bad field, and nothing runs', async (t) => {
  const { app, counts } = shadowApp();
  const body = candidate();
  body.weights.shoeSize = 1;
  const res = await app.inject({ method: 'PUT', url: '/rules/shadow', payload: body });
  t.is(res.statusCode, 400);
  t.is(res.json<Json>().error.code, 'SCHEMA');
  t.regex(res.json<Json>().error.message, /^weights\.shoeSize: /);
  t.is((await app.inject({ method: 'GET', url: '/rules/shadow' })).statusCode, 404);
  t.deepEqual(counts.started, []);
});

test('DELETE /rules/shadow stops it; its report stays readable by version; the next shadow takes a new version', async (t) => {
  const { app, counts } = shadowApp();
  t.is((await app.inject({ method: 'DELETE', url: '/rules/shadow' })).statusCode, 404);
  await app.inject({ method: 'PUT', url: '/rules/shadow', payload: candidate() });
  counts.add(2, 'events', 1);
  counts.add(2, 'agree', 1);
  const del = await app.inject({ method: 'DELETE', url: '/rules/shadow' });
  t.is(del.statusCode, 200);
  t.is(del.json<Json>().rulesVersion, 2);
  t.is((await app.inject({ method: 'GET', url: '/rules/shadow' })).statusCode, 404);
  t.is((await app.inject({ method: 'GET', url: '/rules/shadow/report' })).statusCode, 404);
  t.deepEqual((await app.inject({ method: 'GET', url: '/rules/shadow/report?version=2' })).json(), { shadowVersion: 2, since: 1_000, events: 1, agree: 1, disagreements: {} });
  t.is((await app.inject({ method: 'GET', url: '/rules/shadow/report?version=9' })).statusCode, 404);
  t.is((await app.inject({ method: 'GET', url: '/rules/shadow/report?version=x' })).statusCode, 400);
  const again = await app.inject({ method: 'PUT', url: '/rules/shadow', payload: candidate(0.6) });
  t.is(again.json<Json>().rulesVersion, 3);
});

test('without shadow support the shadow routes answer 503', async (t) => {
  const holder = rulesFromFile();
  const { app } = build({}, { rules: { current: holder.current, update: async (r) => r } });
  for (const [method, url] of [['GET', '/rules/shadow'], ['DELETE', '/rules/shadow'], ['GET', '/rules/shadow/report']] as const) {
    t.is((await app.inject({ method, url })).statusCode, 503, `${method} ${url}`);
  }
  t.is((await app.inject({ method: 'PUT', url: '/rules/shadow', payload: candidate() })).statusCode, 503);
});

/** One log of live and shadow records, read by each follower at its own pace. */
type LogRecord = { live: Rules } | { shadow: ShadowRecord };
class SharedLog {
  readonly records: LogRecord[] = [];
}
class Follower implements RulesLog {
  private delivered = 0;
  private onRules: ((r: Rules, p: bigint) => void) | null = null;
  private onShadow: ((r: ShadowRecord, p: bigint) => void) | undefined;
  constructor(private readonly log: SharedLog) {}
  async start(onRules: (r: Rules, p: bigint) => void, onShadow?: (r: ShadowRecord, p: bigint) => void): Promise<void> {
    this.onRules = onRules;
    this.onShadow = onShadow;
    this.deliver();
  }
  deliver(): void {
    while (this.delivered < this.log.records.length) {
      const p = this.delivered++;
      const r = this.log.records[p]!;
      if ('live' in r) this.onRules?.(r.live, BigInt(p));
      else this.onShadow?.(r.shadow, BigInt(p));
    }
  }
  async catchUp(): Promise<void> {
    this.deliver();
  }
  async append(rules: Rules): Promise<bigint> {
    return BigInt(this.log.records.push({ live: rules }) - 1);
  }
  async appendShadow(record: ShadowRecord): Promise<bigint> {
    return BigInt(this.log.records.push({ shadow: record }) - 1);
  }
  async close(): Promise<void> {}
}

test('the shadow slot follows the log on every instance; a stop keeps its version from being taken again after a restart', async (t) => {
  const log = new SharedLog();
  const open = async () => {
    const follower = new Follower(log);
    const channel = new LogRulesChannel(new RulesHolder(rulesFromFile().current()), follower, silentLogger, { now: () => 5 });
    await channel.start();
    return { follower, channel };
  };
  const a = await open();
  const b = await open();
  const started = await a.channel.updateShadow({ ...rulesFromFile().current(), thresholds: { block: 0.4, challenge: 0.2 } });
  t.is(started.rules.rulesVersion, 2);
  t.is(b.channel.shadow(), null);
  b.follower.deliver();
  t.deepEqual(b.channel.shadow(), started);

  // b stops it; a learns it from the log.
  t.deepEqual(await b.channel.stopShadow(), started);
  a.follower.deliver();
  t.is(a.channel.shadow(), null);

  // A restarted instance reads the stop and gives the next shadow a new version, and so do live changes.
  const c = await open();
  t.is(c.channel.shadow(), null);
  t.is((await c.channel.updateShadow(rulesFromFile().current())).rules.rulesVersion, 3);
  t.is((await a.channel.update(rulesFromFile().current())).rulesVersion, 4);
  // A tombstone on the shadow key (a compaction tool, an operator) stops it too.
  log.records.push({ shadow: { rules: null, version: 0, at: 0 } });
  b.follower.deliver();
  t.is(b.channel.shadow(), null);
});
