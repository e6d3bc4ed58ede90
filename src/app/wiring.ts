/**
 * The one place where adapters are chosen from the settings: Kafka + Redis + NATS when brokers
 * are configured, the embedded (in-process) ones otherwise.
 */
import type { Settings } from '../config/settings.ts';
import { isEmbedded } from '../config/settings.ts';
import type { Logger } from '../log.ts';
import { EmbeddedJournal } from '../persistence/EmbeddedJournal.ts';
import { RedisJournal } from '../persistence/RedisJournal.ts';
import type { Writable } from 'node:stream';
import { openEmbeddedTransport, type EmbeddedTransport } from '../transport/embedded/index.ts';
import { createKafka, kafkaConnectError } from '../transport/kafka/kafkaClient.ts';
import { KafkaEventSource } from '../transport/kafka/KafkaEventSource.ts';
import { KafkaClusterReader } from '../transport/kafka/KafkaClusterReader.ts';
import { KafkaIngestSink } from '../transport/kafka/KafkaShardSink.ts';
import { ensureTopics } from '../transport/kafka/topics.ts';
import { NatsAlertBus } from '../transport/nats/NatsAlertBus.ts';
import type { EngineParts } from './Engine.ts';
import { lockDataDir } from './dataDirLock.ts';
import { faultsFrom, withFaults } from './faults.ts';
import type { RulesStore } from './rules.ts';
import { EmbeddedDecisionFeed } from '../transport/embedded/EmbeddedDecisionFeed.ts';
import type { DecisionFeed } from '../transport/ports.ts';
import { KafkaDecisionFeed } from '../transport/kafka/KafkaDecisionFeed.ts';
import { embeddedRulesChannel, openRulesChannel } from './rules/channel.ts';

/** The engine's parts and what POST /decide follows: the committed decisions of the cluster. */
export type WiredParts = EngineParts & { decisionFeed: DecisionFeed };

const decisionRetentionMs = (settings: Settings): number => settings.decisions.retentionDays * 86_400_000;

export async function buildParts(settings: Settings, log: Logger, rules: RulesStore): Promise<WiredParts> {
  return isEmbedded(settings) ? buildEmbeddedParts(settings, log, rules) : buildClusterParts(settings, log, rules);
}

/** No external service: an in-process partitioned log and an LMDB journal, both under DATA_DIR. */
async function buildEmbeddedParts(settings: Settings, log: Logger, rules: RulesStore): Promise<WiredParts> {
  const { parts, transport } = openEmbeddedParts(settings, log, rules);
  const decisionFeed = new EmbeddedDecisionFeed(transport.log, settings.kafka.topics.decisions, parts.partitions);
  return {
    ...parts,
    decisionFeed,
    close: async () => {
      await decisionFeed.close();
      await parts.close();
    },
  };
}

/**
 * The embedded parts and the transport behind them (the demo reads decisions from its log);
 * `alertsOut` is where alert lines are printed (stdout by default).
 */
