/**
 * Scenario (g) of the bench: the caller-facing latency of CONTRACT §7 on one engine child.
 *
 *   warm-up   one POST /decide per client (?timeoutMs=30000), not measured: opens each client's
 *             keep-alive connection and starts the engine's decisions follower (on Kafka its
 *             consumer group joins on the first decide)
 *   decide    `clients` HTTP clients, each with one keep-alive connection of its own, offer `rate`
 *             POST /decide per second in total for `seconds`: request i is due at start + i/rate
 *             and goes to the first free client (DueQueue), a user's events one at a time in
 *             order; when no client is free it is sent late (counted, and measured from its due
 *             time too)
 *   explain   a few users get ~60 events each over POST /decide, one at a time per user (so that
 *             the journal holds them in the order sent); then GET /decisions/:eventId/explain of
 *             the event 50 before each user's last, one request at a time, round robin
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadEvent } from '../../src/loadgen/generator.ts';
import { percentile } from '../../src/loadgen/stats.ts';
import type { EngineChild } from './engineChild.ts';
import { summarizeProfile, type ProfileSummary } from './profile.ts';

/** Events before the explained one's successors end: it is the 51st from the end of its user's history. */
export const EXPLAIN_EVENTS_BACK = 50;

export interface Answer {
  status: number;
  body: string;
  /** From the call to the last byte of the answer's body. */
  ms: number;
}

