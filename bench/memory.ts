/**
 * `npm run bench:memory`: heap bytes per live user actor with a full history, at 100,000 live
 * actors, in one process and without Kafka, Redis or NATS.
 *
 *   users    the deterministic load generator plans `--actors` users with ~`--events-per-user`
 *            events each (spread 0: every ordinary user gets the same count, so that all end with
 *            a full history of 50 events and 50 decisions); users are built one at a time, never
 *            holding more than one user's events
 *   state    each event is validated by `parseEventJson`, given a Kafka source (the input topic of
 *            its type, the user's partition, a running offset) and judged and applied with `decide`
 *            and `evolve` (default rules, DEFAULT_DOMAIN_CONFIG); the event time is the processing
 *            time, and the idle-close timer fires (`closeIdleWindows`) before an event that comes
 *            after it, as in live traffic
 *   actors   `--feed snapshot` (default): the state is saved as a snapshot in a store that hands it
 *            over once (the stores' JSON envelope) and keeps nothing, then the shard's ShardUsers
 *            (as ShardSupervisor has one per shard) spawns the user actor under the shard's parent
 *            in a nact system; asking
 *            its `view` makes it recover (JSON.parse + upcastState, as from Redis or LMDB) and
 *            proves it is live. `--feed events` (slower, for smaller runs): the user actor starts
 *            empty and gets its events as `judge` messages (and `closeIdle` when its timer is due),
 *            journalling through the same store, which drops the writes
 *   baseline bare nact actors with a trivial state (the actor shell), and user actors
 *            without history (initialState), up to 20,000 of each, each kind in its own system,
 *            stopped before the next measurement
 *   memory   heapUsed (and RSS) after two forced GCs before the first actor and at a few counts of
 *            live actors; (after - before) / live actors
 *
 * Writes bench/results/memory-latest.json and bench/results/memory-<date>.json.
 *
 *   npm run bench:memory [-- --actors 100000 --events-per-user 56 --feed snapshot|events --checkpoints 10000,50000]
 *
 * `--heap-snapshots <dir>` also writes a V8 heap snapshot at each checkpoint (after the GCs,
 * before the next actor; `<dir>/memory-<live actors>.heapsnapshot`): two of them, given to
 * `node bench/heapDiff.ts`, show what the actors between them hold, per actor.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { Command, InvalidArgumentError } from 'commander';
import nact from 'nact';
import { ask } from '../src/actors/reply.ts';
import { ShardUsers, type LiveUser } from '../src/actors/ShardUsers.ts';
import { persistenceKey } from '../src/actors/recoverUser.ts';
import { actorName, type UserActorDeps, type UserRound, type UserMsg } from '../src/actors/UserActor.ts';
import { loadSettings } from '../src/config/settings.ts';
import {
  closeIdleWindows,
  decide,
  evolve,
  initialState,
  nextTimerAt,
  parseEventJson,
  validateRules,
  windowsEmitted,
  DEFAULT_DOMAIN_CONFIG,
  type Outcome,
  type RiskEvent,
  type UserState,
  type UserView,
} from '../src/domain/index.ts';
import { createLogger } from '../src/log.ts';
import { integerArg, numberArg } from '../src/loadgen/cliOptions.ts';
import { planLoad, userTimeline, type LoadPlan, type UserPlan } from '../src/loadgen/generator.ts';
import { topicForType } from '../src/loadgen/sinks.ts';
import { percentile } from '../src/loadgen/stats.ts';
import { decodeEnvelope, encodeEnvelope } from '../src/persistence/envelope.ts';
import type { Fence, JournalEntry, JournalStore, Snapshot } from '../src/persistence/JournalStore.ts';
import { shardOf } from '../src/transport/shardOf.ts';

type Feed = 'snapshot' | 'events';

interface Args {
  actors: number;
  eventsPerUser: number;
  feed: Feed;
  checkpoints?: number[];
  baselineActors?: number;
  fraudRatio: number;
  seed: number;
  idPrefix?: string;
  batch: number;
  heapSnapshots?: string;
}

const countList = (value: string): number[] => {
  const counts = value.split(',').map((s) => integerArg(1)(s.trim()));
  return [...new Set(counts)].sort((a, b) => a - b);
};

const args = new Command('bench:memory')
  .option('--actors <n>', 'live user actors at the end', integerArg(1, 10_000_000), 100_000)
  .option('--events-per-user <n>', 'events per user (the history keeps the last 50 events and 50 decisions)', integerArg(1, 100_000), 56)
  .option('--feed <how>', 'snapshot: build the state with the domain, recover the actor from it; events: send the events through the actor', (v: string): Feed => {
    if (v !== 'snapshot' && v !== 'events') throw new InvalidArgumentError('expects snapshot or events');
    return v;
  }, 'snapshot' as Feed)
  .option('--checkpoints <counts>', 'live-actor counts to measure at besides --actors, comma-separated (default: 10% and 50% of --actors)', countList)
  .option('--baseline-actors <n>', 'actors of each baseline (default: --actors, at most 20,000: the figure is flat by then)', integerArg(1, 10_000_000))
  .option('--fraud-ratio <r>', 'share of fraud users', numberArg(0, 1), 0.02)
  .option('--seed <n>', 'generator seed', integerArg(0, 0xffffffff), 1)
  .option('--id-prefix <p>', "prefix of user ids (the generator's default: s<seed>-)")
  .option('--batch <n>', 'users brought up before awaiting their views (--feed snapshot)', integerArg(1, 10_000), 100)
  .option('--heap-snapshots <dir>', 'write a heap snapshot at each checkpoint into this directory (slow, and large: use with --actors 20000 or fewer)')
  .parse(process.argv)
  .opts<Args>();

const gc = globalThis.gc;
if (!gc) {
  process.stderr.write('bench:memory needs a forced GC: run it as `node --expose-gc --import tsx bench/memory.ts` (npm run bench:memory)\n');
  process.exit(2);
}

const RESULTS = 'bench/results';
const benchStarted = performance.now();
const elapsed = () => (performance.now() - benchStarted) / 1000;
const say = (msg: string) => process.stderr.write(`[bench:memory ${elapsed().toFixed(0).padStart(4)} s] ${msg}\n`);
const r = (x: number, digits = 1) => Number(x.toFixed(digits));
const MB = 2 ** 20;

const settings = loadSettings({});
const PARTITIONS = settings.kafka.partitions;
const INPUTS = settings.kafka.topics.inputs;
const RULES_FILE = 'config/default-rules.json';
const checkedRules = validateRules(JSON.parse(readFileSync(RULES_FILE, 'utf8')));
if (!checkedRules.ok) throw new Error(`${RULES_FILE}: ${checkedRules.field}: ${checkedRules.message}`);
const rules = checkedRules.rules;
const domain = DEFAULT_DOMAIN_CONFIG;
const log = createLogger('warn', { component: 'bench-memory' });

// ---- the store -----------------------------------------------------------------------------

/**
 * A JournalStore that keeps nothing, so that its memory is not counted: a snapshot is stored as
 * the stores' JSON envelope until the actor's recovery reads it once (then it is gone), journal
 * writes are counted and dropped. With `holdSnapshots` off, snapshots the actors take are dropped too.
 */
