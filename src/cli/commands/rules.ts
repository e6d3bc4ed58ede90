/**
 * `risk-engine rules get` prints the rules in force (GET /rules); `risk-engine rules put FILE`
 * replaces them with the rules object in FILE ("-" = stdin) through PUT /rules, which validates
 * it, bumps rulesVersion and applies it on every instance; the applied object is printed.
 * ADMIN_TOKEN is sent as the bearer token when set. Exit 1 with the API's error on stderr.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { adminRequest, defaultAdminUrl, printResult, type CliResult } from '../adminClient.ts';

const token = (): string | undefined => process.env.ADMIN_TOKEN || undefined;

export function getRules(baseUrl: string, bearer: string | undefined): Promise<CliResult> {
  return adminRequest(baseUrl, '/rules', { token: bearer });
}

export async function putRules(file: string, baseUrl: string, bearer: string | undefined, readStdin = () => readAll(process.stdin)): Promise<CliResult> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    return { exitCode: 1, stdout: '', stderr: `risk-engine: cannot read ${file}: ${(err as Error).message}\n` };
  }
  try {
    JSON.parse(text);
  } catch (err) {
    return { exitCode: 1, stdout: '', stderr: `risk-engine: ${file} is not JSON: ${(err as Error).message}\n` };
  }
  return adminRequest(baseUrl, '/rules', { method: 'PUT', body: text, token: bearer });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export function register(program: Command): void {
  const rules = program.command('rules').description("read or replace the rules of a running engine (admin API)");
  const urlOption = ['--url <url>', 'admin API base URL (default http://$ADMIN_HOST:$ADMIN_PORT, 127.0.0.1:8080)'] as const;
  rules
    .command('get')
    .description('print the rules in force')
    .option(...urlOption)
    .action(async (opts: { url?: string }) => printResult(await getRules(opts.url ?? defaultAdminUrl(), token())));
  rules
    .command('put')
    .description('replace the rules with the object in FILE ("-" = stdin); its rulesVersion is ignored, the applied version is printed')
    .argument('<file>', 'JSON rules object, as `rules get` prints it')
    .option(...urlOption)
    .action(async (file: string, opts: { url?: string }) => printResult(await putRules(file, opts.url ?? defaultAdminUrl(), token())));
}