export function openEmbeddedParts(settings: Settings, log: Logger, rules: RulesStore, options: { alertsOut?: Writable } = {}): { parts: EngineParts; transport: EmbeddedTransport } {
  const { topics, partitions, groupId, fromBeginning } = settings.kafka;
  // Before anything is opened: a second engine on the same directory stops here (exit 2).
  const lock = lockDataDir(settings.dataDir);
  let transport: EmbeddedTransport;
  let store: EmbeddedJournal;
  try {
    transport = openEmbeddedTransport({
      dataDir: settings.dataDir,
      inputs: [...topics.inputs, ...(topics.other ? [topics.other] : [])],
      partitions,
      groupId,
      fromBeginning,
      retention: settings.embedded.retention,
      ...(options.alertsOut ? { out: options.alertsOut } : {}),
      log: log.child({ component: 'embedded' }),
    });
  } catch (err) {
    lock.release();
    throw err;
  }
  try {
    store = new EmbeddedJournal({ dir: settings.dataDir, keepSnapshots: settings.persistence.keepSnapshots, decisionRetentionMs: decisionRetentionMs(settings) });
  } catch (err) {
    void transport.close().catch(() => undefined).finally(() => lock.release());
    throw err;
  }
  const migrated = store.migrated;
  if (migrated) log.info({ path: store.path, moved: migrated.moved }, 'embedded journal converted to its binary key layout');
  if (migrated?.unreadable) log.warn({ path: store.path, unreadable: migrated.unreadable }, 'embedded journal: entries with keys no id encodes to were left in the old databases');
  const parts: EngineParts = {
    source: withFaults(transport.source, process.env.RISK_FAULT),
    store,
    alerts: transport.alerts,
    ingest: transport.ingest,
    partitions: transport.log.partitionsOf(topics.inputs[0]!),
    commitIntervalMs: settings.embedded.commitIntervalMs,
    faults: faultsFrom(process.env.RISK_FAULT),
    rules: embeddedRulesChannel(rules, { counts: () => store }),
    close: async () => {
      try {
        await transport.close();
        await store.close();
      } finally {
        lock.release();
      }
    },
  };
  return { parts, transport };
}

async function buildClusterParts(settings: Settings, log: Logger, rules: RulesStore): Promise<WiredParts> {
  const opened: { close(): Promise<void> }[] = [];
  const closeAll = async () => {
    for (const part of opened.reverse()) await part.close().catch((err) => log.warn({ err }, 'closing a part failed'));
  };
  try {
    const kafka = createKafka(settings.kafka.brokers, `${settings.kafka.clientId}-${settings.instanceId}`, log, settings.kafka);
    const admin = kafka.admin();
    await admin.connect().catch((err: unknown) => Promise.reject(kafkaConnectError(err)));
    opened.push({ close: () => admin.disconnect() });
    const { partitions } = await ensureTopics(admin, settings.kafka);
    // The shadow counts live in the store, connected below: asked for only once a report is.
    let counts: RedisJournal | null = null;
    const rulesChannel = openRulesChannel(kafka, settings, rules, log.child({ component: 'rules' }), { counts: () => counts });
    opened.push(rulesChannel);
    await rulesChannel.start(); // the latest rules are in force before the engine takes events
    const { username, password, tlsCaFile } = settings.redis;
    const store = await RedisJournal.connect({ url: settings.redis.url, username, password, tlsCaFile, prefix: settings.redis.prefix, keepSnapshots: settings.persistence.keepSnapshots, decisionRetentionMs: decisionRetentionMs(settings) });
    counts = store;
    opened.push(store);
    const alerts = await NatsAlertBus.connect(
      { ...settings.nats, bufferSize: settings.nats.alertBufferSize },
      log.child({ component: 'alerts' }),
    );
    opened.push(alerts);
    const ingest = await KafkaIngestSink.open(kafka, settings.kafka.compression);
    opened.push(ingest);
    const kafkaSource = new KafkaEventSource(kafka, admin, settings.kafka, log.child({ component: 'consumer' }), { instanceId: settings.instanceId });
    // Closed after the engine stopped its shards (the parts close in reverse order).
    opened.push({ close: () => kafkaSource.closeSinks() });
    const source = withFaults(kafkaSource, process.env.RISK_FAULT);
    const decisionFeed = new KafkaDecisionFeed(kafka, { topic: settings.kafka.topics.decisions, groupPrefix: `${settings.kafka.groupId}.decide.${settings.instanceId}` }, log.child({ component: 'decisions' }));
    opened.push(decisionFeed);
    const cluster = new KafkaClusterReader(admin, { ...settings.kafka, partitions });
    // One transaction per instance is paced by the instance (kafka.commitIntervalMs): a shard hands its work over at once.
    const commitIntervalMs = settings.kafka.transactions === 'instance' ? 0 : undefined;
    return { source, store, alerts, ingest, partitions, rules: rulesChannel, faults: faultsFrom(process.env.RISK_FAULT), decisionFeed, cluster, commitIntervalMs, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
