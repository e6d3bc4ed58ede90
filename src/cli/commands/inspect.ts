/**
 * `risk-engine inspect <userId>`: a user's state from a running engine's admin API
 * (GET /users/:userId), pretty-printed. Sends ADMIN_TOKEN as the bearer token when it is set.
 * Exit 0 with the state on stdout; exit 1 with the JSON error on stderr for a 4xx/5xx answer or
 * when the API cannot be reached.
 */
import type { Command } from 'commander';

export function defaultAdminUrl(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.ADMIN_HOST || '127.0.0.1';
  const port = env.ADMIN_PORT || '8080';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface InspectResult {
  exitCode: 0 | 1;
  stdout: string;
  stderr: string;
}

export async function inspectUser(userId: string, baseUrl: string, token: string | undefined): Promise<InspectResult> {
  const url = `${baseUrl.replace(/\/+$/, '')}/users/${encodeURIComponent(userId)}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    const error = { error: { code: 'UNAVAILABLE', message: `cannot reach the admin API at ${baseUrl}: ${cause}` } };
    return { exitCode: 1, stdout: '', stderr: `${JSON.stringify(error, null, 2)}\n` };
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: printed as received
  }
  const printed = typeof body === 'string' ? `${body}\n` : `${JSON.stringify(body, null, 2)}\n`;
  if (res.status >= 400) return { exitCode: 1, stdout: '', stderr: printed };
  return { exitCode: 0, stdout: printed, stderr: '' };
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description("print a user's state from a running engine's admin API")
    .argument('<userId>', 'the user id')
    .option('--url <url>', 'admin API base URL (default http://$ADMIN_HOST:$ADMIN_PORT, 127.0.0.1:8080)')
    .action(async (userId: string, opts: { url?: string }) => {
      const result = await inspectUser(userId, opts.url ?? defaultAdminUrl(), process.env.ADMIN_TOKEN || undefined);
      if (result.stdout) process.stdout.write(result.stdout);
      if (result.stderr) process.stderr.write(result.stderr);
      process.exitCode = result.exitCode;
    });
}