class HandOverStore implements JournalStore {
  readonly #snapshots = new Map<string, string>();
  readonly fencedWrites = 0;
  appended = 0;
  snapshotsDropped = 0;
  /** Bytes of the state (its JSON, without the envelope) of the last snapshot saved. */
  lastStateBytes = 0;

  constructor(private readonly holdSnapshots: boolean) {}

  /** Snapshots saved and not yet read. */
  get held(): number {
    return this.#snapshots.size;
  }

  async append(entries: readonly JournalEntry[], _fence: Fence): Promise<void> {
    this.appended += entries.length;
  }

  async readAfter(_key: string, _afterSequence: number): Promise<JournalEntry[]> {
    return [];
  }

  async latestSnapshot(key: string): Promise<Snapshot | null> {
    const stored = this.#snapshots.get(key);
    if (stored === undefined) return null;
    this.#snapshots.delete(key);
    const envelope = decodeEnvelope(stored);
    return { key, sequenceNumber: envelope.seq, data: envelope.data, createdAt: envelope.at };
  }

  async saveSnapshot(snapshot: Snapshot, _fence: Fence): Promise<void> {
    const stored = encodeEnvelope(snapshot.sequenceNumber, snapshot.createdAt, snapshot.data);
    // The envelope is `{"v":1,"seq":..,"at":..,"data":<state>}`: its length less that of one with data null, plus "null".
    this.lastStateBytes = Buffer.byteLength(stored) - Buffer.byteLength(encodeEnvelope(snapshot.sequenceNumber, snapshot.createdAt, null)) + 4;
    if (!this.holdSnapshots) {
      this.snapshotsDropped++;
      return;
    }
    this.#snapshots.set(snapshot.key, stored);
  }

