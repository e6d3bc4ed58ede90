/**
 * A request to a running engine's admin API from the command line: ADMIN_TOKEN as the bearer
 * token when set; the answer pretty-printed, on stdout for 2xx and on stderr (exit 1) otherwise,
 * or a JSON UNAVAILABLE error when the API cannot be reached.
 */
export interface CliResult {
  exitCode: 0 | 1;
  stdout: string;
  stderr: string;
}

export function defaultAdminUrl(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.ADMIN_HOST || '127.0.0.1';
  const port = env.ADMIN_PORT || '8080';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function adminRequest(
  baseUrl: string,
  path: string,
  options: { method?: string; body?: string; token?: string | undefined } = {},
): Promise<CliResult> {
  const url = `${baseUrl.replace(/\/+$/, '')}${path}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, { method: options.method ?? 'GET', headers, ...(options.body !== undefined ? { body: options.body } : {}) });
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

export function printResult(result: CliResult): void {
  if (result.stdout) process.stdout.write(result.stdout);
  if (result.stderr) process.stderr.write(result.stderr);
  process.exitCode = result.exitCode;
}
