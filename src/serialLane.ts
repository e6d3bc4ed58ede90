/**
 * Work that must not overlap, run one piece at a time in call order (a shard's rounds and
 * housekeeping, rule changes). A piece that fails fails its own caller only; the next runs.
 * `open`, when given, is asked before each piece starts: a lane whose owner stopped refuses what
 * is still queued instead of running it.
 */
export class SerialLane {
  #tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly open: () => void = () => undefined) {}

  run<T>(work: () => Promise<T> | T): Promise<T> {
    return this.#append(() => {
      this.open();
      return work();
    });
  }

  /** The owner's last piece: it runs in turn though `open` now refuses what is queued before it. */
  runClosing<T>(work: () => Promise<T> | T): Promise<T> {
    return this.#append(work);
  }

  #append<T>(work: () => Promise<T> | T): Promise<T> {
    const run = this.#tail.then(work);
    this.#tail = run.catch(() => undefined);
    return run;
  }
}
