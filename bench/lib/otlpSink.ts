/**
 * A local OTLP/HTTP receiver for (c): accepts every export on /v1/traces, answers 200 with an
 * empty (valid) response and drops the spans, counting requests, bytes and the spans in them
 * (protobuf bodies). The engine then pays the full cost of tracing (spans, batching,
 * serialisation, HTTP) and nothing else; the span count tells how many the SDK's queue dropped.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpStats {
  requests: number;
  bytes: number;
  /** Spans received, by name ("process <topic>" spans under "process"); null for JSON bodies. */
  spans: Record<string, number> | null;
}

export interface OtlpSink {
  endpoint: string;
  stats(): OtlpStats;
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  let requests = 0;
  let bytes = 0;
  let spans: Record<string, number> | null = {};
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      chunks.push(chunk);
    });
    req.on('end', () => {
      requests++;
      const json = (req.headers['content-type'] ?? '').includes('json');
      if (json) spans = null;
      else if (spans) for (const name of spanNames(Buffer.concat(chunks))) spans[name] = (spans[name] ?? 0) + 1;
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats: () => ({ requests, bytes, spans: spans && { ...spans } }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The span names of an ExportTraceServiceRequest: resource_spans (1) > scope_spans (2) > spans
 * (2) > name (5), every other field skipped by its wire type.
 */
export function spanNames(body: Buffer): string[] {
  const names: string[] = [];
  for (const rs of fieldsOf(body, 0, body.length, 1))
    for (const ss of fieldsOf(body, rs.start, rs.end, 2))
      for (const span of fieldsOf(body, ss.start, ss.end, 2)) {
        const [name] = fieldsOf(body, span.start, span.end, 5);
        const text = name ? body.toString('utf8', name.start, name.end) : '';
        names.push(text.startsWith('process ') ? 'process' : text);
      }
  return names;
}

/** The length-delimited values of field `wanted` between start and end. */
function fieldsOf(buf: Buffer, start: number, end: number, wanted: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let at = start;
  const varint = (): number => {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[at++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
  };
  while (at < end) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0:
        varint();
        break;
      case 1:
        at += 8;
        break;
      case 5:
        at += 4;
        break;
      case 2: {
        const n = varint();
        if (field === wanted) out.push({ start: at, end: at + n });
        at += n;
        break;
      }
      default:
        throw new Error(`OTLP body: wire type ${tag & 7} at ${at}`);
    }
  }
  return out;
}
