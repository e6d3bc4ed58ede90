/**
 * Start-up refusals of `risk-engine start` as a child process: like every bad setting, one line on
 * stderr naming the setting, exit code 2. Embedded (KAFKA_BROKERS unset), so no service is needed.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './instance.ts';

function listening(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

function start(env: Record<string, string | undefined>) {
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-start-'));
  return runCli(['start'], { KAFKA_BROKERS: undefined, CONFIG_FILE: undefined, ADMIN_TOKEN: undefined, ADMIN_HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env }).finally(() =>
    rmSync(dataDir, { recursive: true, force: true }),
  );
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

test('a port in use: one line naming ADMIN_PORT and ADMIN_HOST, exit 2', async (t) => {
  const { server, port } = await listening();
  t.teardown(() => server.close());
  const run = await start({ ADMIN_PORT: String(port) });
  t.is(run.code, 2, run.stderr);
  t.deepEqual(lines(run.stderr), [`risk-engine: invalid setting ADMIN_PORT: expects a port that is free on ADMIN_HOST 127.0.0.1 (${port} is in use)`]);
});

test('an ADMIN_TOKEN with whitespace: one line naming ADMIN_TOKEN (not its value), exit 2', async (t) => {
  const run = await start({ ADMIN_PORT: '0', ADMIN_TOKEN: 'secret-secret-secret secret' });
  t.is(run.code, 2, run.stderr);
  const [line, ...rest] = lines(run.stderr);
  t.deepEqual(rest, []);
  t.regex(line ?? '', /^risk-engine: invalid setting ADMIN_TOKEN: expects a bearer token .*no whitespace/);
  t.false(run.stderr.includes('secret'));
});

test('a non-loopback look-alike host without a token: one line naming ADMIN_HOST, exit 2', async (t) => {
  const run = await start({ ADMIN_PORT: '0', ADMIN_HOST: '127.evil.example' });
  t.is(run.code, 2, run.stderr);
  t.deepEqual(lines(run.stderr), ['risk-engine: invalid setting ADMIN_HOST: expects a loopback address (127.0.0.1, ::1, localhost) unless ADMIN_TOKEN is set']);
});
