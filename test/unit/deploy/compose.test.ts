/**
 * The shape of docker/compose.yml (no Docker engine runs here, so it is read, not run): every
 * service has a healthcheck and restarts unless stopped, the host reaches what it should on the
 * documented ports, state lives in named volumes, the Kafka image is the version the tests run
 * against (scripts/kafka/pom.xml), and the engine image is built once and shared.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

interface Service {
  image?: string;
  build?: unknown;
  restart?: string;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string | number>;
  secrets?: (string | { source: string })[];
  pull_policy?: string;
}

const text = readFileSync('docker/compose.yml', 'utf8');
// merge: compose files use YAML merge keys (<<) to share the engines' settings.
const compose = parse(text, { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown>; secrets?: Record<string, { environment?: string; file?: string }> };
const services = compose.services;
const dockerfile = readFileSync('docker/Dockerfile', 'utf8');
const pomKafka = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync('scripts/kafka/pom.xml', 'utf8'))![1]!;
const engines = Object.entries(services).filter(([, s]) => s.image === services['engine-1']!.image);

test('the stack: Kafka, NATS, Redis, Jaeger, Prometheus, Grafana and two engines', (t) => {
  t.deepEqual(Object.keys(services).sort(), ['engine-1', 'engine-2', 'grafana', 'jaeger', 'kafka', 'nats', 'prometheus', 'redis']);
});

test('every service restarts unless stopped and has a healthcheck (the engines the image’s, on /readyz)', (t) => {
  for (const [name, s] of Object.entries(services)) {
    t.is(s.restart, 'unless-stopped', name);
    t.not(s.healthcheck?.disable, true, name);
    if (engines.some(([n]) => n === name)) continue;
    t.truthy(s.healthcheck?.test, `${name} has no healthcheck test`);
  }
  const hc = /^HEALTHCHECK .*\n?.*CMD \["node", "-e", "fetch\('http:\/\/127\.0\.0\.1:' \+ \(process\.env\.ADMIN_PORT \|\| 8080\) \+ '\/readyz'/m;
  t.regex(dockerfile, hc);
  for (const [name, s] of engines) t.is(s.healthcheck?.test, undefined, `${name} must not replace the image's /readyz probe`);
});

test('the engines wait for healthy dependencies', (t) => {
  for (const [name, s] of engines) {
    for (const dep of ['kafka', 'nats', 'redis']) t.is(s.depends_on?.[dep]?.condition, 'service_healthy', `${name} -> ${dep}`);
  }
  t.is(services.grafana!.depends_on?.prometheus?.condition, 'service_healthy');
});

test('the engine image is built once and run twice', (t) => {
  const building = Object.entries(services).filter(([, s]) => s.build !== undefined).map(([n]) => n);
  t.deepEqual(building, ['engine-1']);
  t.deepEqual(engines.map(([n]) => n).sort(), ['engine-1', 'engine-2']);
  t.truthy(services['engine-1']!.image);
  t.is(services['engine-2']!.pull_policy, 'never');
  t.is(services['engine-1']!.environment?.INSTANCE_ID, 'engine-1');
  t.is(services['engine-2']!.environment?.INSTANCE_ID, 'engine-2');
  for (const [name, s] of engines) {
    t.is(s.environment?.KAFKA_BROKERS, 'kafka:9092', name);
    t.is(s.environment?.ADMIN_HOST, '0.0.0.0', name);
    // The token comes from the environment of `docker compose`, never from this file.
    t.regex(String(s.environment?.ADMIN_TOKEN), /^\$\{ADMIN_TOKEN:\?/, name);
  }
});

test('the Dockerfile runs on Node.js 24 LTS', (t) => {
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
  t.true(froms.length > 0);
  for (const from of froms) t.regex(from, /^node:24-/);
});

test('host-reachable listeners on the documented ports', (t) => {
  const published = (name: string) => (services[name]!.ports ?? []).map((p) => String(p).split(':').slice(-2).join(':'));
  t.true(published('kafka').includes('29092:29092'));
  t.true(published('nats').includes('4222:4222'));
  t.true(published('engine-1').includes('8081:8080'));
  t.true(published('engine-2').includes('8082:8080'));
  t.true(published('grafana').includes('3000:3000'));
  t.true(published('jaeger').includes('16686:16686'));
  t.true(published('prometheus').includes('9090:9090'));
  // Kafka advertises the host listener as the host sees it, the internal one by service name.
  const env = services.kafka!.environment!;
  t.regex(String(env.KAFKA_ADVERTISED_LISTENERS), /EXTERNAL:\/\/localhost:29092/);
  t.regex(String(env.KAFKA_ADVERTISED_LISTENERS), /INTERNAL:\/\/kafka:9092/);
  t.regex(String(env.KAFKA_LISTENERS), /EXTERNAL:\/\/:29092/);
});

test('state lives in named volumes, declared at the top level', (t) => {
  const named = (name: string) => (services[name]!.volumes ?? []).map((v) => v.split(':')[0]!).filter((src) => !src.startsWith('.') && !src.startsWith('/'));
  for (const name of ['kafka', 'nats', 'redis', 'prometheus', 'grafana']) {
    const vols = named(name);
    t.true(vols.length > 0, `${name} keeps its state in no named volume`);
    for (const v of vols) t.true(v in compose.volumes, `${v} is not declared`);
  }
});

test('images are pinned, and Kafka is the version the tests run against', (t) => {
  for (const [name, s] of Object.entries(services)) {
    t.truthy(s.image, name);
    t.regex(s.image!, /:[\w.-]+$/, `${name} has no tag`);
    t.notRegex(s.image!, /:latest$/, name);
  }
  t.is(services.kafka!.image, `apache/kafka:${pomKafka}`);
});

test('Prometheus and Grafana are provisioned from deploy/', (t) => {
  t.true(services.prometheus!.volumes!.includes('../deploy/prometheus:/etc/prometheus:ro'));
  t.true(services.grafana!.volumes!.some((v) => v.startsWith('../deploy/grafana/provisioning:/etc/grafana/provisioning')));
  t.true(services.grafana!.volumes!.some((v) => v.startsWith('../deploy/grafana/dashboards:/etc/grafana/dashboards')));
  const provider = parse(readFileSync('deploy/grafana/provisioning/dashboards/dashboards.yml', 'utf8')) as { providers: { options: { path: string } }[] };
  t.is(provider.providers[0]!.options.path, '/etc/grafana/dashboards');
  const datasources = parse(readFileSync('deploy/grafana/provisioning/datasources/datasources.yml', 'utf8')) as { datasources: { uid: string; url: string }[] };
  const dashboard = readFileSync('deploy/grafana/dashboards/risk-engine.json', 'utf8');
  const uids = new Set([...dashboard.matchAll(/"uid": "(\w+)"/g)].map((m) => m[1]));
  uids.delete('risk-engine');
  for (const uid of uids) t.true(datasources.datasources.some((d) => d.uid === uid), `data source ${uid} is not provisioned`);
  // Prometheus reads the admin token as a file made from the environment.
  t.is(compose.secrets?.admin_token?.environment, 'ADMIN_TOKEN');
  const prometheus = parse(readFileSync('deploy/prometheus/prometheus.yml', 'utf8')) as { scrape_configs: { job_name: string; authorization?: { credentials_file?: string }; static_configs: { targets: string[] }[] }[] };
  const job = prometheus.scrape_configs.find((j) => j.job_name === 'risk-engine')!;
  t.is(job.authorization?.credentials_file, '/run/secrets/admin_token');
  t.deepEqual(job.static_configs.flatMap((c) => c.targets), engines.map(([n]) => `${n}:8080`));
});

test('.dockerignore keeps the checkout’s local state out of the build context', (t) => {
  const ignored = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const p of ['.git', '**/node_modules', 'dist', '.cache', 'data']) t.true(ignored.includes(p), p);
});
