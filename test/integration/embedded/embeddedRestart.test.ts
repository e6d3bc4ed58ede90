/**
 * Embedded mode as a user runs it: `risk-engine start` with no KAFKA_BROKERS, events posted over
 * HTTP, then a restart (SIGTERM, start again on the same DATA_DIR): the state is intact.
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnEngine } from '../helpers/child.ts';
import { pollUntil } from '../helpers/harness.ts';

test('embedded engine: events posted over HTTP are decided and the state survives a restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-embedded-'));
  const env = { KAFKA_BROKERS: '', DATA_DIR: dataDir, CONFIG_FILE: '' };
  const first = await spawnEngine('embedded', '', env);
  t.teardown(() => first.proc.kill('SIGKILL'));
  await first.started;

  const now = Date.now();
  const lines = [
    { eventId: 'e-1', userId: 'u-1', eventType: 'login', timestamp: now, deviceId: 'd-1', country: 'DE' },
    { eventId: 'e-2', userId: 'u-1', eventType: 'payment', timestamp: now + 1000, amount: '0.1', deviceId: 'd-1', country: 'DE' },
    { eventId: 'e-3', userId: 'u-1', eventType: 'payment', timestamp: now + 2000, amount: '0.2', deviceId: 'd-1', country: 'DE' },
    { eventId: 'e-4', userId: 'u-1', eventType: 'transfer', timestamp: now + 3000, amount: '25000', deviceId: 'd-1', country: 'DE' },
  ];
  const post = await fetch(`${first.adminUrl}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: lines.map((l) => JSON.stringify(l)).join('\n'),
  });
  t.is(post.status, 202);
  t.like(await post.json(), { accepted: 4, rejected: 0 });

  // Decided once the user's state shows all four events (the engine reports no other event).
  type User = { source: string; sequenceNumber: number; profile: Record<string, unknown>; decisions: { eventId: string; decision: string }[] };
  const user = await pollUntil(
    'u-1 to show four events',
    async () => {
      const res = await fetch(`${first.adminUrl}/users/u-1`);
      return res.status === 200 ? ((await res.json()) as User) : undefined;
    },
    (u) => u?.profile.eventCount === 4,
    30_000,
    50,
  );
  t.like(user?.profile, { eventCount: 4, loginCount: 1, paymentCount: 2, transferCount: 1, totalPaymentAmount: '0.3000', totalTransferAmount: '25000.0000' });
  t.is(user?.decisions.find((d) => d.eventId === 'e-4')?.decision, 'BLOCK');

  first.proc.kill('SIGTERM');
  t.deepEqual(await first.exited, { code: 0, signal: null });

  const second = await spawnEngine('embedded', '', env);
  t.teardown(() => second.proc.kill('SIGKILL'));
  await second.started;
  const again = (await (await fetch(`${second.adminUrl}/users/u-1`)).json()) as NonNullable<typeof user>;
  t.like(again.profile, { eventCount: 4, paymentCount: 2, totalPaymentAmount: '0.3000' });
  t.deepEqual(again.decisions.map((d) => d.eventId), ['e-1', 'e-2', 'e-3', 'e-4']);
  second.proc.kill('SIGTERM');
  t.is((await second.exited).code, 0);
});
