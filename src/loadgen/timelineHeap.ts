/**
 * The merge of the users' timelines (generateEvents): a binary min-heap of user cursors by (time of
 * their next event, user index), so that equal times keep the users' order.
 */
import type { GeneratedEvent } from './generator.ts';

export interface Cursor {
  next: GeneratedEvent;
  index: number;
  it: Generator<GeneratedEvent>;
}

export class TimelineHeap {
  private readonly items: Cursor[] = [];

  private static less(a: Cursor, b: Cursor): boolean {
    const ta = a.next.event.timestamp;
    const tb = b.next.event.timestamp;
    return ta < tb || (ta === tb && a.index < b.index);
  }

  peek(): Cursor | undefined {
    return this.items[0];
  }

  push(c: Cursor): void {
    const items = this.items;
    items.push(c);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!TimelineHeap.less(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): void {
    const last = this.items.pop();
    if (last && this.items.length) {
      this.items[0] = last;
      this.siftDownTop();
    }
  }

  /** Restores the order after the top's key grew. */
  siftDownTop(): void {
    const items = this.items;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && TimelineHeap.less(items[l]!, items[m]!)) m = l;
      if (r < items.length && TimelineHeap.less(items[r]!, items[m]!)) m = r;
      if (m === i) return;
      [items[i], items[m]] = [items[m]!, items[i]!];
      i = m;
    }
  }
}
