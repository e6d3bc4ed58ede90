import { readFileSync } from 'node:fs';
import test from 'ava';
import { runCli } from '../../../src/cli/program.ts';
import { USAGE_EXIT_CODE } from '../../../src/cli/usage.ts';
import { embeddedBanner } from '../../../src/app/run.ts';

async function run(...args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'risk-engine', ...args], { writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  return { code, out, err };
}

test('--version prints the package version', async (t) => {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  const r = await run('--version');
  t.is(r.code, 0);
  t.is(r.out, `${version}\n`);
});

test('start --help lists the settings with variables and defaults', async (t) => {
  const r = await run('start', '--help');
  t.is(r.code, 0);
  t.regex(r.out, /--workers <n>/);
  t.regex(r.out, /kafka\.brokers \(env KAFKA_BROKERS\) {2}default: unset \(embedded\)\n {6}comma list of host:port/);
  t.regex(r.out, /kafka\.commitIntervalMs {2}default: 50\n/);
  t.regex(r.out, /CONFIG_FILE/);
});

for (const [args, message, help] of [
  [['start', '--bogus'], "unknown option '--bogus'", 'risk-engine start'],
  [['start', '--worker', '2'], "unknown option '--worker' (Did you mean --workers?)", 'risk-engine start'],
  [['nonsense'], "unknown command 'nonsense'", 'risk-engine'],
  [['rules', 'put'], "missing required argument 'file'", 'risk-engine rules put'],
  [['inspect', 'u-1', 'extra'], 'too many arguments for', 'risk-engine inspect'],
] as const) {
  test(`usage error ${args.join(' ')}: one line with the --help to read, exit 2`, async (t) => {
    const r = await run(...args);
    t.is(r.code, USAGE_EXIT_CODE);
    t.is(r.out, '');
    t.true(r.err.startsWith(`risk-engine: ${message}`), r.err);
    t.true(r.err.endsWith(`(see '${help} --help')\n`), r.err);
    t.is(r.err.split('\n').length, 2, 'one line');
  });
}

test("the start banner's example event has a fresh eventId each start", (t) => {
  const ids = [0, 1].map(() => /"eventId":"([^"]+)"/.exec(embeddedBanner('http://127.0.0.1:8080', './data'))?.[1]);
  t.truthy(ids[0]);
  t.not(ids[0], ids[1]);
});