  async claimShard(fence: Fence): Promise<number> {
    return fence.epoch;
  }

  async nextEpoch(_shard: number): Promise<number> {
    return 1;
  }

  isHealthy(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}

// ---- a nact system like the engine's: one parent per shard, its ShardUsers -----------------------

const EPOCH = 1;

/** The actor shell: a bare nact actor with a trivial state that answers `view` with it. */
const shellBehaviour = (state: number, msg: { reply: { resolve(v: unknown): void } }) => {
  msg.reply.resolve(state);
  return state;
};

class System {
  readonly store: HandOverStore;
  readonly root: nact.Ref<unknown>;
  /** Per shard: its parent actor, its ShardUsers (as ShardSupervisor has them), and the shells' bookkeeping like theirs. */
  readonly shards: { ref: nact.Ref<unknown>; users: ShardUsers; shells: Map<string, LiveUser>; shellStopped: (state: unknown, ctx: { name: string; self: unknown }) => void }[] = [];
  /** The clock of the actors: processing time, set by the feed (simulated: event time). */
  now = 0;
  crashes: unknown[] = [];
  readonly onCrash = (_msg: unknown, err: unknown, ctx: { stop: symbol }): symbol => {
    this.crashes.push(err);
    return ctx.stop;
  };

  constructor(holdSnapshots: boolean) {
    this.store = new HandOverStore(holdSnapshots);
    this.root = nact.start() as nact.Ref<unknown>;
    const clock = () => this.now;
    for (let shard = 0; shard < PARTITIONS; shard++) {
      const ref = nact.spawn(this.root, (state: unknown) => state, `shard-${shard}-${EPOCH}`) as nact.Ref<unknown>;
      const actor: UserActorDeps = { shard, fence: () => ({ shard, epoch: EPOCH }), rules: () => rules, domain, store: this.store, clock };
      const users = new ShardUsers({
        parent: ref,
        actor,
        onCrash: this.onCrash as never,
        supervision: { log, clock, random: Math.random, sleep: async () => {} },
        timeoutMs: 60_000,
        log,
        shard,
        onPassivated: () => {},
      });
      const shells = new Map<string, LiveUser>();
      const shellStopped = (_state: unknown, ctx: { name: string; self: unknown }) => {
        const userId = Buffer.from(ctx.name.slice(2), 'base64url').toString('utf8');
        if (shells.get(userId)?.ref === ctx.self) shells.delete(userId);
      };
      this.shards.push({ ref, users, shells, shellStopped });
    }
  }

  /** The user's actor, spawned by its shard's ShardUsers (so that their bookkeeping is in the figure). */
  addUser(userId: string): nact.Ref<UserMsg> {
    return this.shards[shardOf(userId, PARTITIONS)]!.users.touch(userId).ref;
  }

