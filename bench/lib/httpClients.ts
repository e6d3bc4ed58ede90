/**
 * The HTTP clients of the bench's embedded scenario: NDJSON bodies prepared before the clock
 * starts (each user's events with one client, in their order), then posted by concurrent clients,
 * one request in flight per client.
 */
import type { LoadEvent } from '../../src/loadgen/generator.ts';

/** For each of `clients` clients, bodies of at most `batch` NDJSON lines; a user's events all go to `clientOf(userId)`, in order. */
export function splitByUser(events: Iterable<LoadEvent>, clients: number, batch: number, clientOf: (userId: string) => number): string[][] {
  const pending: string[][] = Array.from({ length: clients }, () => []);
  const bodies: string[][] = Array.from({ length: clients }, () => []);
  const flush = (c: number) => {
    if (!pending[c]!.length) return;
    bodies[c]!.push(`${pending[c]!.join('\n')}\n`);
    pending[c] = [];
  };
  for (const e of events) {
    const c = clientOf(e.userId);
    pending[c]!.push(JSON.stringify(e));
    if (pending[c]!.length >= batch) flush(c);
  }
  for (let c = 0; c < clients; c++) flush(c);
  return bodies;
}

export interface PostResult {
  accepted: number;
  rejected: number;
  requests: number;
  /** The first reasons the engine gave for refused lines. */
  reasons: string[];
}

interface IngestAnswer {
  accepted: number;
  rejected: number;
  results?: { line: number; status: string; error?: { code: string; message: string } }[];
}

/** Posts each client's bodies in order (one request at a time per client), the clients concurrently; `onAnswer` after every request. */
export async function postNdjson(url: string, bodiesPerClient: readonly string[][], onAnswer?: (total: PostResult) => void): Promise<PostResult> {
  const total: PostResult = { accepted: 0, rejected: 0, requests: 0, reasons: [] };
  await Promise.all(
    bodiesPerClient.map(async (bodies) => {
      for (const body of bodies) {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
        const text = await res.text();
        if (res.status !== 202) throw new Error(`POST ${url} answered ${res.status}: ${text.slice(0, 300)}`);
        const answer = JSON.parse(text) as IngestAnswer;
        total.accepted += answer.accepted;
        total.rejected += answer.rejected;
        total.requests++;
        for (const r of answer.results ?? []) {
          if (total.reasons.length >= 10) break;
          if (r.status !== 'accepted') total.reasons.push(`line ${r.line}: ${r.error?.code ?? '?'} ${r.error?.message ?? ''}`.trim());
        }
        onAnswer?.(total);
      }
    }),
  );
  return total;
}
