/** `risk-engine demo` in process: the embedded engine decides every generated event and the summary adds up. */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import { phasesOf, runDemo } from '../../../src/cli/commands/demo.ts';

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({
      write: (chunk: Buffer, _enc, done) => {
        chunks.push(chunk.toString('utf8'));
        done();
      },
    }),
    text: () => chunks.join(''),
  };
}

test('the demo decides every event and reports decisions, alerts, latency, precision and recall', async (t) => {
  const out = capture();
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-demo-test-'));
  const code = await runDemo({ users: 150, events: 3000, fraudRatio: 0.08, seed: 3, rate: 'auto', batchSize: 200, dataDir, logLevel: 'warn', stallMs: 60_000, progress: false }, {}, out.stream);
  const text = out.text();
  t.is(code, 0, text);
  const decisions = /decisions\s+ALLOW (\d+), CHALLENGE (\d+), BLOCK (\d+)/.exec(text);
  t.truthy(decisions, text);
  const [allow, challenge, block] = decisions!.slice(1).map(Number) as [number, number, number];
  t.is(allow + challenge + block, 3000, 'every event decided once');
  t.is(Number(/alerts\s+(\d+)/.exec(text)?.[1]), challenge + block, 'one alert per BLOCK or CHALLENGE');
  t.regex(text, /throughput\s+[\d,.]+ events\/s \(2250 events offered as fast as possible/);
  t.regex(text, /latency\s+p50 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms over 750 events/);
  const recall = /recall ([\d.]+) \((\d+) of (\d+) fraud events/.exec(text);
  t.truthy(recall, text);
  t.true(Number(recall![3]) > 0, 'there were fraud events');
  t.true(Number(recall![1]) > 0.3, `the default rules catch some fraud: ${recall![0]}`);
  t.regex(text, /precision [\d.]+ \(\d+ of \d+ flagged events/);
  // A kept data dir holds the engine's state.
  t.true(readdirSync(dataDir).length > 0);
});

test('phases: auto sends three quarters as fast as possible, then the rest at half that rate', (t) => {
  t.deepEqual(phasesOf(20_000, 'auto'), [
    { events: 15_000, rate: 0, latency: false },
    { events: 5000, rate: 'half', latency: true },
  ]);
  t.deepEqual(phasesOf(3, 'auto'), [{ events: 3, rate: 0, latency: true }]);
  t.deepEqual(phasesOf(100, 250), [{ events: 100, rate: 250, latency: true }]);
});
