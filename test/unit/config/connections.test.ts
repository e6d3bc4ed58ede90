import test from 'ava';
import { loadSettings } from '../../../src/config/settings.ts';
import { redactUrl } from '../../../src/config/connections.ts';
import { ConfigError } from '../../../src/errors.ts';
import { redisConnection } from '../../../src/persistence/RedisJournal.ts';
import { kafkaConnectError, kafkaLogLevel, kafkaSecurityOptions } from '../../../src/transport/kafka/kafkaClient.ts';
import { natsConnectError, natsConnectOptions } from '../../../src/transport/nats/natsConnection.ts';
import kafkajs from 'kafkajs';

const load = (env: Record<string, string>) => loadSettings({ KAFKA_BROKERS: 'k:9094', ...env });
const refused = (env: Record<string, string>) => {
  const err = (() => {
    try {
      load(env);
    } catch (e) {
      return e as ConfigError;
    }
    throw new Error('no ConfigError');
  })();
  if (!(err instanceof ConfigError)) throw err;
  return err.message;
};

test('Kafka SASL and TLS from the environment', (t) => {
  const s = load({ KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'p@ss', KAFKA_SSL: 'true' });
  t.like(s.kafka, { saslMechanism: 'scram-sha-512', saslUsername: 'svc', saslPassword: 'p@ss', ssl: true });
  t.deepEqual(kafkaSecurityOptions(s.kafka), { ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 'p@ss' } });
  t.deepEqual(kafkaSecurityOptions(load({}).kafka), {});
});

