/**
 * `risk-engine inspect <userId>`: a user's state from a running engine's admin API
 * (GET /users/:userId), pretty-printed. Sends ADMIN_TOKEN as the bearer token when it is set.
 * Exit 0 with the state on stdout; exit 1 with the JSON error on stderr for a 4xx/5xx answer or
 * when the API cannot be reached.
 */
import type { Command } from 'commander';
import { adminRequest, defaultAdminUrl, printResult, type CliResult } from '../adminClient.ts';

export { defaultAdminUrl } from '../adminClient.ts';
export type InspectResult = CliResult;

export function inspectUser(userId: string, baseUrl: string, token: string | undefined): Promise<InspectResult> {
  return adminRequest(baseUrl, `/users/${encodeURIComponent(userId)}`, { token });
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description("print a user's state from a running engine's admin API")
    .argument('<userId>', 'the user id')
    .option('--url <url>', 'admin API base URL (default http://$ADMIN_HOST:$ADMIN_PORT, 127.0.0.1:8080)')
    .action(async (userId: string, opts: { url?: string }) => {
      printResult(await inspectUser(userId, opts.url ?? defaultAdminUrl(), process.env.ADMIN_TOKEN || undefined));
    });
}
