/**
 * Tracing: the OpenTelemetry SDK starts once, from the standard OTEL_* variables, and only when an
 * exporter is configured; otherwise nothing is started and every helper here returns at once, so
 * tracing off costs nothing on the hot path. Spans follow the messaging semantic conventions.
 */
import { context, diag, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { createRequire } from 'node:module';
import { spanContextFields, type Logger } from '../log.ts';
import { DIAG_LEVEL, diagToLog } from './diagLog.ts';

/**
 * The SDK is loaded when tracing starts, not with this module: it is the largest of the engine's
 * dependencies to load (0.4 s of CPU), and every command of the CLI and every engine without an
 * exporter (the default) imports this module and never starts it.
 */
const loadSdk = (): typeof NodeSDK => (createRequire(import.meta.url)('@opentelemetry/sdk-node') as { NodeSDK: typeof NodeSDK }).NodeSDK;

/** The SDK's default link count limit per span. */
const DEFAULT_LINK_LIMIT = 128;

/** OTEL_SPAN_LINK_COUNT_LIMIT as the SDK reads it: a whole number, else the default. */
function linkCountLimit(env: Env): number {
  const raw = env.OTEL_SPAN_LINK_COUNT_LIMIT?.trim();
  const n = raw ? Number(raw) : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : DEFAULT_LINK_LIMIT;
}

let enabled = false;
let includeUserIds = false;
/** Links the SDK keeps per span (OTEL_SPAN_LINK_COUNT_LIMIT); see startRound. */
let linkLimit = DEFAULT_LINK_LIMIT;
/** The engine's tracer, looked up once the SDK has started (a lookup per span was 0.3% of the thread with tracing on). */
let engineTracer: Tracer | null = null;
const tracer = (): Tracer => (engineTracer ??= trace.getTracer('risk-engine'));

export type Env = Record<string, string | undefined>;

/** An exporter is configured: OTEL_TRACES_EXPORTER (not none) or an OTLP endpoint, and the SDK is not disabled. */
export function tracingConfigured(env: Env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (exporters.length) return !exporters.every((e) => e === 'none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts the SDK when configured; returns its shutdown (flushes pending spans). `spanProcessors`
 * replace the exporters the environment names (tests hand in an in-memory exporter).
 */
export function startTracing(env: Env, options: { includeUserIds: boolean; spanProcessors?: tracing.SpanProcessor[]; log?: Logger }): () => Promise<void> {
  if (!tracingConfigured(env)) return async () => {};
  // OTEL_LOG_LEVEL set: the SDK's own console logger, as the standard says.
  if (options.log && env.OTEL_LOG_LEVEL === undefined) diag.setLogger(diagToLog(options.log), DIAG_LEVEL);
  // The SDK builds its batch span processor from process.env: the engine's defaults go there.
  if (!options.spanProcessors) for (const [name, value] of Object.entries(SPAN_BATCHING)) process.env[name] = env[name] ?? value;
  const NodeSdk = loadSdk();
  const sdk = new NodeSdk({ serviceName: env.OTEL_SERVICE_NAME ?? 'risk-engine', instrumentations: [], ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}) });
  sdk.start();
  engineTracer = null;
  linkLimit = linkCountLimit(env);
  enabled = true;
  includeUserIds = options.includeUserIds;
  return async () => {
    enabled = false;
    await sdk.shutdown();
  };
}

/**
 * The batch span processor's sizes unless OTEL_BSP_* set them. With the SDK's own (2,048 spans
 * queued, exported 512 at a time, one export in flight) the process spans of 39% of a catch-up's
 * events were dropped (bench (c)): an engine ends a span per event, thousands a second, and its
 * busy event loop answers each export late.
 */
export const SPAN_BATCHING = { OTEL_BSP_MAX_QUEUE_SIZE: '16384', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2048' } as const;

export const tracingEnabled = (): boolean => enabled;

/** A span and the context that has it as the active span (the parent of what comes next). */
export interface Traced {
  span: Span;
  ctx: Context;
}

/**
 * The consume span of one record: its parent is the producer's `traceparent` header when there is
 * one, else it starts a trace. Null when tracing is off.
 */
export function startConsume(rec: { topic: string; partition: number; offset: string; key: Buffer | null; headers: Record<string, string> }, shard: number): Traced | null {
  if (!enabled) return null;
  // Most records carry no headers: nothing to extract then.
  const parent = hasKeys(rec.headers) ? propagation.extract(ROOT_CONTEXT, rec.headers) : ROOT_CONTEXT;
  const attributes: Attributes = {
    'messaging.system': 'kafka',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': rec.topic,
    'messaging.destination.partition.id': String(rec.partition),
    'messaging.kafka.offset': Number(rec.offset),
    'risk.shard': shard,
  };
  if (includeUserIds && rec.key) attributes['messaging.kafka.message.key'] = rec.key.toString('utf8');
  const span = tracer().startSpan(`process ${rec.topic}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/** The context of a carrier's W3C headers (an empty context when there are none or tracing is off). */
export function extractContext(headers: Record<string, string>): Context | null {
  return enabled ? propagation.extract(ROOT_CONTEXT, headers) : null;
}

/** A child span of `parent`; null when tracing is off or there is no parent. */
export function startChild(parent: Context | null | undefined, name: string, kind: SpanKind, attributes: Attributes = {}): Traced | null {
  if (!enabled || !parent) return null;
  const span = tracer().startSpan(name, { kind, attributes }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/**
 * A span of a round (its journal write, its transaction): a root of its own, linked to the spans
 * of the events it carries, since one operation serves many traces. Null when tracing is off.
 */
export function startRound(name: string, kind: SpanKind, events: readonly (Traced | null)[], attributes: Attributes = {}): Traced | null {
  if (!enabled) return null;
  // The SDK drops the links beyond its limit, after they were made, and logs a warning for every
  // round of a catch-up: a round links its first events up to the limit and counts the others.
  const links = [];
  let unlinked = 0;
  for (const e of events) {
    if (!e) continue;
    if (links.length < linkLimit) links.push({ context: e.span.spanContext() });
    else unlinked++;
  }
  if (unlinked > 0) attributes = { ...attributes, 'risk.unlinked_events': unlinked };
  const span = tracer().startSpan(name, { kind, attributes, links, root: true }, ROOT_CONTEXT);
  return { span, ctx: trace.setSpan(ROOT_CONTEXT, span) };
}

/** Attributes naming a user, only when operators allowed personal data in traces. */
export function userAttributes(userId: string): Attributes {
  return includeUserIds ? { 'risk.user_id': userId } : {};
}

/**
 * The W3C traceparent of a context's span, for a record header or a NATS header. Written as the
 * W3C propagator writes it, without going through the propagators (a carrier object and every
 * configured propagator per event): the header is named traceparent, so it is W3C whatever else
 * OTEL_PROPAGATORS names.
 */
export function traceparentOf(ctx: Context | null | undefined): string | null {
  if (!enabled || !ctx) return null;
  const sc = trace.getSpanContext(ctx);
  if (!sc || !isSpanContextValid(sc)) return null;
  return `00-${sc.traceId}-${sc.spanId}-0${Number(sc.traceFlags || TraceFlags.NONE).toString(16)}`;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** What a log line about one event carries of its span (see log.ts): trace_id, span_id, trace_flags. */
export type TraceFields = { trace_id: string; span_id: string; trace_flags: string } | Record<string, never>;
const NO_TRACE: TraceFields = Object.freeze({}) as TraceFields;

/**
 * The log fields of an event's span, for a log line written while handling that event outside its
 * active context (the shard handles a round of many events at once, so no one event's span is the
 * active one). Empty when tracing is off or there is no span.
 */
export function traceFields(t: Traced | null | undefined): TraceFields {
  if (!enabled || !t) return NO_TRACE;
  return spanContextFields(t.span.spanContext());
}

/** Runs `fn` with `t`'s span active, so that what it logs (and every span it starts) belongs to it. */
export function inSpan<T>(t: Traced | null | undefined, fn: () => T): T {
  return enabled && t ? context.with(t.ctx, fn) : fn();
}

export function endSpan(t: Traced | null | undefined, err?: unknown): void {
  if (!t) return;
  if (err !== undefined) {
    t.span.recordException(err instanceof Error ? err : new Error(String(err)));
    t.span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  }
  t.span.end();
}

export { context, SpanKind };