test('a bad or incomplete Kafka SASL setting names the variable, never the password', (t) => {
  t.regex(refused({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'hunter2' }), /^invalid setting KAFKA_SASL_MECHANISM: expects plain, scram-sha-256 or scram-sha-512/);
  const missing = refused({ KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'hunter2' });
  t.regex(missing, /^invalid setting KAFKA_SASL_MECHANISM: expects KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD together/);
  t.false(missing.includes('hunter2'));
  t.regex(refused({ KAFKA_SSL: 'maybe' }), /^invalid setting KAFKA_SSL: expects true or false/);
  t.regex(refused({ KAFKA_SSL: 'false', KAFKA_SSL_CA_FILE: '/no/such/ca.pem' }), /^invalid setting KAFKA_SSL_CA_FILE: expects a readable file \(ENOENT/);
});

test('Redis: credentials in the URL or apart (the variables win); the client never gets a URL with a password', (t) => {
  t.deepEqual(redisConnection({ url: 'rediss://app:s%40cret@r.example:6380/2' }), { url: 'rediss://r.example:6380/2', username: 'app', password: 's@cret' });
  t.deepEqual(redisConnection({ url: 'redis://:only@r:6379', username: 'acl', password: 'other' }), { url: 'redis://r:6379', username: 'acl', password: 'other' });
  t.deepEqual(redisConnection({ url: 'redis://r:6379' }), { url: 'redis://r:6379' });
  const s = load({ REDIS_URL: 'rediss://r:6380', REDIS_USERNAME: 'acl', REDIS_PASSWORD: 'pw' });
  t.like(s.redis, { url: 'rediss://r:6380', username: 'acl', password: 'pw' });
  t.regex(refused({ REDIS_URL: 'redis://r:6379', REDIS_TLS_CA_FILE: '/etc/hostname' }), /^invalid setting REDIS_URL: expects a rediss:\/\/ URL when REDIS_TLS_CA_FILE is set/);
});

test('NATS: token, user/password or creds file, one at a time; credentials in the URL become options', (t) => {
  t.deepEqual(natsConnectOptions({ url: 'nats://tok@n:4222' }), { servers: 'n:4222', token: 'tok' });
  t.deepEqual(natsConnectOptions({ url: 'nats://u:p%2F@n:4222' }), { servers: 'n:4222', user: 'u', pass: 'p/' });
  t.deepEqual(natsConnectOptions({ url: 'tls://n:4443', user: 'u', password: 'p' }), { servers: 'n:4443', user: 'u', pass: 'p', tls: {} });
  t.deepEqual(natsConnectOptions({ url: 'nats://n:4222', token: 't', tlsCaFile: '/ca.pem' }), { servers: 'n:4222', token: 't', tls: { caFile: '/ca.pem' } });
  t.like(load({ NATS_TOKEN: 'tok' }).nats, { token: 'tok' });
  t.regex(refused({ NATS_TOKEN: 'tok', NATS_USER: 'u', NATS_PASSWORD: 'p' }), /^invalid setting NATS_TOKEN: expects one way to authenticate to NATS, got NATS_TOKEN and NATS_USER\/NATS_PASSWORD/);
  t.regex(refused({ NATS_USER: 'u' }), /^invalid setting NATS_PASSWORD: expects NATS_USER and NATS_PASSWORD together/);
  t.regex(refused({ NATS_URL: 'nats://tok@n:4222', NATS_TOKEN: 'tok' }), /^invalid setting NATS_URL: expects no credentials in the URL when NATS_TOKEN is set/);
  t.regex(refused({ NATS_CREDS_FILE: '/no/such.creds' }), /^invalid setting NATS_CREDS_FILE: expects a readable file/);
});

test('URLs are redacted: passwords and tokens become ***', (t) => {
  t.is(redactUrl('redis://app:s3cret@r:6379/0'), 'redis://app:***@r:6379/0');
  t.is(redactUrl('redis://r:6379'), 'redis://r:6379');
  t.is(redactUrl('nats://tok3n@n:4222'), 'nats://***@n:4222');
  t.is(redactUrl('nats://u:p@n:4222'), 'nats://u:***@n:4222');
  t.is(redactUrl('not a url s3cret'), '<unparseable URL>');
});

test('refused credentials at connect are ConfigErrors naming the settings; other failures pass through', (t) => {
  // (kafkajs's typings leave out the message argument of this error's constructor)
  const sasl = new (kafkajs.KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error)('SASL SCRAM SHA256 authentication failed: invalid credentials');
  const mapped = kafkaConnectError(sasl);
  t.true(mapped instanceof ConfigError);
  t.regex((mapped as Error).message, /^invalid setting KAFKA_SASL_USERNAME\/KAFKA_SASL_PASSWORD: expects credentials the Kafka brokers accept/);
  const other = new kafkajs.KafkaJSConnectionError('Connection error: ECONNREFUSED');
  t.is(kafkaConnectError(other), other);

  const auth = Object.assign(new Error('Authorization Violation'), { name: 'AuthorizationError' });
  t.regex((natsConnectError(auth, { url: 'nats://u:p@n:4222' }) as Error).message, /^invalid setting NATS_URL: expects credentials that NATS at nats:\/\/u:\*\*\*@n:4222\/? accepts/);
  t.regex((natsConnectError(auth, { url: 'nats://n:4222', credsFile: '/c' }) as Error).message, /^invalid setting NATS_CREDS_FILE/);
  const refusedConn = new Error('CONNECTION_REFUSED');
  t.is(natsConnectError(refusedConn, { url: 'nats://n:4222' }), refusedConn);
});

test("kafkajs's own lines about refused SASL credentials are debug (the caller reports them once)", (t) => {
  t.is(kafkaLogLevel(kafkajs.logLevel.ERROR, { message: 'SASL SCRAM SHA256 authentication failed: x' }), 'debug');
  t.is(kafkaLogLevel(kafkajs.logLevel.ERROR, { message: 'Response SaslAuthenticate(key: 36, version: 1)', error: 'Authentication failed' }), 'debug');
  t.is(kafkaLogLevel(kafkajs.logLevel.ERROR, { message: 'Crash: KafkaJSNumberOfRetriesExceeded' }), 'error');
});
