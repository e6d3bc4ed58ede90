import test from 'ava';
import {
  closeIdleWindows,
  decide,
  evolve,
  initialState,
  nextTimerAt,
  toUserView,
  upcastJournal,
  upcastState,
  windowsEmitted,
  type RiskEvent,
  type WindowAggregate,
} from '../../../src/domain/index.ts';
import { accepted, config, ctx, ev, MIN, neutralRules, play, T0 } from './helpers.ts';

// Scores that differ per event, so that sums and maxima are checked for real.
const rules = neutralRules({ bias: -2, weights: { upstreamRisk: 3 } });
const at = (ms: number, upstreamRiskScore = 0): RiskEvent => ev({ timestamp: T0 + ms, upstreamRiskScore });
const run = (events: RiskEvent[]) => play(events, { rules });
const scores = (r: ReturnType<typeof run>) => r.outcomes.map((o) => accepted(o).decision.riskScore);

test('a window closes once the watermark (max event time - lateness) reaches its end, in that event\'s outcome', (t) => {
  const r = run([at(1 * MIN, 0.2), at(3 * MIN, 0.9), at(5 * MIN + 29_000), at(5 * MIN + 30_000), at(9 * MIN)]);
  const aggregates = r.outcomes.map((o) => accepted(o).aggregates);
  t.deepEqual(aggregates[2], [], 'watermark still 1 s before the end');
  const [s1, s2] = scores(r);
  t.deepEqual(aggregates[3], [
    {
      userId: 'u-1',
      windowStart: T0,
      windowEnd: T0 + 5 * MIN,
      eventCount: 2,
      totalRiskScore: (Math.round(s1! * 1e4) + Math.round(s2! * 1e4)) / 1e4,
      avgRiskScore: Math.round((Math.round(s1! * 1e4) + Math.round(s2! * 1e4)) / 2) / 1e4,
      maxRiskScore: Math.max(s1!, s2!),
      firstEventTime: T0 + MIN,
      lastEventTime: T0 + 3 * MIN,
    },
  ]);
  t.deepEqual(aggregates[4], [], 'emitted once');
  t.deepEqual(toUserView(r.state).window, { windowStart: T0 + 5 * MIN, windowEnd: T0 + 10 * MIN, eventCount: 3, maxRiskScore: Math.max(...scores(r).slice(2)) });
});

test('a late event within the allowed lateness still joins its window', (t) => {
  const r = run([at(4 * MIN), at(5 * MIN + 10_000), at(4 * MIN + 50_000, 1), at(6 * MIN)]);
  t.deepEqual(accepted(r.outcomes[2]).journal.window, { start: T0, end: T0 + 5 * MIN });
  const closed = accepted(r.outcomes[3]).aggregates;
  t.is(closed.length, 1);
  t.like(closed[0], { windowStart: T0, eventCount: 2, lastEventTime: T0 + 4 * MIN + 50_000, maxRiskScore: scores(r)[2] });
  t.is(r.state.windows.lateEvents, 0);
});

test('two windows can be open at once, and close in order', (t) => {
  const r = run([at(4 * MIN + 50_000), at(5 * MIN + 10_000)]);
  t.deepEqual(r.state.windows.open.map((o) => o.start), [T0, T0 + 5 * MIN]);
  t.is(toUserView(r.state).window.windowStart, T0 + 5 * MIN);
  const later = play([at(20 * MIN)], { rules }, r.state);
  t.deepEqual(accepted(later.outcomes[0]).aggregates.map((a) => a.windowStart), [T0, T0 + 5 * MIN]);
});

test('a late event that opens an earlier window puts it before the open one: open windows stay in start order', (t) => {
  // Within the allowed lateness of the first event, the second opens the window before it.
  const r = run([at(5 * MIN + 10_000), at(4 * MIN + 50_000)]);
  t.deepEqual(r.state.windows.open.map((o) => o.start), [T0, T0 + 5 * MIN]);
  const later = play([at(20 * MIN)], { rules }, r.state);
  t.deepEqual(accepted(later.outcomes[0]).aggregates.map((a) => [a.windowStart, a.eventCount]), [[T0, 1], [T0 + 5 * MIN, 1]]);
});

test('a too-late event is decided and counted in lateEvents, not in a window', (t) => {
  const r = run([at(MIN), at(6 * MIN), at(2 * MIN, 1)]);
  const late = accepted(r.outcomes[2]);
  t.is(late.decision.eventTimestamp, T0 + 2 * MIN);
  t.is(late.journal.window, null);
  t.deepEqual(late.aggregates, []);
  t.is(r.state.windows.lateEvents, 1);
  t.is(toUserView(r.state).lateEvents, 1);
  t.is(r.state.profile.eventCount, 3);
  const next = play([at(11 * MIN)], { rules }, r.state);
  t.is(accepted(next.outcomes[0]).aggregates[0]!.eventCount, 1, 'the late event is in no aggregate');
});

