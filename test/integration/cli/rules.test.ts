import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { getRules, putRules } from '../../../src/cli/commands/rules.ts';
import { build, TOKEN } from '../../unit/admin/helpers.ts';
import { cli } from '../helpers/cli.ts';

async function listening(env: Record<string, string> = {}) {
  const built = build(env);
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 });
  return { ...built, url };
}


test('rules get / put FILE against the admin API with ADMIN_TOKEN as bearer', async (t) => {
  const { app, url, holder } = await listening({ ADMIN_TOKEN: TOKEN });
  t.teardown(() => app.close());

  const got = await getRules(url, TOKEN);
  t.is(got.exitCode, 0);
  const rules = JSON.parse(got.stdout) as Record<string, any>;
  t.is(rules.rulesVersion, 1);

  const file = join(mkdtempSync(join(tmpdir(), 'rules-cli-')), 'rules.json');
  writeFileSync(file, JSON.stringify({ ...rules, thresholds: { block: 0.8, challenge: 0.6 } }));
  const put = await putRules(file, url, TOKEN);
  t.is(put.exitCode, 0, put.stderr);
  t.is(JSON.parse(put.stdout).rulesVersion, 2);
  t.is(holder.current().thresholds.block, 0.8);

  const unauthorised = await getRules(url, undefined);
  t.is(unauthorised.exitCode, 1);
  t.is(JSON.parse(unauthorised.stderr).error.code, 'UNAUTHORIZED');

  writeFileSync(file, JSON.stringify({ ...rules, thresholds: { block: 0.5, challenge: 0.7 } }));
  const refused = await putRules(file, url, TOKEN);
  t.is(refused.exitCode, 1);
  t.regex(JSON.parse(refused.stderr).error.message, /^thresholds/);
  t.is(holder.current().thresholds.block, 0.8);

  const missing = await putRules(join(tmpdir(), 'no-such-rules-file.json'), url, TOKEN);
  t.is(missing.exitCode, 1);
  t.regex(missing.stderr, /cannot read/);
});

test('the risk-engine executable: rules get sends ADMIN_TOKEN; an unreachable API exits 1', async (t) => {
  const { app, url } = await listening({ ADMIN_TOKEN: TOKEN });
  t.teardown(() => app.close());
  const ok = await cli(['rules', 'get', '--url', url], { ADMIN_TOKEN: TOKEN });
  t.is(ok.code, 0, ok.stderr);
  t.is(JSON.parse(ok.stdout).rulesVersion, 1);
  await app.close();
  const down = await cli(['rules', 'get', '--url', url], { ADMIN_TOKEN: TOKEN });
  t.is(down.code, 1);
  t.is(JSON.parse(down.stderr).error.code, 'UNAVAILABLE');
});
