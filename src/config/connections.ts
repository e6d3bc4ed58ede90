/**
 * Secure connections to managed Kafka, Redis and NATS: the settings (merged into the settings
 * schema of ./settings.ts), their environment variables, and the checks that need more than one
 * field. Secrets are only ever passed to the clients: nothing here puts a value into a message.
 */
import { accessSync, constants } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';

export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

const secret = z.string().min(1);
const file = z.string().min(1);

/** Merged into `kafka`. */
export const kafkaSecurityShape = {
  saslMechanism: z.enum(KAFKA_SASL_MECHANISMS, { error: 'plain, scram-sha-256 or scram-sha-512' }).optional().describe('SASL mechanism: plain, scram-sha-256 or scram-sha-512 (with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)'),
  saslUsername: secret.optional().describe('SASL user name'),
  saslPassword: secret.optional().describe('SASL password'),
  ssl: z.boolean().optional().describe('TLS to the brokers (on when KAFKA_SSL_CA_FILE is set)'),
  sslCaFile: file.optional().describe('PEM file of the CA of the brokers (default: the system CAs)'),
};

/** Merged into `redis`. The URL may carry them too (redis://user:password@host); these win. */
export const redisAuthShape = {
  username: secret.optional().describe('ACL user (default: the one in REDIS_URL, else default)'),
  password: secret.optional().describe('password of the ACL user, or requirepass (default: the one in REDIS_URL)'),
  tlsCaFile: file.optional().describe('PEM file of the CA of a rediss:// server (default: the system CAs)'),
};

/** Merged into `nats`. At most one way to authenticate: token, user/password, or a creds file. */
export const natsAuthShape = {
  token: secret.optional().describe('authentication token (or nats://TOKEN@host in NATS_URL)'),
  user: secret.optional().describe('user name, with NATS_PASSWORD (or nats://USER:PASSWORD@host in NATS_URL)'),
  password: secret.optional().describe('password of NATS_USER'),
  credsFile: file.optional().describe('credentials file (JWT and NKey seed) of a decentralised-auth account'),
  tlsCaFile: file.optional().describe('PEM file of the CA of the NATS servers; turns TLS on'),
};

type EnvSpec = { path: string; parse: (v: string) => unknown; what: string };
const text = (v: string): unknown => v;

export const CONNECTION_ENV_VARS: Record<string, EnvSpec> = {
  KAFKA_SASL_MECHANISM: { path: 'kafka.saslMechanism', parse: (v) => v.trim().toLowerCase(), what: 'plain, scram-sha-256 or scram-sha-512' },
  KAFKA_SASL_USERNAME: { path: 'kafka.saslUsername', parse: text, what: 'a SASL user name' },
  KAFKA_SASL_PASSWORD: { path: 'kafka.saslPassword', parse: text, what: 'a SASL password' },
  KAFKA_SSL: { path: 'kafka.ssl', parse: parseBool, what: 'true or false' },
  KAFKA_SSL_CA_FILE: { path: 'kafka.sslCaFile', parse: text, what: 'a readable PEM file' },
  REDIS_USERNAME: { path: 'redis.username', parse: text, what: 'a Redis ACL user name' },
  REDIS_PASSWORD: { path: 'redis.password', parse: text, what: 'a Redis password' },
  REDIS_TLS_CA_FILE: { path: 'redis.tlsCaFile', parse: text, what: 'a readable PEM file' },
  NATS_TOKEN: { path: 'nats.token', parse: text, what: 'a NATS token' },
  NATS_USER: { path: 'nats.user', parse: text, what: 'a NATS user name' },
  NATS_PASSWORD: { path: 'nats.password', parse: text, what: 'a NATS password' },
  NATS_CREDS_FILE: { path: 'nats.credsFile', parse: text, what: 'a readable NATS credentials file' },
  NATS_TLS_CA_FILE: { path: 'nats.tlsCaFile', parse: text, what: 'a readable PEM file' },
};

function parseBool(v: string): unknown {
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(s)) return true;
  if (['false', '0', 'no'].includes(s)) return false;
  return v;
}

