/**
 * What the live user actors hold, per actor, from two heap snapshots of `npm run bench:memory --
 * --heap-snapshots <dir>` (taken at two counts of live actors, after forced GCs):
 *
 *   by kind   every object of the heap grouped by V8 type and constructor (or closure) name, the
 *             difference between the two snapshots divided by the actors between them: what one
 *             more actor costs, wherever it is held (the shard's maps included)
 *   by path   in the later snapshot, from every nact PersistentActor, each object reached first by
 *             a walk from the actors (not through their parent or system), summed by the path
 *             that reached it (`state.history.nums[]`), divided by the actors: what an actor
 *             itself holds, field by field. Objects the actors share are counted once.
 *
 *   node --max-old-space-size=8192 --import tsx bench/heapDiff.ts <before.heapsnapshot> <after.heapsnapshot> [--depth 4] [--top 60]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

class Heap {
  readonly nodeFields: number;
  readonly edgeFields: number;
  readonly types: string[];
  readonly edgeTypes: string[];
  readonly firstEdge: Uint32Array;
  readonly count: number;

  constructor(readonly s: Snapshot) {
    const meta = s.snapshot.meta;
    this.nodeFields = meta.node_fields.length;
    this.edgeFields = meta.edge_fields.length;
    this.types = meta.node_types[0];
    this.edgeTypes = meta.edge_types[0];
    this.count = s.nodes.length / this.nodeFields;
    this.firstEdge = new Uint32Array(this.count + 1);
    for (let i = 0, e = 0; i < this.count; i++) {
      this.firstEdge[i] = e;
      e += s.nodes[i * this.nodeFields + 4]!;
      this.firstEdge[i + 1] = e;
    }
  }

  type = (i: number): string => this.types[this.s.nodes[i * this.nodeFields]!]!;
  name = (i: number): string => this.s.strings[this.s.nodes[i * this.nodeFields + 1]!]!;
  size = (i: number): number => this.s.nodes[i * this.nodeFields + 3]!;

  /** Kind of node i: type and constructor name (strings and numbers by type alone). */
  kind(i: number): string {
    const type = this.type(i);
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' || type === 'code') return type;
    if (type === 'array') return `array ${this.name(i).slice(0, 40)}`;
    return `${type} ${this.name(i).slice(0, 60)}`;
  }

  *edges(i: number): Generator<[type: string, name: string, to: number]> {
    const { edges, strings } = this.s;
    for (let e = this.firstEdge[i]!; e < this.firstEdge[i + 1]!; e++) {
      const type = this.edgeTypes[edges[e * this.edgeFields]!]!;
      const nameOrIndex = edges[e * this.edgeFields + 1]!;
      const name = type === 'element' || type === 'hidden' ? '[]' : strings[nameOrIndex]!;
      yield [type, name, edges[e * this.edgeFields + 2]! / this.nodeFields];
    }
  }
}

const load = (file: string): Heap => new Heap(JSON.parse(readFileSync(file, 'utf8')) as Snapshot);

function byKind(h: Heap): Map<string, { count: number; bytes: number }> {
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < h.count; i++) {
    const k = h.kind(i);
    const o = out.get(k) ?? { count: 0, bytes: 0 };
    o.count++;
    o.bytes += h.size(i);
    out.set(k, o);
  }
  return out;
}

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const at = argv.indexOf(name);
  return at < 0 ? dflt : Number(argv.splice(at, 2)[1]);
};
const depth = opt('--depth', 4);
const top = opt('--top', 60);
const [beforeFile, afterFile] = argv;
if (!beforeFile || !afterFile) {
  process.stderr.write('usage: bench/heapDiff.ts <before.heapsnapshot> <after.heapsnapshot> [--depth 4] [--top 60]\n');
  process.exit(2);
}

const actorsIn = (h: Heap): number[] => {
  const out: number[] = [];
  for (let i = 0; i < h.count; i++) if (h.type(i) === 'object' && h.name(i) === 'PersistentActor') out.push(i);
  return out;
};

const before = load(beforeFile);
const kindsBefore = byKind(before);
const actorsBefore = actorsIn(before).length;
const after = load(afterFile);
const kindsAfter = byKind(after);
const actors = actorsIn(after);
const n = actors.length - actorsBefore;
const w = (x: number, digits = 0) => x.toFixed(digits).padStart(8);

let total = 0;
const rows: [string, number, number][] = [];
for (const [k, a] of kindsAfter) {
  const b = kindsBefore.get(k) ?? { count: 0, bytes: 0 };
  total += a.bytes - b.bytes;
  rows.push([k, (a.count - b.count) / n, (a.bytes - b.bytes) / n]);
}
for (const [k, b] of kindsBefore) if (!kindsAfter.has(k)) rows.push([k, -b.count / n, -b.bytes / n]);
rows.sort((x, y) => Math.abs(y[2]) - Math.abs(x[2]));
process.stdout.write(`by kind: ${n} more actors (${actorsBefore} -> ${actors.length}), ${w(total / n)} B per actor in all\n      B/actor  objects/actor\n`);
for (const [k, count, bytes] of rows.slice(0, top)) process.stdout.write(`${w(bytes, 1)} ${w(count, 2)}  ${k}\n`);

// ---- by path ----
const seen = new Uint8Array(after.count);
for (const a of actors) seen[a] = 1;
const byPath = new Map<string, { count: number; bytes: number }>();
const add = (path: string, i: number) => {
  const o = byPath.get(path) ?? { count: 0, bytes: 0 };
  o.count++;
  o.bytes += after.size(i);
  byPath.set(path, o);
};
// Breadth first from all actors at once, one level at a time: an object shared by actors goes to the shortest path.
let frontier: [number, string][] = actors.map((a) => [a, '']);
for (const a of actors) add('(PersistentActor)', a);
const SKIP = new Set(['parent', 'system', 'persistenceEngine', '__proto__', 'map', 'prototype', 'constructor']);
let level = 0;
while (frontier.length) {
  const next: [number, string][] = [];
  for (const [i, path] of frontier) {
    for (const [type, name, to] of after.edges(i)) {
      if (type === 'weak' || type === 'shortcut' || seen[to] || SKIP.has(name)) continue;
      seen[to] = 1;
      const label = level < depth ? `${path}${path && name !== '[]' ? '.' : ''}${name}` : path;
      add(`${label} (${after.kind(to)})`, to);
      next.push([to, label]);
    }
  }
  frontier = next;
  level++;
}
const prows = [...byPath].sort((x, y) => y[1].bytes - x[1].bytes);
const pathTotal = prows.reduce((s, [, o]) => s + o.bytes, 0);
process.stdout.write(`\nby path from the ${actors.length} actors: ${w(pathTotal / actors.length)} B per actor reached\n      B/actor  objects/actor\n`);
for (const [p, o] of prows.slice(0, top)) process.stdout.write(`${w(o.bytes / actors.length, 1)} ${w(o.count / actors.length, 2)}  ${p}\n`);
