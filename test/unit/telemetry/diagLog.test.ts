/**
 * OpenTelemetry's warnings and errors (spans dropped from a full queue, failed exports) reach the
 * engine's log, a repeated one at most once a minute with how often it came meanwhile.
 */
import test from 'ava';
import { diag } from '@opentelemetry/api';
import { DIAG_QUIET_MS, diagToLog } from '../../../src/telemetry/diagLog.ts';
import { startTracing } from '../../../src/telemetry/tracing.ts';
import { memoryLogger } from '../helpers/memoryLog.ts';

const capture = () => memoryLogger('info');

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('warnings and errors are logged with their error; a repeat within the quiet time (numbers aside) is counted, then logged with the count', async (t) => {
  const { lines, log } = capture();
  let now = 0;
  const logger = diagToLog(log, () => now);
  logger.warn('Dropped 10 spans because maxQueueSize reached');
  logger.warn('Dropped 7 spans because maxQueueSize reached');
  logger.info('not passed on');
  logger.debug('not passed on');
  logger.error('export failed', new Error('connect ECONNREFUSED 127.0.0.1:4318'));
  // The SDK's error handler passes an exception as its JSON.
  logger.error(JSON.stringify({ stack: 'Error: connect ECONNREFUSED\n    at x', message: 'connect ECONNREFUSED 127.0.0.1:9', errno: '-111' }));
  now = DIAG_QUIET_MS - 1;
  logger.warn('Dropped 10 spans because maxQueueSize reached');
  now = DIAG_QUIET_MS;
  logger.warn('Dropped 3 spans because maxQueueSize reached');
  await settle();
  t.deepEqual(
    lines.map((l) => [l.level, l.msg, l.repeatedSinceLast ?? null]),
    [
      [40, 'Dropped 10 spans because maxQueueSize reached', null],
      [50, 'export failed', null],
      [50, 'connect ECONNREFUSED 127.0.0.1:9', null],
      [40, 'Dropped 3 spans because maxQueueSize reached', 2],
    ],
  );
  t.is((lines[1]!.err as { message: string }).message, 'connect ECONNREFUSED 127.0.0.1:4318');
  t.true(lines.every((l) => l.component === 'opentelemetry'));
});

test.serial("with tracing on, the SDK's diagnostics go to the engine's log unless OTEL_LOG_LEVEL asks for the SDK's own", async (t) => {
  const { lines, log } = capture();
  t.teardown(() => diag.disable());
  const stop = startTracing({ OTEL_TRACES_EXPORTER: 'console' }, { includeUserIds: false, log });
  try {
    diag.warn('BatchSpanProcessor: something to see');
    await settle();
    t.deepEqual(lines.map((l) => l.msg), ['BatchSpanProcessor: something to see']);
  } finally {
    await stop();
  }
  diag.disable();
  const other = capture();
  const stopAgain = startTracing({ OTEL_TRACES_EXPORTER: 'console', OTEL_LOG_LEVEL: 'none' }, { includeUserIds: false, log: other.log });
  try {
    diag.warn('to the console logger, not ours');
    await settle();
    t.deepEqual(other.lines, []);
  } finally {
    await stopAgain();
  }
});
