import test from 'ava';
import { isEmbedded, isLoopback, loadSettings } from '../../../src/config/settings.ts';
import { ConfigError } from '../../../src/errors.ts';

test('defaults: embedded, contract topics and admin on loopback', (t) => {
  const s = loadSettings({});
  t.true(isEmbedded(s));
  t.deepEqual(s.kafka.topics.inputs, ['login-events', 'payment-events', 'transfer-events']);
  t.is(s.kafka.topics.decisions, 'risk-decisions');
  t.is(s.kafka.topics.dlq, 'risk-events-dlq');
  t.is(s.kafka.groupId, 'risk-engine');
  t.true(s.kafka.fromBeginning);
  t.is(s.redis.url, 'redis://127.0.0.1:6379');
  t.is(s.redis.prefix, 'risk');
  t.is(s.admin.host, '127.0.0.1');
  t.is(s.admin.port, 8080);
});

test('environment overrides config', (t) => {
  const s = loadSettings({
    KAFKA_BROKERS: 'a:9092, b:9093',
    KAFKA_GROUP_ID: 'g',
    KAFKA_FROM_BEGINNING: 'false',
    STATE_PREFIX: 'p1',
    ADMIN_PORT: '9000',
    INSTANCE_ID: 'i-1',
  });
  t.deepEqual(s.kafka.brokers, ['a:9092', 'b:9093']);
  t.false(isEmbedded(s));
  t.is(s.kafka.groupId, 'g');
  t.false(s.kafka.fromBeginning);
  t.is(s.redis.prefix, 'p1');
  t.is(s.admin.port, 9000);
  t.is(s.instanceId, 'i-1');
});

test('CONFIG_FILE is deep-merged over the defaults', (t) => {
  const s = loadSettings({ CONFIG_FILE: 'config/test.json' });
  t.is(s.kafka.partitions, 4);
  t.is(s.kafka.groupId, 'risk-engine');
});

for (const [name, value, expected] of [
  ['ADMIN_PORT', 'eighty', /ADMIN_PORT: expects a port number/],
  ['KAFKA_BROKERS', 'nohost', /KAFKA_BROKERS: expects a comma-separated list of host:port/],
  ['KAFKA_FROM_BEGINNING', 'maybe', /KAFKA_FROM_BEGINNING: expects true or false/],
  ['REDIS_URL', 'http://x', /REDIS_URL: expects a redis:\/\//],
  ['ADMIN_TOKEN', 'short', /ADMIN_TOKEN: expects a bearer token of at least 16/],
  ['CONFIG_FILE', '/nonexistent.json', /CONFIG_FILE: expects a readable JSON file/],
] as const) {
  test(`a bad ${name} names the setting in one line`, (t) => {
    const err = t.throws(() => loadSettings({ [name]: value }), { instanceOf: ConfigError });
    t.regex(err!.message, expected);
    t.false(err!.message.includes('\n'));
  });
}

test('a non-loopback admin bind needs a token', (t) => {
  t.throws(() => loadSettings({ ADMIN_HOST: '0.0.0.0' }), { message: /ADMIN_HOST: expects a loopback address/ });
  t.is(loadSettings({ ADMIN_HOST: '0.0.0.0', ADMIN_TOKEN: 'x'.repeat(32) }).admin.host, '0.0.0.0');
});

for (const [name, token] of [
  ['leading', ` ${'t'.repeat(20)}`],
  ['trailing', `${'t'.repeat(20)}\n`],
  ['inner', `${'t'.repeat(10)} ${'t'.repeat(10)}`],
  ['a tab', `${'t'.repeat(10)}\t${'t'.repeat(10)}`],
  ['a no-break space', `${'t'.repeat(10)}\u00a0${'t'.repeat(10)}`],
  ['only', ' '.repeat(20)],
] as const) {
  test(`an ADMIN_TOKEN with ${name} whitespace is refused in one line that does not show it`, (t) => {
    const err = t.throws(() => loadSettings({ ADMIN_TOKEN: token }), { instanceOf: ConfigError });
    t.regex(err!.message, /^invalid setting ADMIN_TOKEN: expects a bearer token .*no whitespace/);
    t.false(err!.message.includes('\n'));
    t.false(err!.message.includes('tttttttttt'));
  });
}

test('an ADMIN_TOKEN of visible ASCII is taken as it is', (t) => {
  const token = 'Ab0-._~+/=!#$%&*xyz';
  t.is(loadSettings({ ADMIN_TOKEN: token }).admin.token, token);
});

for (const host of ['127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '0:0:0:0:0:0:0:1', '0000:0000:0000:0000:0000:0000:0000:0001', '::0:1', 'localhost']) {
  test(`the loopback check accepts ${host}`, (t) => {
    t.true(isLoopback(host));
    t.is(loadSettings({ ADMIN_HOST: host }).admin.host, host);
  });
}

for (const host of ['127.evil.com', '127.0.0.1.nip.io', '127.0.0.256', '127.1', '127.000.0.1', '0177.0.0.1', '128.0.0.1', '0.0.0.0', '::', '::2', '::ffff:127.0.0.1', '::1%lo', '[::1]', 'localhost.evil.com', 'evil-localhost', 'LOCALHOST.', '']) {
  test(`the loopback check refuses ${JSON.stringify(host)}`, (t) => {
    t.false(isLoopback(host));
    if (host) t.throws(() => loadSettings({ ADMIN_HOST: host }), { message: /ADMIN_HOST: expects a loopback address/ });
  });
}