/** One HTTP client: a single keep-alive connection, one request at a time. */
export class KeepAliveClient {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly origin: string) {}

  call(method: 'GET' | 'POST', path: string, body?: string, contentType = 'application/json'): Promise<Answer> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(body) };
      const req = request(`${this.origin}${path}`, { method, agent: this.#agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

export interface Stats {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  count: number;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

export function statsOf(values: readonly number[]): Stats {
  const sorted = Float64Array.from(values).sort();
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return { p50: r1(percentile(sorted, 0.5)), p99: r1(percentile(sorted, 0.99)), p999: r1(percentile(sorted, 0.999)), max: r1(sorted[sorted.length - 1] ?? NaN), mean: r1(mean), count: sorted.length };
}

export interface OfferedDecides {
  offeredRate: number;
  clients: number;
  requests: number;
  users: number;
  seconds: number;
  achievedRate: number;
  status: { '200': number; '202': number; other: number };
  otherSamples: string[];
  duplicates: number;
  decisions: Record<string, number>;
  requestMs: Stats;
  /** After the first `warmupSeconds` of the offered load (new users' actors recover first). */
  afterWarmup: { warmupSeconds: number; requestMs: Stats };
  /** From the time the request was due, not sent: what a caller behind a busy client waited. */
  fromDueMs: Stats;
  lateStarts: { over5ms: number; maxMs: number };
}

interface Due {
  due: number;
  userId: string;
  body: string;
}

/**
 * The requests of the offered load in due order, shared by the clients as a gateway's connection
 * pool shares its callers: a free client takes the earliest request not yet taken whose user has
 * none in flight (a user's events stay in order, one at a time), waiting for its due time.
 */
export class DueQueue {
  readonly #items: readonly Due[];
  readonly #taken: Uint8Array;
  #first = 0;
  readonly #busy = new Set<string>();
  #wake: (() => void)[] = [];

  constructor(items: readonly Due[]) {
    this.#items = items;
    this.#taken = new Uint8Array(items.length);
  }

  /** The next request for a free client, or null when every request was taken. */
  async take(): Promise<Due | null> {
    for (;;) {
      while (this.#first < this.#items.length && this.#taken[this.#first]) this.#first++;
      if (this.#first >= this.#items.length) return null;
      // Only users in flight are skipped, so the scan passes at most one item per client.
      for (let i = this.#first; i < this.#items.length; i++) {
        const item = this.#items[i]!;
        if (this.#taken[i] || this.#busy.has(item.userId)) continue;
        this.#taken[i] = 1;
        this.#busy.add(item.userId);
        return item;
      }
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  /** The user's request was answered: its next one may go. */
  done(userId: string): void {
    this.#busy.delete(userId);
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }
}

/**
 * Offers `events` as POST /decide at `rate` per second in total over `clients` clients (a
 * DueQueue); every answer counts, a 202 after the server's timeout as well as a 200.
 */
export async function offerDecides(
  origin: string,
  events: readonly LoadEvent[],
  options: { clients: number; rate: number; warmupEvents: readonly LoadEvent[]; warmupSeconds?: number },
): Promise<OfferedDecides & { warmupMs: number }> {
  const { clients, rate, warmupSeconds = 2 } = options;
  const queue = new DueQueue(events.map((e, i) => ({ due: (i * 1000) / rate, userId: e.userId, body: JSON.stringify(e) })));
  const conns = Array.from({ length: clients }, () => new KeepAliveClient(origin));
  const requestMs: number[] = [];
  const steadyMs: number[] = [];
  const fromDueMs: number[] = [];
  const status = { '200': 0, '202': 0, other: 0 };
  const otherSamples: string[] = [];
  const decisions: Record<string, number> = {};
  let duplicates = 0;
  let over5 = 0;
  let maxLate = 0;
  const other = (why: string) => {
    status.other++;
    if (otherSamples.length < 10) otherSamples.push(why);
  };
  let start = performance.now();
  let warmupMs = 0;
  try {
    // Not measured: opens each client's connection and starts the engine's decisions follower.
    await Promise.all(
      conns.map(async (conn, c) => {
        const e = options.warmupEvents[c % options.warmupEvents.length]!;
        const answer = await conn.call('POST', '/decide?timeoutMs=30000', JSON.stringify(e));
        if (answer.status !== 200) throw new Error(`warm-up POST /decide answered ${answer.status}: ${answer.body.slice(0, 300)}`);
      }),
    );
    warmupMs = Math.round(performance.now() - start);
    start = performance.now() + 20;
    await Promise.all(
      conns.map(async (conn) => {
        for (let item = await queue.take(); item; item = await queue.take()) {
          const wait = start + item.due - performance.now();
          if (wait > 0) await sleep(wait);
          const sentAt = performance.now();
          const late = sentAt - (start + item.due);
          if (late > 5) over5++;
          maxLate = Math.max(maxLate, late);
          let answer: Answer;
          try {
            answer = await conn.call('POST', '/decide', item.body);
          } catch (err) {
            other(`error: ${(err as Error).message}`);
            continue;
          } finally {
            queue.done(item.userId);
          }
          requestMs.push(answer.ms);
          fromDueMs.push(answer.ms + Math.max(0, late));
          if (item.due >= warmupSeconds * 1000) steadyMs.push(answer.ms);
          if (answer.status === 200) {
            status['200']++;
            const d = JSON.parse(answer.body) as { decision?: string; duplicate?: boolean };
            decisions[d.decision ?? '?'] = (decisions[d.decision ?? '?'] ?? 0) + 1;
            if (d.duplicate) duplicates++;
          } else if (answer.status === 202) status['202']++;
          else other(`${answer.status}: ${answer.body.slice(0, 200)}`);
        }
      }),
    );
  } finally {
    for (const conn of conns) conn.close();
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    warmupMs,
    offeredRate: rate,
    clients,
    requests: events.length,
    users: new Set(events.map((e) => e.userId)).size,
    seconds: r1(seconds),
    achievedRate: Math.round(events.length / seconds),
    status,
    otherSamples,
    duplicates,
    decisions,
    requestMs: statsOf(requestMs),
    afterWarmup: { warmupSeconds, requestMs: statsOf(steadyMs) },
    fromDueMs: statsOf(fromDueMs),
    lateStarts: { over5ms: over5, maxMs: r1(maxLate) },
  };
}

export interface ExplainResult {
  users: number;
  eventsPerUser: number;
  eventsBack: number;
  requests: number;
  status: Record<string, number>;
  otherSamples: string[];
  reproduced: number;
  /** stateBefore.sequenceNumber of the explained events (their place in their user's journal). */
  journalPositions: number[];
  requestMs: Stats;
  preparedInMs: number;
}

/**
 * Gives each user of `histories` its events by POST /decide, one at a time per user (not
 * measured), then times `requests` explains of the event EXPLAIN_EVENTS_BACK before each user's
 * last, one at a time.
 */
export async function measureExplain(origin: string, histories: ReadonlyMap<string, readonly LoadEvent[]>, requests: number): Promise<ExplainResult> {
  const conn = new KeepAliveClient(origin);
  try {
    const prepared = performance.now();
    const all = [...histories.values()];
    // One POST /decide at a time per user: each event type has its own input topic, so events
    // posted together could be journaled out of order and "50 back" would not hold.
    await Promise.all(
      all.map(async (h) => {
        const c = new KeepAliveClient(origin);
        try {
          for (const e of h) {
            const answer = await c.call('POST', '/decide?timeoutMs=30000', JSON.stringify(e));
            if (answer.status !== 200) throw new Error(`explain: POST /decide of a history event answered ${answer.status}: ${answer.body.slice(0, 300)}`);
          }
        } finally {
          c.close();
        }
      }),
    );
    const targets = all.map((h) => h[h.length - 1 - EXPLAIN_EVENTS_BACK]!);
    const preparedInMs = Math.round(performance.now() - prepared);
    const times: number[] = [];
    const status: Record<string, number> = {};
    const otherSamples: string[] = [];
    const positions = new Map<string, number>();
    let reproduced = 0;
    for (let i = 0; i < requests; i++) {
      const t = targets[i % targets.length]!;
      const answer = await conn.call('GET', `/decisions/${encodeURIComponent(t.eventId)}/explain?userId=${encodeURIComponent(t.userId)}`);
      times.push(answer.ms);
      status[answer.status] = (status[answer.status] ?? 0) + 1;
      if (answer.status === 200) {
        const x = JSON.parse(answer.body) as { reproduced?: boolean; stateBefore?: { sequenceNumber?: number } };
        if (x.reproduced) reproduced++;
        if (typeof x.stateBefore?.sequenceNumber === 'number') positions.set(t.eventId, x.stateBefore.sequenceNumber);
      } else if (otherSamples.length < 10) otherSamples.push(`${answer.status}: ${answer.body.slice(0, 200)}`);
    }
    return {
      users: all.length,
      eventsPerUser: Math.round(all.reduce((n, h) => n + h.length, 0) / Math.max(1, all.length)),
      eventsBack: EXPLAIN_EVENTS_BACK,
      requests,
      status,
      otherSamples,
      reproduced,
      journalPositions: [...positions.values()],
      requestMs: statsOf(times),
      preparedInMs,
    };
  } finally {
    conn.close();
  }
}

export interface DecideRunOptions {
  clients: number;
  rate: number;
  /** The offered load, in production order (mixed users). */
  events: readonly LoadEvent[];
  /** One event per client, of users not in `events`. */
  warmupEvents: readonly LoadEvent[];
  /** userId -> its events in order, each user with more than EXPLAIN_EVENTS_BACK + 1. */
  histories: ReadonlyMap<string, readonly LoadEvent[]>;
  explainRequests: number;
  say: (msg: string) => void;
  label: string;
  /** Run the decide phase under the V8 CPU profiler, writing the profile here. */
  profileFile?: string;
}

/** The whole of (g) on one started engine child, which it stops; engine CPU over the decide phase. */
export async function decideScenario(child: EngineChild, o: DecideRunOptions) {
  try {
    await child.ready();
    o.say(`${o.label}: ${o.events.length} POST /decide at ${o.rate}/s by ${o.clients} clients, after one unmeasured POST /decide per client`);
    if (o.profileFile) await child.startProfile();
    const cpu0 = child.procStats();
    const decide = await offerDecides(child.adminUrl, o.events, { clients: o.clients, rate: o.rate, warmupEvents: o.warmupEvents });
    const cpu1 = child.procStats();
    let profile: ProfileSummary | null = null;
    if (o.profileFile) {
      await child.stopProfile(o.profileFile);
      profile = summarizeProfile(o.profileFile);
      o.say(`${o.label}: profile written to ${o.profileFile}`);
    }
    o.say(`${o.label}: POST /decide p50 ${decide.requestMs.p50} ms p99 ${decide.requestMs.p99} ms p99.9 ${decide.requestMs.p999} ms; 200: ${decide.status['200']}, 202: ${decide.status['202']}, other: ${decide.status.other}`);
    const explain = await measureExplain(child.adminUrl, o.histories, o.explainRequests);
    o.say(`${o.label}: explain ${EXPLAIN_EVENTS_BACK} events back p50 ${explain.requestMs.p50} ms p99 ${explain.requestMs.p99} ms (${JSON.stringify(explain.status)})`);
    const stopped = await child.stop();
    return {
      decide: { ...decide, engineCpuMsPerRequest: cpu0 && cpu1 ? r1(((cpu1.cpuSeconds - cpu0.cpuSeconds) * 1000) / o.events.length) : null },
      explain,
      ...(profile ? { profile } : {}),
      peakRssMB: cpu1 ? r1(cpu1.peakRssBytes / 2 ** 20) : null,
      exit: stopped,
      engineWarnings: child.logLines.length,
      engineLogSample: child.logLines.slice(0, 5),
    };
  } finally {
    await child.stop(10_000);
  }
}

export type DecideScenarioResult = Awaited<ReturnType<typeof decideScenario>>;
