/**
 * Replies travel inside messages as plain callbacks: the actors run in one process, and unlike
 * nact's `query` this never times out behind our back (a timed-out query is still processed
 * later). Callers that need a deadline set their own, with a supervision decision attached.
 */
export interface Reply<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function replyPair<T>(): { promise: Promise<T>; reply: Reply<T> } {
  let reply!: Reply<T>;
  const promise = new Promise<T>((resolve, reject) => {
    reply = { resolve, reject };
  });
  return { promise, reply };
}

/** Sends a message that carries a reply and awaits it. */
export function ask<M, T>(send: (msg: M) => void, make: (reply: Reply<T>) => M): Promise<T> {
  const { promise, reply } = replyPair<T>();
  send(make(reply));
  return promise;
}
