/**
 * `risk-engine decide`: sends one event to a running engine's POST /decide and prints the
 * committed decision. The event is the JSON on stdin (`risk-engine decide < event.json`), or is
 * built from flags (--event-id, --user-id, --type, ...; the timestamp defaults to now).
 * Exit 0 with the decision on stdout; 3 with {"status":"pending"} when it was not committed
 * within --timeout-ms (ask again with GET /decisions/<eventId>); 1 with the API's error on stderr.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { adminRequest, defaultAdminUrl, printResult, type CliResult } from '../adminClient.ts';

/** Exit code when the decision was not committed in time (202 pending). */
export const PENDING_EXIT_CODE = 3;

export interface DecideFlags {
  eventId?: string;
  userId?: string;
  type?: string;
  amount?: string;
  currency?: string;
  device?: string;
  ip?: string;
  country?: string;
  timestamp?: string;
  riskScore?: string;
}

/** The event of the flags; null when none of the event's flags is given (the event comes on stdin then). */
export function eventFromFlags(f: DecideFlags, now: () => number = Date.now): Record<string, unknown> | null {
  if (f.userId === undefined && f.type === undefined && f.eventId === undefined) return null;
  const event: Record<string, unknown> = {
    eventId: f.eventId ?? randomUUID(),
    userId: f.userId,
    eventType: f.type ?? 'payment',
    timestamp: f.timestamp === undefined ? now() : /^\d+$/.test(f.timestamp) ? Number(f.timestamp) : Date.parse(f.timestamp),
  };
  if (f.amount !== undefined) event.amount = f.amount;
  if (f.currency !== undefined) event.currency = f.currency;
  if (f.device !== undefined) event.deviceId = f.device;
  if (f.ip !== undefined) event.ip = f.ip;
  if (f.country !== undefined) event.country = f.country;
  if (f.riskScore !== undefined) event.riskScore = Number(f.riskScore);
  return event;
}

export async function decide(body: string, baseUrl: string, bearer: string | undefined, timeoutMs?: number): Promise<CliResult | (Omit<CliResult, 'exitCode'> & { exitCode: number })> {
  const query = timeoutMs === undefined ? '' : `?timeoutMs=${timeoutMs}`;
  const result = await adminRequest(baseUrl, `/decide${query}`, { method: 'POST', body, token: bearer });
  if (result.exitCode === 0 && /"status":\s*"pending"/.test(result.stdout)) return { ...result, exitCode: PENDING_EXIT_CODE };
  return result;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export function register(program: Command): void {
  program
    .command('decide')
    .description('send one event to POST /decide and print its committed decision (the event as JSON on stdin, or from the flags)')
    .option('--url <url>', 'admin API base URL (default http://$ADMIN_HOST:$ADMIN_PORT, 127.0.0.1:8080)')
    .option('--timeout-ms <ms>', 'how long the engine waits for the committed decision (1..30000; default 2000)')
    .option('--event-id <id>', 'eventId (default a random UUID)')
    .option('--user-id <id>', 'userId')
    .option('--type <eventType>', 'eventType (default payment)')
    .option('--amount <amount>', 'amount, e.g. 25.00')
    .option('--currency <code>', 'currency, e.g. EUR')
    .option('--device <id>', 'deviceId')
    .option('--ip <ip>', 'ip')
    .option('--country <code>', 'country')
    .option('--timestamp <ms|ISO>', 'event time (default now)')
    .option('--risk-score <0..1>', 'upstream riskScore')
    .action(async (opts: DecideFlags & { url?: string; timeoutMs?: string }) => {
      const fromFlags = eventFromFlags(opts);
      const body = fromFlags ? JSON.stringify(fromFlags) : await readAll(process.stdin);
      const timeoutMs = opts.timeoutMs === undefined ? undefined : Number(opts.timeoutMs);
      const result = await decide(body, opts.url ?? defaultAdminUrl(), process.env.ADMIN_TOKEN || undefined, timeoutMs);
      printResult(result as CliResult);
      process.exitCode = result.exitCode;
    });
}
