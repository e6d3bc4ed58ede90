/**
 * The Redis connection of the journal store (node-redis): credentials, TLS, reconnection, the
 * command deadline and the health it implies, the script cache and a subscriber connection.
 *
 * Policy: the client reconnects by itself, and while it is not connected commands fail at once
 * (`disableOfflineQueue`) so a batch fails instead of waiting for Redis to come back. A Redis that
 * is connected but stopped answering is bounded by `commandTimeoutMs`, enforced here: node-redis
 * 6.3's own command timeout stops applying once a command is written to the socket. Such a
 * timeout marks the connection unhealthy until Redis answers again.
 */
import { readFileSync } from 'node:fs';
import { createClient } from 'redis';
import { redactUrl } from '../config/connections.ts';
import { ConfigError, EngineError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { scripts } from './redisScripts.ts';

export interface RedisConnectionOptions {
  /** redis:// or rediss:// (TLS); may carry user and password, which `username`/`password` override. */
  url: string;
  /** ACL user (REDIS_USERNAME). */
  username?: string | undefined;
  /** ACL or requirepass password (REDIS_PASSWORD). */
  password?: string | undefined;
  /** PEM file of the CA of a rediss:// server (REDIS_TLS_CA_FILE); default: the system CAs. */
  tlsCaFile?: string | undefined;
  /** A command without an answer after this long fails; default 5000. */
  commandTimeoutMs?: number;
  /** Longest pause between reconnection attempts; default 2000. */
  maxReconnectDelayMs?: number;
  logger?: Logger;
}

/**
 * The URL without its credentials, and the credentials apart (the options win over the URL's):
 * node-redis then never holds a URL with a password that an error could echo.
 */
export function redisConnection(o: Pick<RedisConnectionOptions, 'url' | 'username' | 'password'>): { url: string; username?: string; password?: string } {
  const u = new URL(o.url);
  const username = o.username ?? (u.username ? decodeURIComponent(u.username) : undefined);
  const password = o.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
  u.username = '';
  u.password = '';
  return { url: u.toString(), ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

/** Redis refused the credentials (or wants some): WRONGPASS, NOAUTH, or a pre-6 "invalid password". */
const isAuthError = (err: Error): boolean => /^(WRONGPASS|NOAUTH)\b|invalid password|AUTH .*without any password/i.test(err.message);

function createJournalClient(o: RedisConnectionOptions) {
  const maxDelay = o.maxReconnectDelayMs ?? 2000;
  return createClient({
    ...redisConnection(o),
    scripts,
    disableOfflineQueue: true,
    // The connection enforces commandTimeoutMs itself; node-redis's own per-command timer (an
    // AbortSignal per command, 5 s by default) only costs time on the hot path.
    commandOptions: { timeout: 0 },
    socket: {
      connectTimeout: 2000,
      ...(o.tlsCaFile !== undefined ? { tls: true as const, ca: readFileSync(o.tlsCaFile, 'utf8') } : {}),
      // Exponential with jitter, so many instances do not reconnect in lockstep; never gives up.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, maxDelay) * (0.5 + Math.random() / 2),
    },
  });
}

export type JournalClient = ReturnType<typeof createJournalClient>;

export class RedisConnection {
  readonly client: JournalClient;
  readonly #url: string;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  readonly #healthListeners = new Set<(healthy: boolean) => void>();
  readonly #subscribers: Promise<JournalClient | null>[] = [];
  #healthy = false;
  #connected = false;
  /** A command timed out and Redis has not answered anything since. */
  #stalled = false;
  #closed = false;
  #scriptsLoaded: Promise<void> = Promise.resolve();
  /** Set while start() waits: how an authentication error reaches it. */
  #refusedAuth: ((err: Error) => void) | undefined;

  constructor(options: RedisConnectionOptions) {
    this.#timeoutMs = options.commandTimeoutMs ?? 5000;
    this.#log = options.logger ?? silentLogger;
    this.#url = redactUrl(options.url);
    this.client = createJournalClient(options);
    this.client
      .on('ready', () => {
        // A restarted Redis has an empty script cache: load now, so the first batch does not pay
        // a NOSCRIPT answer and a second round trip per script call.
        this.#scriptsLoaded = this.#loadScripts();
        this.#stalled = false;
        this.#setConnected(true);
      })
      .on('error', (err: Error) => this.#setConnected(false, err))
      .on('reconnecting', () => this.#setConnected(false))
      .on('end', () => this.#setConnected(false));
  }

  /**
   * Starts connecting; resolves once Redis answered (and the scripts are loaded), or when the
   * connection is closed first. While Redis is down the client keeps retrying and the connection
   * is usable: its calls fail fast and `isHealthy()` is false.
   */
  async start(): Promise<void> {
    // node-redis retries a refused AUTH for ever (connect() never settles): refused credentials
    // at start are a bad setting, reported once (exit 2), not a Redis that is down.
    let refuse: (err: Error) => void = () => undefined;
    const refused = new Promise<never>((_, reject) => (refuse = reject));
    this.#refusedAuth = refuse;
    const onError = (err: Error) => {
      if (isAuthError(err)) refuse(err);
    };
    this.client.on('error', onError);
    try {
      await Promise.race([this.client.connect(), refused]);
      await Promise.race([this.#scriptsLoaded, refused]);
    } catch (err) {
      if (err instanceof Error && isAuthError(err)) {
        this.#closed = true;
        this.client.destroy();
        throw new ConfigError('REDIS_USERNAME/REDIS_PASSWORD', `expects credentials that Redis at ${this.#url} accepts (${err.message})`);
      }
      if (!this.#closed) throw err;
    } finally {
      this.#refusedAuth = undefined;
      this.client.off('error', onError);
    }
  }

  isHealthy(): boolean {
    return this.#healthy;
  }

  /** Calls `listener` on every change of `isHealthy()`; returns the unsubscribe function. */
  onHealthChange(listener: (healthy: boolean) => void): () => void {
    this.#healthListeners.add(listener);
    return () => this.#healthListeners.delete(listener);
  }

  /**
   * Fails `work` after `commandTimeoutMs`. Its answer may still come (and its write land) later:
   * a timed-out write is of unknown outcome, like any write whose answer was lost.
   */
  async deadline<T>(what: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#stalled = true;
        this.#updateHealth();
        reject(new EngineError('TIMEOUT', `redis journal: ${what} got no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
    });
    // A late answer to a timed-out command is the sign that Redis is back.
    work.then(() => this.#answered(), () => undefined);
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Subscribes to `channel` on a connection of its own; resolves to null (logged) when that fails. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<JournalClient | null> {
    const sub = this.client.duplicate();
    sub.on('error', (err: Error) => this.#log.debug({ err: err.message, channel }, 'redis journal: subscription'));
    const subscribed = sub
      .connect()
      .then(async () => {
        await sub.subscribe(channel, onMessage);
        return sub as JournalClient;
      })
      .catch((err: unknown) => {
        this.#log.warn({ err: err instanceof Error ? err.message : String(err), channel }, 'redis journal: could not subscribe');
        sub.destroy();
        return null;
      });
    this.#subscribers.push(subscribed);
    return subscribed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const sub of await Promise.all(this.#subscribers)) if (sub?.isOpen) sub.destroy();
    // A graceful close waits for the answers of commands in flight; without a connection there
    // is nothing to wait for, and close() would wait for the reconnection that may never come.
    if (this.client.isReady) await this.client.close();
    else if (this.client.isOpen) this.client.destroy();
    this.#setConnected(false);
  }

  async #loadScripts(): Promise<void> {
    try {
      await Promise.all(Object.values(scripts).map((s) => this.client.scriptLoad(s.SCRIPT)));
    } catch (err) {
      // A server that wants a password and got none answers NOAUTH here first: start() reports it.
      if (err instanceof Error && isAuthError(err)) this.#refusedAuth?.(err);
      // Not fatal: EVALSHA falls back to EVAL on NOSCRIPT.
      else this.#log.warn({ err }, 'redis journal: could not preload the scripts');
    }
  }

  #answered(): void {
    if (!this.#stalled) return;
    this.#stalled = false;
    this.#updateHealth();
  }

  #setConnected(connected: boolean, err?: Error): void {
    if (connected === this.#connected) return;
    this.#connected = connected;
    if (connected) this.#log.info('redis journal: connected');
    else if (!this.#closed) this.#log.warn({ err: err?.message }, 'redis journal: connection lost, reconnecting');
    this.#updateHealth();
  }

  #updateHealth(): void {
    const healthy = this.#connected && !this.#stalled && !this.#closed;
    if (healthy === this.#healthy) return;
    this.#healthy = healthy;
    for (const listener of this.#healthListeners) listener(healthy);
  }
}