  /** A bare nact actor under the user's shard, with the same bookkeeping as ShardUsers keeps. */
  addShell(userId: string): nact.Ref<UserMsg> {
    const shard = this.shards[shardOf(userId, PARTITIONS)]!;
    const props = { initialState: 0, afterStop: shard.shellStopped };
    const ref = nact.spawn(shard.ref, shellBehaviour as never, actorName(userId), props as never) as nact.Ref<UserMsg>;
    shard.shells.set(userId, { ref, lastUsed: this.now, timerAt: null });
    return ref;
  }

  get live(): number {
    return this.shards.reduce((n, s) => n + s.users.size + s.shells.size, 0);
  }

  stop(): void {
    nact.stop(this.root);
  }
}

const askActor = <T>(ref: nact.Ref<UserMsg>, make: (reply: { resolve(v: T): void; reject(e: unknown): void }) => UserMsg): Promise<T> =>
  ask<UserMsg, T>((m) => nact.dispatch(ref, m), make);
const viewOf = (ref: nact.Ref<UserMsg>) => askActor<UserView>(ref, (reply) => ({ type: 'view', reply }));

// ---- users ---------------------------------------------------------------------------------

/** Running offsets per input topic and partition, as a backlog of all users' events would have. */
const offsets = new Map<string, number>();

/** One user's events as the pipeline sees them: validated, with their Kafka source. */
function* riskEvents(user: UserPlan, plan: LoadPlan): Generator<RiskEvent> {
  const partition = shardOf(user.userId, PARTITIONS);
  for (const { event } of userTimeline(user, plan.options)) {
    const parsed = parseEventJson(event, domain, { now: Date.now() });
    if (!parsed.ok) throw new Error(`generated event ${event.eventId} is invalid: ${parsed.message}`);
    const topic = topicForType(INPUTS, settings.kafka.topics.other, event.eventType);
    if (!topic) throw new Error(`no input topic for ${event.eventType}`);
    const tp = `${topic}:${partition}`;
    const offset = offsets.get(tp) ?? 0;
    offsets.set(tp, offset + 1);
    yield { ...parsed.event, source: { topic, partition, offset: String(offset) } };
  }
}

const outcomes: Record<string, number> = {};
const verdicts: Record<string, number> = {};
let eventsFed = 0;
let idleCloses = 0;

function count(outcome: Outcome): void {
  outcomes[outcome.kind] = (outcomes[outcome.kind] ?? 0) + 1;
  if (outcome.kind === 'accepted') verdicts[outcome.decision.decision] = (verdicts[outcome.decision.decision] ?? 0) + 1;
}

/** The user's state after all its events, built with the domain alone; `sequenceNumber`: journal events applied. */
function buildState(user: UserPlan, plan: LoadPlan): { state: UserState; sequenceNumber: number; lastTime: number } {
  let state = initialState(user.userId);
  let sequenceNumber = 0;
  let lastTime = 0;
  for (const event of riskEvents(user, plan)) {
    const due = nextTimerAt(state, domain);
    if (due !== null && due <= event.timestamp) {
      const closed = closeIdleWindows(state, due, domain);
      if (closed?.journal) {
        state = evolve(state, closed.journal, domain);
        sequenceNumber++;
        idleCloses++;
      }
      // As the shard does once the aggregates are committed: they are no longer pending.
      const emitted = closed && windowsEmitted(state, closed.aggregates.map((a) => a.windowStart), due);
      if (emitted) {
        state = evolve(state, emitted, domain);
        sequenceNumber++;
      }
    }
    const outcome = decide(state, event, { rules, config: domain, now: event.timestamp, shard: event.source!.partition, traceId: null });
    count(outcome);
    eventsFed++;
    if (outcome.kind === 'accepted') {
      state = evolve(state, outcome.journal, domain);
      sequenceNumber++;
    }
    lastTime = event.timestamp;
  }
  return { state, sequenceNumber, lastTime };
}

/** `--feed events`: the actor judges the events itself; the bench plays the shard's idle timer. */
async function feedEvents(system: System, ref: nact.Ref<UserMsg>, user: UserPlan, plan: LoadPlan): Promise<void> {
  let timerAt: number | null = null;
  for (const event of riskEvents(user, plan)) {
    if (timerAt !== null && timerAt <= event.timestamp) {
      system.now = timerAt;
      const closed: { timerAt: number | null; aggregates: { windowStart: number }[]; entries: JournalEntry[] } = await askActor(ref, (reply) => ({ type: 'closeIdle', now: system.now, reply }));
      await system.store.append(closed.entries, { shard: 0, epoch: EPOCH });
      timerAt = closed.timerAt;
      if (closed.aggregates.length) {
        idleCloses++;
        const windowStarts = closed.aggregates.map((a) => a.windowStart);
        const emitted: { timerAt: number | null; entries: JournalEntry[] } = await askActor(ref, (reply) => ({ type: 'windowsEmitted', windowStarts, now: system.now, reply }));
        await system.store.append(emitted.entries, { shard: 0, epoch: EPOCH });
        timerAt = emitted.timerAt;
      }
    }
    system.now = event.timestamp;
    const result: UserRound = await askActor(ref, (reply) => ({ type: 'judge', items: [{ event, traceId: null }], now: system.now, reply }));
    // The shard's part: the round's journal entries go to the store.
    await system.store.append(result.entries, { shard: 0, epoch: EPOCH });
    count(result.outcomes[0]!);
    eventsFed++;
    timerAt = result.timerAt;
  }
}

// ---- measuring -----------------------------------------------------------------------------

interface Mem {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

/** Memory after pending callbacks ran and two full GCs (the first can leave what finalisers free). */
async function settled(): Promise<Mem> {
  await new Promise((res) => setImmediate(res));
  await new Promise((res) => setTimeout(res, 10));
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers };
}

const per = (after: Mem, before: Mem, n: number, field: keyof Mem) => Math.round((after[field] - before[field]) / n);

const spread = (values: Float64Array | number[]) => {
  const sorted = Float64Array.from(values).sort();
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return { mean: Math.round(mean), p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), min: sorted[0] ?? null, max: sorted[sorted.length - 1] ?? null };
};

