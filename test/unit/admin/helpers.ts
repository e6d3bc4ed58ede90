/** A stubbed engine (sinon) and settings for admin API unit tests through fastify's inject. */
import sinon from 'sinon';
import type { FastifyInstance } from 'fastify';
import { loadSettings, type Settings } from '../../../src/config/settings.ts';
import { silentLogger } from '../../../src/log.ts';
import { buildAdmin, type AdminEngine, type AdminOptions } from '../../../src/admin/server.ts';
import type { UserStateView } from '../../../src/domain/index.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { embeddedRulesChannel } from '../../../src/app/rules/channel.ts';

export const TOKEN = 'unit-test-token-0123456789';

export function settings(env: Record<string, string> = {}): Settings {
  return loadSettings({ LOG_LEVEL: 'silent', INSTANCE_ID: 'unit-1', ...env });
}

export function stubEngine() {
  return {
    metrics: {
      registry: {
        metrics: sinon.stub().resolves('# HELP risk_up test\nrisk_up 1\n'),
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
      },
    },
    readiness: sinon.stub<[], Promise<{ ready: boolean; reasons: string[] }>>().resolves({ ready: true, reasons: [] }),
    userState: sinon.stub<[string], Promise<UserStateView | null>>().resolves(null),
    snapshotUser: sinon.stub<[string], Promise<void>>().resolves(),
    ownedShards: sinon.stub().returns([1, 3]),
    liveShard: sinon.stub().callsFake(async (shard: number) => ({ liveActors: shard * 10 })),
    parts: {
      ingest: { send: sinon.stub().resolves(), close: sinon.stub().resolves() },
      source: {
        generation: 7,
        positions: sinon.stub().callsFake(async (shards: readonly number[]) =>
          shards.map((shard) => ({ shard, committed: { 'login-events': '5' }, lag: 2 })),
        ),
      },
    },
  } satisfies AdminEngine;
}

export type StubEngine = ReturnType<typeof stubEngine>;

export function rulesFromFile(): RulesHolder {
  return RulesHolder.fromFile('config/default-rules.json');
}

export interface Built {
  app: FastifyInstance;
  engine: StubEngine;
  holder: RulesHolder;
}

/** The admin API on a stubbed engine; rules through the embedded channel unless `options` says otherwise. */
export function build(env: Record<string, string> = {}, options?: AdminOptions): Built {
  const engine = stubEngine();
  const holder = rulesFromFile();
  const app = buildAdmin(engine, settings(env), silentLogger, options ?? { rules: embeddedRulesChannel(holder) });
  return { app, engine, holder };
}

export const auth = { authorization: `Bearer ${TOKEN}` };

export function sampleUser(userId: string): UserStateView {
  return {
    userId,
    shard: 3,
    source: 'actor',
    sequenceNumber: 2,
    profile: {
      eventCount: 2, loginCount: 1, paymentCount: 1, transferCount: 0, otherCount: 0,
      totalPaymentAmount: '12.5000', totalTransferAmount: '0.0000',
      devices: ['d-1'], countries: ['DE'], firstEventTime: 1, lastEventTime: 2,
    },
    recentEvents: [],
    decisions: [],
    window: { windowStart: 0, windowEnd: 0, eventCount: 0, maxRiskScore: 0 },
    lateEvents: 0,
  };
}
