import test from 'ava';
import { loadSettings } from '../../../src/config/settings.ts';
import { ConfigError } from '../../../src/errors.ts';

const KAFKA = { KAFKA_BROKERS: '127.0.0.1:9092' };

test('workers: 1 by default; RISK_WORKERS sets it; --workers wins over RISK_WORKERS', (t) => {
  t.is(loadSettings(KAFKA).workers, 1);
  t.is(loadSettings({ ...KAFKA, RISK_WORKERS: '3' }).workers, 3);
  t.is(loadSettings({ ...KAFKA, RISK_WORKERS: '3' }, { workers: '2' }).workers, 2);
});

for (const [env, flags, expected] of [
  [{ RISK_WORKERS: '0' }, {}, /^invalid setting RISK_WORKERS: expects a number of engine processes 1\.\.64/],
  [{ RISK_WORKERS: 'two' }, {}, /^invalid setting RISK_WORKERS: expects a number of engine processes 1\.\.64/],
  [{}, { workers: '65' }, /^invalid setting --workers: expects a number of engine processes 1\.\.64/],
  [{}, { workers: '1.5' }, /^invalid setting --workers: /],
] as const) {
  test(`a bad worker count (${JSON.stringify({ ...env, ...flags })}) names where it came from, in one line`, (t) => {
    const err = t.throws(() => loadSettings({ ...KAFKA, ...env }, flags), { instanceOf: ConfigError });
    t.regex(err!.message, expected);
    t.false(err!.message.includes('\n'));
  });
}

test('embedded (no KAFKA_BROKERS) with more than one worker is refused, naming the source', (t) => {
  t.is(loadSettings({}, { workers: '1' }).workers, 1);
  const flag = t.throws(() => loadSettings({}, { workers: '2' }), { instanceOf: ConfigError });
  t.regex(flag!.message, /^invalid setting --workers: expects 1 when running embedded \(KAFKA_BROKERS unset\), got 2/);
  const env = t.throws(() => loadSettings({ RISK_WORKERS: '4' }), { instanceOf: ConfigError });
  t.regex(env!.message, /^invalid setting RISK_WORKERS: expects 1 when running embedded/);
});
