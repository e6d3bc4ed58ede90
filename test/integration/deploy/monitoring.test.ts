/**
 * The monitoring files in deploy/ against promtool and a real engine (Kafka, Redis, NATS): the
 * Prometheus config and rules are valid and their rule tests pass, the engine's /metrics passes
 * `promtool check metrics`, and every metric the alert rules and the Grafana dashboard query is
 * one the engine exposes. promtool comes from scripts/tools.sh (Debian's prometheus package).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { kafkaClient, pollUntil, produceEvents, testSettings, uniqueId } from '../helpers/harness.ts';
import { startInstance, type Instance } from '../admin/instance.ts';
import { dashboardQueries, expandGrafana, exposedNames, metricNames, ruleQueries, type Query } from './promql.ts';

const run = promisify(execFile);
const PROMETHEUS_YML = 'deploy/prometheus/prometheus.yml';
const RULES_YML = 'deploy/prometheus/rules.yml';
const RULES_TEST_YML = 'deploy/prometheus/rules.test.yml';
const DASHBOARD = 'deploy/grafana/dashboards/risk-engine.json';
/** Series Prometheus makes itself for every target. */
const SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

let promtool: string | undefined;
let promtoolMissing = '';
let instance: Instance | undefined;
let exposition = '';

/** promtool with stdin; resolves with its exit code and output instead of throwing. */
function promtoolRun(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(promtool!, args, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }));
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

test.before(async () => {
  // Installs promtool when it is missing (idempotent); its message says why it could not.
  try {
    promtool = (await run('bash', ['scripts/tools.sh'])).stdout.trim();
  } catch (err) {
    promtoolMissing = `promtool is missing and scripts/tools.sh could not fetch it: ${(err as { stderr?: string }).stderr ?? String(err)}`;
  }

  const id = uniqueId('mon');
  instance = await startInstance(testSettings(id));
  const settings = instance.settings;
  const now = Date.now();
  const userId = `${id}-u1`;
  const kafka = kafkaClient();
  // A decision and a dead letter, so that labelled series have samples and not only TYPE lines.
  await produceEvents(kafka, () => settings.kafka.topics.inputs[0]!, [
    { eventId: `${id}-e1`, userId, eventType: 'login', timestamp: now, deviceId: 'd-1', country: 'DE' },
    { eventId: `${id}-e2`, userId, eventType: 'login', timestamp: now + 1, deviceId: 'd-1', country: 'DE', amount: 'not a number' },
  ]);
  exposition = await pollUntil(
    'the decision and the dead letter in /metrics',
    async () => (await fetch(`${instance!.adminUrl}/metrics`)).text(),
    (text) => /^risk_decisions_total\{decision="\w+"\} 1$/m.test(text) && /^risk_dlq_records_total\{code="\w+"\} 1$/m.test(text),
    60_000,
  );
});

test.after.always(async () => {
  await instance?.stop();
});

const needPromtool = (t: { fail(m: string): void }): boolean => {
  if (promtool) return true;
  t.fail(promtoolMissing);
  return false;
};

test('prometheus.yml is valid and names rule files that exist', async (t) => {
  if (!needPromtool(t)) return;
  // --syntax-only: the bearer token file exists only inside the compose stack.
  const checked = await promtoolRun(['check', 'config', '--syntax-only', PROMETHEUS_YML]);
  t.is(checked.code, 0, checked.out);
  const config = parseYaml(readFileSync(PROMETHEUS_YML, 'utf8')) as { rule_files: string[]; scrape_configs: { job_name: string }[] };
  t.true(config.rule_files.length > 0);
  for (const f of config.rule_files) t.true(existsSync(join(dirname(PROMETHEUS_YML), f)), f);
  t.true(config.scrape_configs.some((s) => s.job_name === 'risk-engine'));
});

test('rules.yml is valid and its rule tests pass (each alert fires on its case, not on healthy series)', async (t) => {
  if (!needPromtool(t)) return;
  const checked = await promtoolRun(['check', 'rules', RULES_YML]);
  t.is(checked.code, 0, checked.out);
  const tested = await promtoolRun(['test', 'rules', RULES_TEST_YML]);
  t.is(tested.code, 0, tested.out);
  const alerts = ruleQueries(RULES_YML).map((q) => q.where.split(' ').pop());
  for (const wanted of ['RiskEngineNotReady', 'RiskConsumerLagGrowing', 'RiskFencedWrites', 'RiskDeadLettersHigh', 'RiskDecisionLatencyHigh']) t.true(alerts.includes(wanted), wanted);
});

test("promtool check metrics finds nothing in a real engine's /metrics", async (t) => {
  if (!needPromtool(t)) return;
  const checked = await promtoolRun(['check', 'metrics'], exposition);
  t.is(checked.code, 0, checked.out);
  t.is(checked.out.trim(), '');
  // The standard names stock Node.js dashboards query.
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) t.regex(exposition, new RegExp(`^${name} `, 'm'));
});

test('every metric the alert rules and the dashboard query is one the engine exposes', (t) => {
  const exposed = exposedNames(exposition);
  const queries: Query[] = [...ruleQueries(RULES_YML), ...dashboardQueries(DASHBOARD)];
  t.true(queries.length >= 20, `only ${queries.length} queries found`);
  const unknown: string[] = [];
  const queried = new Set<string>();
  for (const q of queries) {
    for (const name of metricNames(expandGrafana(q.expr))) {
      queried.add(name);
      if (!exposed.has(name) && !SYNTHETIC.has(name)) unknown.push(`${name} (${q.where})`);
    }
  }
  t.deepEqual(unknown, []);
  // What the dashboard is for: each of these is on it.
  for (const name of ['risk_decisions_total', 'risk_decision_latency_seconds_bucket', 'risk_fetch_lag_seconds_bucket', 'risk_consumer_lag', 'risk_live_actors', 'risk_passivated_actors_total', 'risk_supervision_restarts_total', 'risk_dlq_records_total', 'risk_transactions_total']) {
    t.true(queried.has(name), name);
  }
});

test('a misspelt metric is caught (the name check is not vacuous)', (t) => {
  const exposed = exposedNames(exposition);
  t.deepEqual(metricNames(expandGrafana('sum by (le) (rate(risk_decision_latency_second_bucket{instance=~"$instance"}[$__rate_interval]))')), ['risk_decision_latency_second_bucket']);
  t.false(exposed.has('risk_decision_latency_second_bucket'));
  t.throws(() => metricNames('sum(rate(risk_decisions_total[5m])'), { message: /syntax error/ });
});
