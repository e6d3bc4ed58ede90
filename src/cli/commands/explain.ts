/**
 * `risk-engine explain <eventId>`: why an event got its decision (GET /decisions/:eventId/explain),
 * as a table of the weighted features (value, weight, contribution), the hard rules, and whether
 * deciding it again gave the same answer. `--json` prints the API's answer as it is.
 */
import type { Command } from 'commander';
import type { Explanation } from '../../domain/explain.ts';
import { adminRequest, defaultAdminUrl, printResult, type CliResult } from '../adminClient.ts';

const fixed = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(4));

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatExplanation(x: Explanation): string {
  const d = x.decision;
  const out: string[] = [];
  out.push(`event ${d.eventId} of user ${d.userId} (${d.eventType}), decided ${new Date(d.decidedAt).toISOString()} on shard ${d.shard}`);
  out.push(`decision ${d.decision}, riskScore ${d.riskScore}, rules version ${x.rulesVersion}, model ${d.modelVersion}`);
  const replay = x.replayed ? `${x.replayed.decision}, riskScore ${x.replayed.riskScore}` : 'not decided (the state before already knew the event)';
  out.push(`replayed: ${replay} -> ${x.reproduced ? 'reproduced' : 'NOT reproduced'}`);
  out.push(`state before: entry ${x.stateBefore.sequenceNumber}, ${x.stateBefore.profile.eventCount} events`);
  out.push('');
  const rows = x.contributions.map((c) => [c.feature, fixed(c.value), fixed(c.weight), fixed(c.contribution)]);
  rows.push(['(bias)', '', '', fixed(x.bias)], ['logit', '', '', fixed(x.logit)]);
  out.push(table(['feature', 'value', 'weight', 'contribution'], rows, [false, true, true, true]));
  if (x.hardRules.length) {
    out.push('');
    out.push(table(['hard rule', 'forces', 'matched'], x.hardRules.map((r) => [r.id, r.decision, r.matched ? 'yes' : 'no']), [false, false, false]));
  }
  out.push('');
  out.push(d.reasons.length ? table(['reason', 'weight', 'detail'], d.reasons.map((r) => [r.code, fixed(r.weight), r.detail]), [false, true, false]) : 'no reasons');
  return `${out.join('\n')}\n`;
}

export async function explain(eventId: string, baseUrl: string, bearer: string | undefined, options: { userId?: string; json?: boolean } = {}): Promise<CliResult> {
  const query = options.userId === undefined ? '' : `?userId=${encodeURIComponent(options.userId)}`;
  const result = await adminRequest(baseUrl, `/decisions/${encodeURIComponent(eventId)}/explain${query}`, { token: bearer });
  if (result.exitCode !== 0 || options.json) return result;
  return { ...result, stdout: formatExplanation(JSON.parse(result.stdout) as Explanation) };
}

export function register(program: Command): void {
  program
    .command('explain')
    .description('explain a decision: the features, weights and hard rules behind it, decided again from the state before the event')
    .argument('<eventId>', 'the event id')
    .option('--user-id <id>', 'the user, when several users sent this event id')
    .option('--json', 'print the API answer as JSON')
    .option('--url <url>', 'admin API base URL (default http://$ADMIN_HOST:$ADMIN_PORT, 127.0.0.1:8080)')
    .action(async (eventId: string, opts: { url?: string; userId?: string; json?: boolean }) => {
      printResult(await explain(eventId, opts.url ?? defaultAdminUrl(), process.env.ADMIN_TOKEN || undefined, opts));
    });
}
