/**
 * How to reach NATS: the server and the credentials of the `nats.*` settings as connect options.
 * Credentials written in the URL (nats://user:password@host, nats://token@host) are taken out of
 * it and passed as options, so no server string the client may print carries a secret.
 */
import { readFileSync } from 'node:fs';
import { credsAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import { redactUrl } from '../../config/connections.ts';
import { ConfigError } from '../../errors.ts';

export interface NatsAuth {
  url: string;
  token?: string | undefined;
  user?: string | undefined;
  password?: string | undefined;
  credsFile?: string | undefined;
  /** PEM file of the CA of the servers; turns TLS on. */
  tlsCaFile?: string | undefined;
}

export function natsConnectOptions(a: NatsAuth): Pick<NodeConnectionOptions, 'servers' | 'token' | 'user' | 'pass' | 'authenticator' | 'tls'> {
  const out: Pick<NodeConnectionOptions, 'servers' | 'token' | 'user' | 'pass' | 'authenticator' | 'tls'> = { servers: a.url };
  let scheme = '';
  try {
    const u = new URL(a.url);
    scheme = u.protocol;
    if (u.password) {
      out.user = decodeURIComponent(u.username);
      out.pass = decodeURIComponent(u.password);
    } else if (u.username) {
      out.token = decodeURIComponent(u.username);
    }
    out.servers = u.port ? `${u.hostname}:${u.port}` : u.hostname;
  } catch {
    out.servers = a.url.replace(/^[a-z]+:\/\//, '');
  }
  if (a.token !== undefined) out.token = a.token;
  if (a.user !== undefined) out.user = a.user;
  if (a.password !== undefined) out.pass = a.password;
  if (a.credsFile !== undefined) out.authenticator = credsAuthenticator(readFileSync(a.credsFile));
  if (a.tlsCaFile !== undefined) out.tls = { caFile: a.tlsCaFile };
  else if (scheme === 'tls:') out.tls = {};
  return out;
}

/** Which settings carry the credentials, to name them when the server refuses them. */
function credentialsSetting(a: NatsAuth): string {
  if (a.token !== undefined) return 'NATS_TOKEN';
  if (a.user !== undefined) return 'NATS_USER/NATS_PASSWORD';
  if (a.credsFile !== undefined) return 'NATS_CREDS_FILE';
  return 'NATS_URL';
}

/**
 * A failure to connect at start, as the engine reports it: refused or missing credentials are a
 * bad setting (one line, exit 2); anything else is passed on.
 */
export function natsConnectError(err: unknown, a: NatsAuth): unknown {
  const e = err as { name?: string; message?: string } | null;
  if (e?.name === 'AuthorizationError' || /authorization violation|authentication/i.test(e?.message ?? '')) {
    return new ConfigError(credentialsSetting(a), `expects credentials that NATS at ${redactUrl(a.url)} accepts (${e?.message ?? 'refused'})`);
  }
  return err;
}
