/** backtest and rebuild: what they refuse before touching any service (exit 2, one line naming the problem). */
import test from 'ava';
import sinon from 'sinon';
import { runBacktestCli } from '../../../src/cli/commands/backtest.ts';
import { runRebuildCli } from '../../../src/cli/commands/rebuild.ts';
import { runCli } from '../../../src/cli/program.ts';

function captureStderr(): { text: () => string; restore: () => void } {
  const stub = sinon.stub(process.stderr, 'write').returns(true);
  return { text: () => stub.getCalls().map((c) => String(c.args[0])).join(''), restore: () => stub.restore() };
}

test.serial('rebuild refuses the embedded mode, the live namespace and the live group, and a bad prefix (exit 2)', async (t) => {
  const cases: [Parameters<typeof runRebuildCli>[0], Record<string, string>, RegExp][] = [
    [{ statePrefix: 'green', group: 'g2' }, {}, /needs Kafka and Redis/],
    [{ statePrefix: 'risk', group: 'g2' }, { KAFKA_BROKERS: '127.0.0.1:1' }, /is the live namespace/],
    [{ statePrefix: 'green', group: 'risk-engine' }, { KAFKA_BROKERS: '127.0.0.1:1' }, /is the live group/],
    [{ statePrefix: 'bad prefix', group: 'g2' }, { KAFKA_BROKERS: '127.0.0.1:1' }, /--state-prefix: letters/],
  ];
  for (const [opts, env, message] of cases) {
    const err = captureStderr();
    try {
      t.is(await runRebuildCli(opts, env), 2);
      t.regex(err.text(), message);
      t.regex(err.text(), /^risk-engine rebuild: /);
    } finally {
      err.restore();
    }
  }
});

test.serial('backtest refuses unreadable or invalid rules and bad times (exit 2)', async (t) => {
  const cases: [Parameters<typeof runBacktestCli>[0], RegExp][] = [
    [{ rules: 'no/such/file.json' }, /--rules no\/such\/file.json/],
    [{ rules: 'package.json' }, /--rules package.json: /],
    [{ rules: 'config/default-rules.json', from: 'last week' }, /--from: expects an ISO date/],
    [{ rules: 'config/default-rules.json', from: '2025-01-02T00:00:00Z', to: '2025-01-01T00:00:00Z' }, /--to is before --from/],
  ];
  for (const [opts, message] of cases) {
    const err = captureStderr();
    try {
      t.is(await runBacktestCli(opts, {}), 2);
      t.regex(err.text(), message);
    } finally {
      err.restore();
    }
  }
});

test.serial('backtest and rebuild are commands of risk-engine; their required options are usage errors', async (t) => {
  const out: string[] = [];
  const output = { writeOut: (s: string) => void out.push(s), writeErr: (s: string) => void out.push(s) };
  t.is(await runCli(['node', 'risk-engine', 'backtest'], output), 2);
  t.regex(out.join(''), /required option '--rules <file>' not specified \(see 'risk-engine backtest --help'\)/);
  out.length = 0;
  t.is(await runCli(['node', 'risk-engine', 'rebuild', '--group', 'g'], output), 2);
  t.regex(out.join(''), /--state-prefix <prefix>/);
});
