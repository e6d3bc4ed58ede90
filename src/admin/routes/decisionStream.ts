/**
 * `GET /decisions/stream` (CONTRACT §9): Server-Sent Events of committed decisions, as this
 * instance's decisions feed sees them (on Kafka a read_committed follower of the decisions topic,
 * embedded the decisions appended to the log: src/transport/ports.ts), optionally only some
 * verdicts (`?decision=BLOCK,CHALLENGE`).
 *
 * One subscription to the feed serves every client: a record is parsed once and written to each
 * client that wants it. A client is never buffered without bound: what it has not taken yet is
 * Node's write buffer of its response, and past `maxBufferedBytes` the client is dropped
 * (connection closed, `risk_sse_dropped_total`); an EventSource reconnects by itself and resumes
 * with what is committed from then on. Connections are ended when the server closes, so that a
 * stream does not hold up the drain.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../log.ts';
import { AdminError } from '../errors.ts';
import { errorResponses } from '../schemas.ts';

export const DECISION_STREAM_PATH = '/decisions/stream';

/** What the stream needs of the decisions feed (src/transport/ports.ts's DecisionFeed has it). */
export interface DecisionStreamFeed {
  start(): Promise<void>;
  onRecord(listener: (record: { userId: string; value: string | Buffer }) => void, active?: () => boolean): () => void;
}

export interface DecisionStreamOptions {
  feed: DecisionStreamFeed;
  /** Where risk_sse_clients and risk_sse_dropped_total are registered (the engine's registry). */
  registry?: Registry;
  /** Bytes a client may leave unread before it is dropped. */
  maxBufferedBytes?: number;
  /** Interval of the keep-alive comment that stops proxies from closing a quiet stream. */
  keepAliveMs?: number;
}

export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
const DEFAULT_KEEP_ALIVE_MS = 15_000;
const VERDICTS = ['ALLOW', 'CHALLENGE', 'BLOCK'] as const;

interface Client {
  reply: FastifyReply;
  wants: ReadonlySet<string>;
}

const querystring = {
  type: 'object',
  properties: {
    decision: {
      type: 'string',
      pattern: `^(${VERDICTS.join('|')})(,(${VERDICTS.join('|')}))*$`,
      description: 'comma list of the verdicts to stream (default: all), e.g. BLOCK,CHALLENGE',
    },
  },
} as const;

export function registerDecisionStream(app: FastifyInstance, options: DecisionStreamOptions | null, log: Logger): void {
  const registers = options?.registry ? [options.registry] : [];
  const connected = new Gauge({ name: 'risk_sse_clients', help: 'Clients connected to GET /decisions/stream', registers });
  const dropped = new Counter({ name: 'risk_sse_dropped_total', help: 'Clients of GET /decisions/stream dropped because they did not keep up', registers });
  const maxBuffered = options?.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const clients = new Set<Client>();
  let keepAlive: NodeJS.Timeout | null = null;

  const remove = (client: Client): void => {
    if (!clients.delete(client)) return;
    connected.set(clients.size);
    if (clients.size === 0 && keepAlive) {
      clearInterval(keepAlive);
      keepAlive = null;
    }
  };

  /** Writes to one client; drops it when what it has not read passes the bound. */
  const send = (client: Client, text: string): void => {
    const res = client.reply.raw;
    if (res.destroyed || res.writableEnded) return remove(client);
    res.write(text);
    if (res.writableLength > maxBuffered) {
      remove(client);
      dropped.inc();
      log.warn({ buffered: res.writableLength, limit: maxBuffered }, 'decision stream: a client that does not keep up was dropped');
      res.destroy();
    }
  };

  const unsubscribe = options?.feed.onRecord(
    (record) => {
      // Every committed decision of the cluster passes here: nothing is parsed while nobody listens.
      if (clients.size === 0) return;
      const text = typeof record.value === 'string' ? record.value : record.value.toString('utf8');
      let decision: { decision?: unknown; eventId?: unknown };
      try {
        decision = JSON.parse(text) as typeof decision;
      } catch {
        return; // not a decision (the feed's other listeners report it)
      }
      const verdict = String(decision.decision);
      // An SSE data line ends at a newline: what JSON.stringify writes never has one, anything else is written again.
      const data = text.includes('\n') || text.includes('\r') ? JSON.stringify(decision) : text;
      const id = typeof decision.eventId === 'string' && !/[\r\n]/.test(decision.eventId) ? `id: ${decision.eventId}\n` : '';
      const message = `event: decision\n${id}data: ${data}\n\n`;
      for (const client of clients) if (client.wants.has(verdict)) send(client, message);
    },
    () => clients.size > 0,
  );

  app.addHook('preClose', async () => {
    unsubscribe?.();
    for (const client of [...clients]) {
      remove(client);
      client.reply.raw.end();
    }
  });

  app.get<{ Querystring: { decision?: string } }>(
    DECISION_STREAM_PATH,
    {
      // A HEAD would open a stream without a body to stream: 405 instead.
      exposeHeadRoute: false,
      schema: {
        summary: 'live committed decisions (Server-Sent Events)',
        description:
          'an `event: decision` per committed decision, `id:` its eventId, `data:` the decision object (the Decision schema), from the moment of connecting; ' +
          'a `: keep-alive` comment every 15 s. A client that leaves more than 1 MiB unread is disconnected. With ADMIN_TOKEN set the bearer header is needed (use fetch streaming rather than EventSource in a browser)',
        tags: ['decisions'],
        querystring,
        response: {
          200: { description: 'text/event-stream of decisions', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          ...errorResponses(400),
        },
      },
    },
    async (req, reply) => {
      if (!options) throw new AdminError('UNAVAILABLE', 'the decision stream is not available on this instance (no decisions feed)');
      const wants = new Set<string>(req.query.decision ? req.query.decision.split(',') : VERDICTS);
      // The feed follows from when it started; a stream shows what is committed from now on.
      void options.feed.start().catch((err: unknown) => log.error({ err }, 'decision stream: the decisions feed did not start'));
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // Tells nginx-like proxies not to buffer the stream.
        'x-accel-buffering': 'no',
      });
      res.flushHeaders();
      const client: Client = { reply, wants };
      clients.add(client);
      connected.set(clients.size);
      res.on('close', () => remove(client));
      res.write(`retry: 2000\n: streaming ${[...wants].join(',')} decisions\n\n`);
      keepAlive ??= setInterval(() => {
        for (const c of clients) send(c, ': keep-alive\n\n');
      }, options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS).unref();
    },
  );
}
