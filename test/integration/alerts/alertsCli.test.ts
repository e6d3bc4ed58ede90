/** `risk-engine alerts [subject]`: one line per alert (subject + JSON body) until SIGINT. */
import test from 'ava';
import { silentLogger } from '../../../src/log.ts';
import { NatsAlertBus } from '../../../src/transport/nats/NatsAlertBus.ts';
import type { Alert } from '../../../src/transport/ports.ts';
import { NATS_URL, testSettings, uniqueId } from '../helpers/harness.ts';
import { spawnCli } from '../admin/instance.ts';

async function openBus(): Promise<NatsAlertBus> {
  const s = testSettings(uniqueId('bus')).nats;
  return NatsAlertBus.connect({ url: s.url, stream: s.stream, duplicateWindowMs: s.duplicateWindowMs, bufferSize: 100 }, silentLogger);
}

const alertOf = (id: string, n: number, decision: Alert['decision'], eventType: string): Alert => ({
  alertId: `${id}-e${n}`,
  userId: `${id}-u`,
  eventId: `${id}-e${n}`,
  eventType,
  decision,
  riskScore: 0.95,
  reasons: [{ code: 'HARD_RULE:test', weight: 1, detail: 'test' }],
  at: Date.now(),
});

test('default subject risk.alerts.>: prints each alert as "<subject> <json>"; SIGINT exits 0', async (t) => {
  const id = uniqueId('cli');
  const eventType = `cli-${id}`; // a subject of this test only
  const bus = await openBus();
  t.teardown(() => bus.close());
  const cli = spawnCli(['alerts'], { NATS_URL });
  t.teardown(() => void (cli.proc.exitCode === null && cli.proc.kill('SIGKILL')));
  await cli.line('stderr', (l) => l.startsWith('listening on risk.alerts.> '));

  const block = alertOf(id, 1, 'BLOCK', eventType);
  const challenge = alertOf(id, 2, 'CHALLENGE', eventType);
  await bus.publish(block, null);
  await bus.publish(challenge, null);
  const mine = (l: string) => l.includes(`.${eventType} `);
  const first = await cli.line('stdout', mine);
  const second = await cli.line('stdout', (l) => mine(l) && l !== first);
  t.is(first, `risk.alerts.block.${eventType} ${JSON.stringify(block)}`);
  t.is(second, `risk.alerts.challenge.${eventType} ${JSON.stringify(challenge)}`);

  cli.proc.kill('SIGINT');
  t.deepEqual(await cli.exited, { code: 0, signal: null });
});

test('a subject argument filters: risk.alerts.challenge.<type> gets no BLOCK alert', async (t) => {
  const id = uniqueId('cli');
  const eventType = `cli-${id}`;
  const bus = await openBus();
  t.teardown(() => bus.close());
  const subject = `risk.alerts.challenge.${eventType}`;
  const cli = spawnCli(['alerts', subject], { NATS_URL });
  t.teardown(() => void (cli.proc.exitCode === null && cli.proc.kill('SIGKILL')));
  await cli.line('stderr', (l) => l.startsWith(`listening on ${subject} `));

  // Published in this order on one connection, so a BLOCK line would come first if it came at all.
  await bus.publish(alertOf(id, 1, 'BLOCK', eventType), null);
  await bus.publish(alertOf(id, 2, 'CHALLENGE', eventType), null);
  const line = await cli.line('stdout', () => true);
  t.true(line.startsWith(`${subject} `), line);
  t.is(JSON.parse(line.slice(subject.length + 1)).eventId, `${id}-e2`);
  t.deepEqual(cli.lines.stdout, [line]);

  cli.proc.kill('SIGINT');
  t.is((await cli.exited).code, 0);
});
