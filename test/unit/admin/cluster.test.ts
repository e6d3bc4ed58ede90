import test from 'ava';
import sinon from 'sinon';
import { buildAdmin } from '../../../src/admin/server.ts';
import { silentLogger } from '../../../src/log.ts';
import { clusterViewOf } from '../../../src/app/clusterView.ts';
import { KafkaClusterReader } from '../../../src/transport/kafka/KafkaClusterReader.ts';
import type { ClusterView } from '../../../src/admin/types.ts';
import { settings, stubEngine } from './helpers.ts';

const VIEW: ClusterView = {
  groupId: 'risk-engine',
  state: 'Stable',
  instances: [
    { instanceId: 'unit-1', host: '127.0.0.1', shards: [0], self: true },
    { instanceId: 'unit-2', host: '127.0.0.1', shards: [1], self: false },
  ],
  shards: [
    { shard: 0, owner: 'unit-1', lag: 0, committed: { 'login-events': '5' } },
    { shard: 1, owner: 'unit-2', lag: 3, committed: { 'login-events': '2' } },
  ],
};

const withCluster = (clusterView: () => Promise<ClusterView>) => buildAdmin({ ...stubEngine(), clusterView }, settings(), silentLogger);

test('GET /cluster: the instances and every shard with its owner and lag, as the engine reads them', async (t) => {
  const clusterView = sinon.stub<[], Promise<ClusterView>>().resolves(VIEW);
  const res = await withCluster(clusterView).inject({ method: 'GET', url: '/cluster' });
  t.is(res.statusCode, 200);
  t.deepEqual(res.json(), VIEW);
  t.is(res.headers['x-risk-instance'], 'unit-1');
});

test('GET /cluster with Kafka unreachable: 503 in the error shape, no broker address in it', async (t) => {
  const refused = Object.assign(new Error('Connection error: connect ECONNREFUSED 10.1.2.3:9092'), { name: 'KafkaJSConnectionError' });
  const admin = { describeGroups: sinon.stub().rejects(refused), fetchOffsets: sinon.stub().rejects(refused), fetchTopicOffsets: sinon.stub().rejects(refused) };
  const reader = new KafkaClusterReader(admin, { groupId: 'g', clientId: 'risk-engine', topics: { inputs: ['login-events'] }, partitions: 4 });
  const res = await withCluster(async () => clusterViewOf(await reader.read(), null)).inject({ method: 'GET', url: '/cluster' });
  t.is(res.statusCode, 503);
  t.regex(res.headers['content-type'] as string, /^application\/json/);
  t.is(res.json().error.code, 'UNAVAILABLE');
  t.notRegex(res.body, /10\.1\.2\.3/);
});

test('GET /cluster without a cluster view (an engine that has none): 503', async (t) => {
  const res = await buildAdmin(stubEngine(), settings(), silentLogger).inject({ method: 'GET', url: '/cluster' });
  t.is(res.statusCode, 503);
  t.is(res.json().error.code, 'UNAVAILABLE');
});

test('GET /cluster needs the token like the rest of the API', async (t) => {
  const app = buildAdmin({ ...stubEngine(), clusterView: async () => VIEW }, settings({ ADMIN_TOKEN: 'unit-test-token-0123456789' }), silentLogger);
  t.is((await app.inject({ method: 'GET', url: '/cluster' })).statusCode, 401);
});