interface ConnectionSettings {
  kafka: { saslMechanism?: string | undefined; saslUsername?: string | undefined; saslPassword?: string | undefined; ssl?: boolean | undefined; sslCaFile?: string | undefined };
  redis: { url: string; username?: string | undefined; password?: string | undefined; tlsCaFile?: string | undefined };
  nats: { url: string; token?: string | undefined; user?: string | undefined; password?: string | undefined; credsFile?: string | undefined; tlsCaFile?: string | undefined };
}

/**
 * What a single field cannot say: files readable, one NATS auth method, a user with its
 * password. `nameOf` names a setting as the user gave it (its env var, else its path).
 */
export function checkConnections(s: ConnectionSettings, nameOfSource: (path: string) => string): void {
  // A setting given nowhere is named by its variable: that is how these are usually set.
  const envOf = new Map(Object.entries(CONNECTION_ENV_VARS).map(([name, spec]) => [spec.path, name]));
  const nameOf = (path: string): string => {
    const given = nameOfSource(path);
    return given !== path ? given : (envOf.get(path) ?? path);
  };
  const readable = (path: string, value: string | undefined) => {
    if (value === undefined) return;
    try {
      accessSync(value, constants.R_OK);
    } catch (err) {
      throw new ConfigError(nameOf(path), `expects a readable file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}: ${value})`);
    }
  };
  readable('kafka.sslCaFile', s.kafka.sslCaFile);
  const sasl = [s.kafka.saslMechanism, s.kafka.saslUsername, s.kafka.saslPassword];
  if (sasl.some((v) => v !== undefined) && sasl.some((v) => v === undefined)) {
    const missing = (['kafka.saslMechanism', 'kafka.saslUsername', 'kafka.saslPassword'] as const).filter((_, i) => sasl[i] === undefined);
    throw new ConfigError(nameOf(missing[0]!), `expects ${['kafka.saslMechanism', 'kafka.saslUsername', 'kafka.saslPassword'].map(nameOf).join(', ')} together`);
  }
  readable('redis.tlsCaFile', s.redis.tlsCaFile);
  readable('nats.credsFile', s.nats.credsFile);
  readable('nats.tlsCaFile', s.nats.tlsCaFile);
  if (s.kafka.ssl === false && s.kafka.sslCaFile !== undefined) {
    throw new ConfigError(nameOf('kafka.ssl'), `expects true (or unset) when ${nameOf('kafka.sslCaFile')} is set`);
  }
  if (s.redis.tlsCaFile !== undefined && !s.redis.url.startsWith('rediss://')) {
    throw new ConfigError(nameOf('redis.url'), `expects a rediss:// URL when ${nameOf('redis.tlsCaFile')} is set`);
  }
  const n = s.nats;
  const urlHasAuth = hasUserInfo(n.url);
  const methods = [n.token !== undefined && nameOf('nats.token'), (n.user !== undefined || n.password !== undefined) && `${nameOf('nats.user')}/${nameOf('nats.password')}`, n.credsFile !== undefined && nameOf('nats.credsFile')].filter(Boolean);
  if (methods.length > 1) throw new ConfigError(nameOf('nats.token'), `expects one way to authenticate to NATS, got ${methods.join(' and ')}`);
  if ((n.user === undefined) !== (n.password === undefined)) {
    throw new ConfigError(n.user === undefined ? nameOf('nats.user') : nameOf('nats.password'), `expects ${nameOf('nats.user')} and ${nameOf('nats.password')} together`);
  }
  if (urlHasAuth && methods.length > 0) throw new ConfigError(nameOf('nats.url'), `expects no credentials in the URL when ${methods[0]} is set`);
}

function hasUserInfo(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

/**
 * A URL fit for a log line or an error: the password (and a token standing alone as the user,
 * as in nats://TOKEN@host) replaced by `***`. Anything that does not parse is replaced whole.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '<unparseable URL>';
  }
  if (u.password) u.password = '***';
  else if (u.username && u.protocol !== 'redis:' && u.protocol !== 'rediss:') u.username = '***';
  return u.toString();
}
