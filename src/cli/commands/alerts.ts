/**
 * `risk-engine alerts [subject]`: tails alerts on NATS (CONTRACT §4) as they come, one line each:
 * `<subject> <JSON body>`. Default subject `risk.alerts.>`; server from NATS_URL or --url.
 * Runs until SIGINT/SIGTERM (then drains and exits 0). "listening on ..." goes to stderr once the
 * subscription is registered with the server.
 */
import type { Command } from 'commander';
import { connect } from '@nats-io/transport-node';
import { loadSettings } from '../../config/settings.ts';
import { natsConnectOptions, type NatsAuth } from '../../transport/nats/natsConnection.ts';
import { redactUrl } from '../../config/connections.ts';

export const DEFAULT_SUBJECT = 'risk.alerts.>';

/** One output line: the subject, a space, the body as one line of JSON (as received when not JSON). */
export function alertLine(subject: string, body: string): string {
  let oneLine = body;
  try {
    oneLine = JSON.stringify(JSON.parse(body));
  } catch {
    oneLine = body.replace(/\r?\n/g, ' ');
  }
  return `${subject} ${oneLine}\n`;
}

/** `auth`: the server and the credentials (NATS_TOKEN, NATS_USER/NATS_PASSWORD, NATS_CREDS_FILE, NATS_TLS_CA_FILE) the engine uses. */
export async function tailAlerts(auth: NatsAuth | string, subject: string, out: (line: string) => void, err: (line: string) => void): Promise<() => Promise<void>> {
  const a = typeof auth === 'string' ? { url: auth } : auth;
  const url = redactUrl(a.url);
  const nc = await connect({ ...natsConnectOptions(a), name: 'risk-engine-alerts', reconnect: true, maxReconnectAttempts: -1 });
  const sub = nc.subscribe(subject, { callback: (e, msg) => (e ? err(`risk-engine alerts: ${e.message}\n`) : out(alertLine(msg.subject, msg.string()))) });
  await nc.flush();
  err(`listening on ${subject} at ${url}\n`);
  return async () => {
    sub.unsubscribe();
    await nc.drain().catch(() => nc.close());
  };
}

export function register(program: Command): void {
  program
    .command('alerts')
    .description('print alerts from NATS as they come (until Ctrl-C)')
    .argument('[subject]', 'subject to subscribe to', DEFAULT_SUBJECT)
    .option('--url <url>', 'NATS server (default $NATS_URL, nats://127.0.0.1:4222)')
    .action(async (subject: string, opts: { url?: string }) => {
      let stop: () => Promise<void>;
      let url = opts.url ?? (process.env.NATS_URL || 'nats://127.0.0.1:4222');
      try {
        const { nats } = loadSettings({ ...process.env, NATS_URL: url });
        url = redactUrl(url);
        stop = await tailAlerts(nats, subject, (l) => process.stdout.write(l), (l) => process.stderr.write(l));
      } catch (e) {
        process.stderr.write(`risk-engine alerts: cannot subscribe to ${subject} at ${url}: ${(e as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      await new Promise<void>((resolve) => {
        const done = () => void stop().finally(resolve);
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      process.exitCode = 0;
    });
}
