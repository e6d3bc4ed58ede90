import test from 'ava';
import { Metrics } from '../../../src/telemetry/metrics.ts';

const metricsWith = (fenced: () => number) =>
  new Metrics({ liveActors: () => 0, ownedShards: () => 1, dependencies: () => ({ kafka: true }), alertsBuffered: () => 0, fencedWrites: fenced, lag: async () => [{ shard: 3, lag: 7 }] });

const families = async (m: Metrics) => new Map((await m.registry.getMetricsAsJSON()).map((f) => [f.name, f]));

test('risk_fenced_writes_total is a counter that follows the store count', async (t) => {
  let fenced = 0;
  const m = metricsWith(() => fenced);
  fenced = 2;
  let f = (await families(m)).get('risk_fenced_writes_total');
  t.is(String(f?.type), 'counter');
  t.deepEqual(f?.values.map((v) => v.value), [2]);
  fenced = 5;
  f = (await families(m)).get('risk_fenced_writes_total');
  t.deepEqual(f?.values.map((v) => v.value), [5]);
});

test('only counters end in _total (what promtool check metrics asks)', async (t) => {
  const wrong = [...(await families(metricsWith(() => 0))).values()].filter((f) => f.name.endsWith('_total') && String(f.type) !== 'counter').map((f) => f.name);
  t.deepEqual(wrong, []);
});

test('default process and Node.js metrics keep their standard names, so stock dashboards find them', async (t) => {
  const names = [...(await families(metricsWith(() => 0))).keys()];
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_gc_duration_seconds', 'nodejs_active_handles']) {
    t.true(names.includes(name), name);
  }
  t.deepEqual(names.filter((n) => n.startsWith('risk_process_')), []);
});

test('consumer lag is per owned shard', async (t) => {
  const f = (await families(metricsWith(() => 0))).get('risk_consumer_lag');
  t.deepEqual(f?.values, [{ value: 7, labels: { shard: '3' } }]);
});

test('risk_ready says what /readyz says, asked at scrape time', async (t) => {
  let ready = false;
  const m = new Metrics({ liveActors: () => 0, ownedShards: () => 0, dependencies: () => ({}), alertsBuffered: () => 0, fencedWrites: () => 0, ready: async () => ready });
  t.deepEqual((await families(m)).get('risk_ready')?.values.map((v) => v.value), [0]);
  ready = true;
  t.deepEqual((await families(m)).get('risk_ready')?.values.map((v) => v.value), [1]);
});
