/**
 * Reads a V8 .cpuprofile (node --cpu-prof) into the frames that cost the most: self time,
 * inclusive time, per module; and a sampling .heapprofile into the frames that allocate the most.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Frame {
  frame: string;
  ms: number;
  /** Share of the busy (non-idle) time. */
  share: number;
}

export interface ProfileSummary {
  file: string;
  durationMs: number;
  busyMs: number;
  idleShare: number;
  topSelf: Frame[];
  topInclusive: Frame[];
  byModule: Frame[];
}

const IDLE = new Set(['(idle)']);

/** `node_modules/<pkg>` -> pkg, project files -> their path, node internals -> "node:<module>". */
export function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return url.replace(/^node:internal\/.*$/, 'node:internal');
  const src = /\/((?:src|bench)\/.*)$/.exec(url);
  return src ? src[1]! : url;
}

const frameName = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${moduleOf(f.url, f.functionName)}${f.url ? `:${f.lineNumber + 1}` : ''}`;

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfByNode = new Map<number, number>();
  profile.samples.forEach((id, i) => selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const self = new Map<string, number>();
  const modules = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (const [id, us] of selfByNode) {
    const node = byId.get(id)!;
    if (IDLE.has(node.callFrame.functionName)) {
      idle += us;
      continue;
    }
    busy += us;
    const name = frameName(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + us);
    const mod = moduleOf(node.callFrame.url, node.callFrame.functionName);
    modules.set(mod, (modules.get(mod) ?? 0) + us);
    // Inclusive: every distinct frame on the stack of this node gets the time once.
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (f.functionName === '(root)') continue;
      onStack.add(frameName(f));
    }
    for (const name of onStack) inclusive.set(name, (inclusive.get(name) ?? 0) + us);
  }
  const rank = (m: Map<string, number>, n: number): Frame[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([frame, us]) => ({ frame, ms: Math.round(us / 1000), share: Number((us / Math.max(1, busy)).toFixed(4)) }));
  return {
    file,
    durationMs: Math.round((profile.endTime - profile.startTime) / 1000),
    busyMs: Math.round(busy / 1000),
    idleShare: Number((idle / Math.max(1, idle + busy)).toFixed(4)),
    topSelf: rank(self, top),
    topInclusive: rank(inclusive, top * 2),
    byModule: rank(modules, top),
  };
}

/** Where the allocation profile of a run profiled into `cpuProfile` goes. */
export const heapProfileFile = (cpuProfile: string): string => cpuProfile.replace(/\.cpuprofile$/, '') + '.heapprofile';

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

export interface HeapSummary {
  file: string;
  /** Bytes allocated per event (sampled: objects collected since count too). */
  bytesPerEvent: number;
  topSelf: { frame: string; bytesPerEvent: number; share: number }[];
}

/** The frames that allocated the most, per event, of a sampling heap profile taken over `events` events. */
export function summarizeHeapProfile(file: string, events: number, top = 15): HeapSummary {
  const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };
  const self = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode): void => {
    total += node.selfSize;
    if (node.selfSize) self.set(frameName(node.callFrame), (self.get(frameName(node.callFrame)) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(head);
  const perEvent = (bytes: number): number => Math.round(bytes / Math.max(1, events));
  return {
    file,
    bytesPerEvent: perEvent(total),
    topSelf: [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, bytes]) => ({ frame, bytesPerEvent: perEvent(bytes), share: Number((bytes / Math.max(1, total)).toFixed(4)) })),
  };
}