/** Spawns `n` actors of the plan's first users with `spawn`, asks each for its view, measures, stops the system. */
async function baseline(label: string, plan: LoadPlan, n: number, add: (system: System, userId: string) => nact.Ref<UserMsg>) {
  const system = new System(true);
  const before = await settled();
  const t0 = performance.now();
  for (let i = 0; i < n; i += 500) {
    const views: Promise<unknown>[] = [];
    for (const user of plan.users.slice(i, Math.min(n, i + 500))) views.push(viewOf(add(system, user.userId)));
    await Promise.all(views);
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = await settled();
  const live = system.live;
  if (live !== n || system.crashes.length) throw new Error(`${label}: ${live} of ${n} actors live, ${system.crashes.length} crashed`);
  system.stop();
  const result = { actors: n, bytesPerActorHeap: per(after, before, n, 'heapUsed'), bytesPerActorRss: per(after, before, n, 'rss'), heapUsedMB: r(after.heapUsed / MB), seconds: r(seconds, 1) };
  say(`baseline ${label}: ${result.bytesPerActorHeap} B heap per actor over ${n} actors`);
  return result;
}

// ---- the run -------------------------------------------------------------------------------

const loadStart = os.loadavg();
const N = args.actors;
const checkpoints = [...new Set([...(args.checkpoints ?? [0.1, 0.5].map((f) => Math.round(N * f))).filter((c) => c > 0 && c < N), N])].sort((a, b) => a - b);
const totalEvents = N * args.eventsPerUser;
// spread 0: every ordinary user gets the same number of events (+-1), so that all end with a full history.
const plan = planLoad({ users: N, events: totalEvents, fraudRatio: args.fraudRatio, seed: args.seed, spread: 0, ...(args.idPrefix === undefined ? {} : { idPrefix: args.idPrefix }) });
if (plan.users.length !== N) throw new Error(`the plan has ${plan.users.length} users with events, not ${N}: give more events per user`);
const baselineActors = Math.min(N, args.baselineActors ?? 20_000);
say(`${N} users, ${totalEvents} events (${plan.fraudUsers} fraud users), feed: ${args.feed}, checkpoints at ${checkpoints.join(', ')} live actors; heap limit ${Math.round(v8.getHeapStatistics().heap_size_limit / MB)} MB`);

// Per-user sizes, allocated before any measurement.
const snapshotBytes = new Float64Array(N);
const viewBytes = new Float64Array(N);
const historyEvents = new Float64Array(N);
const historyDecisions = new Float64Array(N);

/** Brings one user to life in `system`; returns its view (the proof that it recovered and answers). */
async function liveUser(system: System, user: UserPlan, i: number): Promise<UserView> {
  if (args.feed === 'snapshot') {
    const { state, sequenceNumber, lastTime } = buildState(user, plan);
    const saved = system.store.saveSnapshot({ key: persistenceKey(user.userId), sequenceNumber, data: state, createdAt: lastTime }, { shard: shardOf(user.userId, PARTITIONS), epoch: EPOCH });
    // Read before awaiting: the other users of the batch save theirs meanwhile.
    if (i >= 0) snapshotBytes[i] = system.store.lastStateBytes;
    await saved;
    system.now = lastTime;
    const view = await viewOf(system.addUser(user.userId));
    if (view.sequenceNumber !== sequenceNumber) throw new Error(`${user.userId} recovered at ${view.sequenceNumber}, not ${sequenceNumber}`);
    return view;
  }
  const ref = system.addUser(user.userId);
  await feedEvents(system, ref, user, plan);
  const view = await viewOf(ref);
  // A snapshot now, for its size (the store drops it).
  await askActor<void>(ref, (reply) => ({ type: 'snapshot', reply }));
  if (i >= 0) snapshotBytes[i] = system.store.lastStateBytes;
  return view;
}

// Warm-up: JIT, zod's compiled parsers and lazily built module state exist before any measurement.
{
  const warm = new System(true);
  const users = plan.users.slice(0, Math.min(200, N));
  for (const u of users) await liveUser(warm, u, -1);
  for (const u of users) await viewOf(warm.addShell(`warm-${u.userId}`));
  warm.stop();
  offsets.clear();
  for (const k of Object.keys(outcomes)) delete outcomes[k];
  for (const k of Object.keys(verdicts)) delete verdicts[k];
  eventsFed = 0;
  idleCloses = 0;
}

const shell = await baseline('actor shell (bare nact actor, state 0)', plan, baselineActors, (system, userId) => system.addShell(userId));
const fresh = await baseline('user actor without history (initialState)', plan, baselineActors, (system, userId) => system.addUser(userId));

const system = new System(args.feed === 'snapshot');
const mem0 = await settled();
say(`before the first actor: heapUsed ${r(mem0.heapUsed / MB)} MB, RSS ${r(mem0.rss / MB)} MB`);
const points: Record<string, number | null>[] = [];
let previous = { live: 0, mem: mem0 };
let lastSay = performance.now();
const runStarted = performance.now();
const BATCH = args.feed === 'snapshot' ? args.batch : 1;
let fullHistory = 0;
for (let i = 0; i < N; ) {
  const end = Math.min(N, i + BATCH, checkpoints.find((c) => c > i)!);
  const views = await Promise.all(plan.users.slice(i, end).map((u, k) => liveUser(system, u, i + k)));
  views.forEach((view, k) => {
    viewBytes[i + k] = Buffer.byteLength(JSON.stringify(view));
    historyEvents[i + k] = view.recentEvents.length;
    historyDecisions[i + k] = view.decisions.length;
    if (view.recentEvents.length >= domain.history.events && view.decisions.length >= domain.history.decisions) fullHistory++;
  });
  i = end;
  if (performance.now() - lastSay > 10_000) {
    lastSay = performance.now();
    say(`${i}/${N} live actors, ${Math.round(i / ((performance.now() - runStarted) / 1000))} actors/s`);
  }
  if (i === previous.live || !checkpoints.includes(i)) continue;
  if (system.store.held !== 0) throw new Error(`${system.store.held} snapshots were not read back`);
  const mem = await settled();
  const live = system.live;
  if (live !== i || system.crashes.length) throw new Error(`${live} of ${i} actors live, ${system.crashes.length} crashed: ${String(system.crashes[0])}`);
  const point = {
    liveActors: live,
    heapUsedMB: r(mem.heapUsed / MB),
    rssMB: r(mem.rss / MB),
    bytesPerActorHeap: per(mem, mem0, live, 'heapUsed'),
    bytesPerActorRss: per(mem, mem0, live, 'rss'),
    marginalBytesPerActorHeap: per(mem, previous.mem, live - previous.live, 'heapUsed'),
    externalMB: r(mem.external / MB, 2),
    seconds: r((performance.now() - runStarted) / 1000, 1),
  };
  points.push(point);
  say(`${live} live actors: ${point.bytesPerActorHeap} B heap per actor (${point.marginalBytesPerActorHeap} B since ${previous.live}), heapUsed ${point.heapUsedMB} MB, RSS ${point.rssMB} MB`);
  if (args.heapSnapshots) {
    mkdirSync(args.heapSnapshots, { recursive: true });
    say(`heap snapshot: ${v8.writeHeapSnapshot(join(args.heapSnapshots, `memory-${live}.heapsnapshot`))}`);
  }
  previous = { live, mem };
}
const runSeconds = (performance.now() - runStarted) / 1000;
const peakRssMB = r(process.resourceUsage().maxRSS / 1024);

const last = points[points.length - 1]!;
const bytesPerActor = last.bytesPerActorHeap!;
const shellBytes = shell.bytesPerActorHeap;
const report = {
  schema: 'risk-engine-bench-memory/1',
  date: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    memoryGB: r(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadavgStart: loadStart.map((x) => r(x, 2)),
    loadavgEnd: os.loadavg().map((x) => r(x, 2)),
  },
  node: {
    execArgv: process.execArgv,
    heapLimitMB: Math.round(v8.getHeapStatistics().heap_size_limit / MB),
    why: "--max-old-space-size=8192 (npm run bench:memory): Node's default heap limit (4,144 MB on this 24 GB machine) is too close to what 100,000 actors with the current user state take (result.heapUsedMB), plus the garbage of building them; --expose-gc: the forced GCs before each measurement",
  },
  config: {
    actors: N,
    eventsPerUser: args.eventsPerUser,
    feed: args.feed,
    fraudRatio: args.fraudRatio,
    seed: args.seed,
    userIdExample: plan.users[0]!.userId,
    partitions: PARTITIONS,
    history: domain.history,
    domainConfig: 'DEFAULT_DOMAIN_CONFIG',
    rulesFile: RULES_FILE,
    checkpoints,
    baselineActors,
  },
  load: {
    users: plan.users.length,
    fraudUsers: plan.fraudUsers,
    events: eventsFed,
    eventsPerUser: r(eventsFed / N, 2),
    idleCloses,
    outcomes,
    decisions: verdicts,
    usersWithFullHistory: fullHistory,
    historyEventsPerUser: spread(historyEvents),
    historyDecisionsPerUser: spread(historyDecisions),
    journalWritesDropped: system.store.appended,
  },
  sizes: {
    userStateJsonBytes: spread(snapshotBytes),
    userViewJsonBytes: spread(viewBytes),
    note: 'userStateJsonBytes: JSON.stringify of the user state as snapshotted (what Redis or LMDB store, without the envelope); userViewJsonBytes: the `view` answer (GET /users/:id)',
  },
  baseline: {
    actorShell: { ...shell, what: 'bare nact actor (same name as a user actor), trivial state 0, under the same shard parents, plus a LiveUser entry as ShardUsers keeps per actor' },
    userActorWithoutHistory: { ...fresh, what: 'a user actor spawned by ShardUsers with no snapshot: the actor shell, ShardUsers\' entry and the initial state (made by nact\'s initialStateFunc)' },
  },
  checkpoints: points,
  result: {
    liveActors: last.liveActors,
    bytesPerLiveActorHeap: bytesPerActor,
    actorShellBytes: shellBytes,
    userStateBytes: bytesPerActor - shellBytes,
    bytesPerLiveActorRss: last.bytesPerActorRss,
    heapUsedMB: last.heapUsedMB,
    rssMB: last.rssMB,
    peakRssMB,
    heapUsedBeforeMB: r(mem0.heapUsed / MB),
    rssBeforeMB: r(mem0.rss / MB),
    secondsToBringUp: r(runSeconds, 1),
    actorsPerSecond: r(N / runSeconds, 0),
  },
  targets: [{ name: 'heap bytes per live actor with a full history', target: '<= 8192', measured: bytesPerActor, met: bytesPerActor <= 8192 }],
  method:
    args.feed === 'snapshot'
      ? 'users are built one at a time with the real domain (parseEventJson, decide, evolve, closeIdleWindows at the idle timer), saved as a snapshot (JSON envelope) in a store that hands it over once and keeps nothing, spawned by ShardUsers.touch (spawnUserActor) under a nact system (12 shard parents, each with its ShardUsers) and asked for their view, which makes them recover (JSON.parse + upcastState) and proves them live. heapUsed after two forced GCs before the first actor and at each checkpoint; (heapUsed - before) / live actors. The actor shell and the user actor without history are measured the same way, in their own systems, before. userStateBytes = bytesPerLiveActorHeap - actorShellBytes'
      : 'users are fed one at a time through their live actor (spawned by ShardUsers.touch under a nact system): every event as an `event` message, `closeIdle` when the timer the actor returned is due; the store drops journal writes and snapshots. heapUsed after two forced GCs before the first actor and at each checkpoint; (heapUsed - before) / live actors. userStateBytes = bytesPerLiveActorHeap - actorShellBytes',
  benchSeconds: r(elapsed(), 0),
};
system.stop();

mkdirSync(RESULTS, { recursive: true });
const stamp = report.date.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
const json = `${JSON.stringify(report, null, 2)}\n`;
const file = join(RESULTS, `memory-${stamp}.json`);
writeFileSync(file, json);
writeFileSync(join(RESULTS, 'memory-latest.json'), json);
say(`wrote ${file} and ${RESULTS}/memory-latest.json`);
const met = bytesPerActor <= 8192;
process.stdout.write(
  [
    '',
    `live user actors          ${N} (${args.feed}), ${report.load.eventsPerUser} events per user, ${fullHistory} with a full ${domain.history.events}/${domain.history.decisions} history`,
    `heap per live actor       ${bytesPerActor} B = actor shell ${shellBytes} B + user state ${bytesPerActor - shellBytes} B   (target <= 8192 B: ${met ? 'met' : 'NOT met'})`,
    `  by live actors          ${points.map((p) => `${p.liveActors}: ${p.bytesPerActorHeap} B`).join(', ')}`,
    `user actor, no history    ${fresh.bytesPerActorHeap} B heap`,
    `RSS per live actor        ${last.bytesPerActorRss} B   (RSS ${last.rssMB} MB at the end, peak ${peakRssMB} MB; heapUsed ${last.heapUsedMB} MB)`,
    `user state as JSON        mean ${report.sizes.userStateJsonBytes.mean} B (p50 ${report.sizes.userStateJsonBytes.p50} B); view JSON mean ${report.sizes.userViewJsonBytes.mean} B`,
    `time                      ${r(runSeconds, 0)} s to bring ${N} actors up, ${report.benchSeconds} s in all`,
    '',
  ].join('\n'),
);