test('idle close: once the user is quiet, the timer closes the windows whose end plus the lateness the clock has passed', (t) => {
  // Processing time follows event time (play's default `now` is the event's time).
  const r = run([at(MIN, 0.5), at(2 * MIN)]);
  const due = T0 + 5 * MIN + config.windows.allowedLatenessMs;
  t.is(nextTimerAt(r.state, config), due, 'the window ends later than the user goes quiet');
  t.is(closeIdleWindows(r.state, due - 1, config), null);
  const closed = closeIdleWindows(r.state, due, config);
  if (!closed?.journal) return t.fail('expected the window to close');
  t.deepEqual(closed.journal.closed, closed.aggregates);
  t.like(closed.aggregates[0], { windowStart: T0, windowEnd: T0 + 5 * MIN, eventCount: 2, firstEventTime: T0 + MIN, lastEventTime: T0 + 2 * MIN });
  const after = evolve(r.state, closed.journal, config);
  t.is(after.sequenceNumber, r.state.sequenceNumber + 1);
  t.deepEqual(after.windows.open, []);
  // An event for the closed window is now too late; a later one opens a new window.
  const more = play([at(3 * MIN), at(7 * MIN)], { rules, now: due + 1000 }, after);
  t.is(accepted(more.outcomes[0]).journal.window, null);
  t.deepEqual(accepted(more.outcomes[1]).journal.window, { start: T0 + 5 * MIN, end: T0 + 10 * MIN });
});

test('idle close: the timer waits for the user to be quiet idleCloseMs, and leaves windows still in progress open', (t) => {
  const r = play([at(4 * MIN + 50_000), at(5 * MIN + 10_000)], { rules, now: T0 + 5 * MIN + 10_000 });
  t.deepEqual(r.state.windows.open.map((o) => o.start), [T0, T0 + 5 * MIN]);
  const quiet = T0 + 5 * MIN + 10_000 + config.windows.idleCloseMs;
  t.is(nextTimerAt(r.state, config), quiet);
  t.is(closeIdleWindows(r.state, quiet - 1, config), null, 'not quiet long enough');
  const closed = closeIdleWindows(r.state, quiet, config);
  t.deepEqual(closed?.aggregates.map((a) => a.windowStart), [T0], 'the window in progress stays open');
  const after = evolve(r.state, closed!.journal!, config);
  t.deepEqual(after.windows.open.map((o) => o.start), [T0 + 5 * MIN]);
});

test('idle close is at least once: a closed window stays pending, emitted the same on every timer, until confirmed', (t) => {
  const r = run([at(MIN, 0.5), at(2 * MIN)]);
  const due = nextTimerAt(r.state, config)!;
  const closed = closeIdleWindows(r.state, due, config)!;
  const pending = evolve(r.state, closed.journal!, config);
  t.is(nextTimerAt(pending, config), due, 'due again at once');
  const again = closeIdleWindows(pending, due + 10_000, config);
  t.is(again?.journal, null, 'nothing new is journaled');
  t.deepEqual(again?.aggregates, closed.aggregates, 'the same aggregate again');
  // A snapshot taken meanwhile keeps it pending.
  const recovered = upcastState(JSON.parse(JSON.stringify(pending)));
  t.deepEqual(closeIdleWindows(recovered, due + 20_000, config)?.aggregates, closed.aggregates);

  t.is(windowsEmitted(pending, [T0 + 5 * MIN], due), null, 'confirming another window changes nothing');
  const emitted = windowsEmitted(pending, [T0], due + 1);
  t.deepEqual(emitted, { v: 1, type: 'windowsEmitted', at: due + 1, windowStarts: [T0] });
  const done = evolve(pending, upcastJournal(JSON.parse(JSON.stringify(emitted))), config);
  t.is(nextTimerAt(done, config), null);
  t.is(closeIdleWindows(done, due + 1_000_000, config), null);
  t.is(windowsEmitted(done, [T0], due + 2), null);
});

test('events 90 s apart in one window, with the idle timer ticking between them, all land in its one aggregate', (t) => {
  const times = [0, 90_000, 180_000, 270_000].map((ms) => T0 + ms);
  let state = initialState('u-1');
  let timerAt: number | null = null;
  const emitted: WindowAggregate[] = [];
  // As ShardSupervisor drives it: a tick every 10 s runs the due timer, commits, then confirms.
  const tick = (now: number) => {
    if (timerAt === null || timerAt > now) return;
    const closed = closeIdleWindows(state, now, config);
    if (closed?.journal) state = evolve(state, closed.journal, config);
    const confirmed = closed && windowsEmitted(state, closed.aggregates.map((a) => a.windowStart), now);
    if (confirmed) state = evolve(state, confirmed, config);
    emitted.push(...(closed?.aggregates ?? []));
    timerAt = nextTimerAt(state, config);
  };
  for (let now = T0; now <= T0 + 10 * MIN; now += 10_000) {
    const event = times.includes(now) ? at(now - T0) : null;
    if (event) {
      const out = accepted(decide(state, event, ctx({ rules, now })));
      emitted.push(...out.aggregates);
      state = evolve(state, out.journal, config);
      timerAt = nextTimerAt(state, config);
    }
    tick(now);
  }
  t.is(state.windows.lateEvents, 0);
  t.deepEqual(
    emitted.map((a) => [a.windowStart, a.eventCount, a.firstEventTime, a.lastEventTime]),
    [[T0, 4, T0, T0 + 270_000]],
  );
});

test('no window open, no timer', (t) => {
  t.is(nextTimerAt(run([]).state, config), null);
});

test('out-of-order traffic: every event is in exactly one aggregate or counted late', (t) => {
  const times = [0, 40, 130, 299, 310, 290, 620, 580, 905, 1200, 1150, 2400, 2390].map((s) => s * 1000);
  const r = run(times.map((ms) => at(ms)));
  const closedAtEnd = closeIdleWindows(r.state, Number.MAX_SAFE_INTEGER, config);
  const all = [...r.outcomes.flatMap((o) => accepted(o).aggregates), ...(closedAtEnd?.aggregates ?? [])];
  const inWindows = all.reduce((n, a) => n + a.eventCount, 0);
  t.is(inWindows + r.state.windows.lateEvents, times.length);
  t.is(new Set(all.map((a) => a.windowStart)).size, all.length, 'each window once');
});
