/**
 * A TCP proxy in front of Redis, for two things a test cannot get from the server alone:
 *  - counting round trips of one client: a round trip starts when the client sends after
 *    having received (or for the first time), however many chunks the request takes;
 *  - faults: `stop()` drops every connection and refuses new ones (Redis down), `start()`
 *    listens again on the same port (Redis back), `pause()` holds requests back without
 *    closing anything (Redis hung) until `resume()` delivers them.
 */
import net from 'node:net';
import { once } from 'node:events';

export class TcpProxy {
  roundTrips = 0;
  bytesFromClient = 0;
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<net.Socket>();
  #held: (() => void)[] | undefined;
  #server: net.Server | undefined;
  #port = 0;

  static async listen(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await proxy.start();
    return proxy;
  }

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.#port}`;
  }

  resetCounters(): void {
    this.roundTrips = 0;
    this.bytesFromClient = 0;
  }

  /** Listens (again, on the same port after a stop). */
  async start(): Promise<void> {
    const server = net.createServer((client) => this.#pipe(client));
    server.listen(this.#port, '127.0.0.1');
    await once(server, 'listening');
    this.#port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  pause(): void {
    this.#held ??= [];
  }

  resume(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const deliver of held) deliver();
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #pipe(client: net.Socket): void {
    const upstream = net.connect(this.#target.port, this.#target.host);
    let clientsTurn = false;
    client.on('data', (chunk) => {
      if (!clientsTurn) this.roundTrips++;
      clientsTurn = true;
      this.bytesFromClient += chunk.length;
      if (this.#held) this.#held.push(() => upstream.write(chunk));
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      clientsTurn = false;
      client.write(chunk);
    });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      this.#sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.#sockets.delete(a);
        b.destroy();
      });
    }
  }
}
