import { readFileSync } from 'node:fs';
import test from 'ava';
import { ENV_VARS } from '../../../src/config/settings.ts';
import { OTHER_VARIABLES, settingDocs, settingsHelp, type SettingDoc } from '../../../src/cli/settingsHelp.ts';

const docs = settingDocs();
const byPath = new Map(docs.map((d) => [d.path, d]));
const byEnv = new Map<string, SettingDoc>([...docs, ...OTHER_VARIABLES].filter((d) => d.env).map((d) => [d.env!, d]));

test('every setting of the schema is documented, every variable maps to a setting', (t) => {
  t.true(docs.length > 40);
  for (const d of docs) t.true(d.meaning.length > 5, d.path);
  for (const [name, spec] of Object.entries(ENV_VARS)) t.is(byPath.get(spec.path)?.env, name);
  t.is(byPath.get('kafka.brokers')?.default, 'unset (embedded)');
  t.is(byPath.get('admin.token')?.default, 'unset');
  t.is(byPath.get('admin.port')?.default, '8080');
  t.is(byPath.get('kafka.topics.inputs')?.default, 'login-events,payment-events,transfer-events');
});

test('start --help text lists every setting with its variable, default and meaning', (t) => {
  const help = settingsHelp();
  for (const d of docs) {
    t.true(help.includes(`  ${d.path}${d.env ? ` (env ${d.env})` : ''}  default: ${d.default}\n      ${d.meaning}\n`), d.path);
  }
  t.true(help.includes('CONFIG_FILE'));
});

// --- README's settings tables against the schema -------------------------------------------

const strip = (s: string): string => s.replace(/`/g, '').trim();

/** The markdown tables of README's "## Settings" section, as rows of cells (header first). */
function settingsTables(): string[][][] {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Settings\n'));
  if (!section) throw new Error('README.md has no "## Settings" section');
  const tables: string[][][] = [];
  let current: string[][] | null = null;
  for (const line of section.split('\n')) {
    if (!line.startsWith('|')) {
      current = null;
      continue;
    }
    const cells = line.slice(1, line.endsWith('|') ? -1 : undefined).split(/(?<!\\)\|/).map((c) => c.trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    if (!current) tables.push((current = []));
    current.push(cells);
  }
  return tables;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, day: 86_400_000, days: 86_400_000, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** A README default as a number when it is one ("30000", "100,000", "7 days", "1 GiB"), else null. */
function numberOf(text: string): number | null {
  const m = /^([\d,]+(?:\.\d+)?)(?:\s*(ms|s|min|h|days?|KiB|MiB|GiB))?$/.exec(text);
  if (!m) return null;
  return Number(m[1]!.replace(/,/g, '')) * (m[2] ? UNITS[m[2]]! : 1);
}

/** "a / b" cells of a row paired: one default for several names applies to each. */
function pairs(names: string, defaults: string): [string, string][] {
  const n = names.split(' / ').map(strip);
  const d = defaults.split(' / ');
  return n.map((name, i) => [name, d.length === n.length ? d[i]! : defaults]);
}

test("README's variable table agrees with the settings schema (names, defaults, meanings)", (t) => {
  const table = settingsTables().find((rows) => rows[0]![0] === 'variable');
  if (!table) return t.fail('README.md: no | variable | default | meaning | table under ## Settings');
  const listed = new Set<string>();
  for (const [names, defaults, meaning] of table.slice(1)) {
    const row = pairs(names!, defaults!);
    for (const [name, shown] of row) {
      listed.add(name);
      const doc = byEnv.get(name);
      if (!doc) {
        t.fail(`README.md names ${name}, which no setting reads (src/config/settings.ts ENV_VARS)`);
        continue;
      }
      t.is(strip(shown), doc.default, `README.md: default of ${name}`);
      if (row.length === 1) t.is(strip(meaning!), doc.meaning, `README.md: meaning of ${name}`);
    }
  }
  for (const name of Object.keys(ENV_VARS)) t.true(listed.has(name), `README.md's settings table lacks ${name}`);
  return undefined;
});

test("README's table of settings without a variable agrees with the schema", (t) => {
  const table = settingsTables().find((rows) => rows[0]![0] === 'setting');
  if (!table) return t.fail('README.md: no | setting | default | meaning | table under ## Settings');
  for (const [names, defaults, meaning] of table.slice(1)) {
    const row = pairs(names!, defaults!);
    let previous = '';
    for (const [written, shown] of row) {
      // "a.b.c / .d" is short for a.b.c and a.b.d
      const path = written.startsWith('.') ? `${previous.slice(0, previous.lastIndexOf('.'))}${written}` : written;
      previous = path;
      const doc = byPath.get(path);
      if (!doc) {
        t.fail(`README.md names setting ${path}, which the schema does not have`);
        continue;
      }
      t.is(doc.env, undefined, `${path} has a variable (${doc.env}): it belongs in the variable table`);
      const text = strip(shown);
      const asNumber = numberOf(text);
      if (asNumber !== null) t.is(asNumber, Number(doc.default), `README.md: default of ${path}`);
      else if (shown.trim().startsWith('`')) t.is(text, doc.default, `README.md: default of ${path}`);
      if (row.length === 1) t.is(strip(meaning!), doc.meaning, `README.md: meaning of ${path}`);
    }
  }
  return undefined;
});

test('the README parser sees a wrong default (the check can fail)', (t) => {
  t.is(numberOf('7 days'), 604_800_000);
  t.is(numberOf('100,000'), 100_000);
  t.is(numberOf('a table of 11 currencies'), null);
  t.deepEqual(pairs('`ADMIN_HOST` / `ADMIN_PORT`', '`127.0.0.1` / `8080`'), [['ADMIN_HOST', '`127.0.0.1`'], ['ADMIN_PORT', '`8080`']]);
});
