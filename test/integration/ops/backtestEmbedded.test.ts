/**
 * Backtest on an embedded deployment (no KAFKA_BROKERS, DATA_DIR): the embedded log of a running
 * engine is read beside it, and under the live rules every live decision is reproduced.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { GroundTruth } from '../../../src/loadgen/truth.ts';
import type { BacktestReport } from '../../../src/ops/backtest.ts';
import { spawnEngine } from '../helpers/child.ts';
import { pollUntil } from '../helpers/harness.ts';
import { runCli } from '../admin/instance.ts';

test('embedded: a backtest of the live rules beside the running engine agrees with every live decision', async (t) => {
  t.timeout(150_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-backtest-'));
  const env = { KAFKA_BROKERS: '', DATA_DIR: dataDir, CONFIG_FILE: '' };
  const engine = await spawnEngine('embedded', '', env);
  t.teardown(() => engine.proc.kill('SIGKILL'));
  await engine.started;
  const truthFile = join(dataDir, 'truth.json');
  const produced = await runCli(['produce', '--url', engine.adminUrl, '--users', '60', '--events', '1200', '--seed', '11', '--fraud-ratio', '0.1', '--truth', truthFile]);
  t.is(produced.code, 0, produced.stderr);
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as GroundTruth;
  // Every event decided (and committed) once every user's state counts all of its events.
  for (const [userId, u] of Object.entries(truth.users)) {
    await pollUntil(`${userId} to count ${u.eventCount} events`, async () => {
      const res = await fetch(`${engine.adminUrl}/users/${encodeURIComponent(userId)}`);
      return res.ok ? ((await res.json()) as { profile: { eventCount: number } }).profile.eventCount : 0;
    }, (n) => n === u.eventCount, 60_000);
  }
  const out = join(dataDir, 'report.json');
  const run = await runCli(['backtest', '--rules', 'config/default-rules.json', '--out', out], env);
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(readFileSync(out, 'utf8')) as BacktestReport;
  t.is(report.records, 1200);
  t.is(report.events, 1200, JSON.stringify(report.notCompared));
  t.is(report.agree, 1200);
  t.deepEqual(report.disagreements, {});
  t.regex(run.stdout, /compared 1200 events with their live decisions: 1200 agree/);
});
