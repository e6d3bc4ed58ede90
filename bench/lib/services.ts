/**
 * The CPU the services spend on a scenario: Redis (its own count, INFO cpu) and the Kafka broker
 * when it runs on this machine (the process listening on the broker's port, from /proc). The
 * engine's CPU alone leaves out what its requests cost the services it shares the machine with.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createClient } from 'redis';

export interface ServiceCpu {
  redisSeconds: number | null;
  brokerSeconds: number | null;
}

/** The pid listening on a local TCP port, or null (no such listener, or `ss` not there). */
function listenerPid(port: number): number | null {
  try {
    const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = /pid=(\d+)/.exec(out)?.[1];
    return pid ? Number(pid) : null;
  } catch {
    return null;
  }
}

/** user + system CPU seconds of a process (fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 1/100 s). */
function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** What the meter asks of its Redis connection. */
interface RedisInfo {
  info(section: string): Promise<string>;
  quit(): Promise<unknown>;
}

export class ServiceCpuMeter {
  private constructor(
    private readonly redis: RedisInfo,
    private readonly brokerPid: number | null,
  ) {}

  static async open(redisUrl: string, brokers: readonly string[]): Promise<ServiceCpuMeter> {
    const redis = createClient({ url: redisUrl });
    await redis.connect();
    const [host, port] = (brokers[0] ?? '').split(':');
    const local = host === '127.0.0.1' || host === 'localhost' || host === '::1';
    return new ServiceCpuMeter(redis, local && port ? listenerPid(Number(port)) : null);
  }

  async read(): Promise<ServiceCpu> {
    let redisSeconds: number | null = null;
    try {
      const info = await this.redis.info('cpu');
      const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
      const total = field('used_cpu_sys') + field('used_cpu_user');
      redisSeconds = Number.isFinite(total) ? total : null;
    } catch {
      redisSeconds = null;
    }
    return { redisSeconds, brokerSeconds: this.brokerPid === null ? null : processCpuSeconds(this.brokerPid) };
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}

/** CPU-ms per 1000 events of each service between two readings (null where one is unknown). */
export function servicesPer1000(before: ServiceCpu, after: ServiceCpu, events: number): { redis: number | null; broker: number | null } {
  const per = (a: number | null, b: number | null) => (a === null || b === null || events <= 0 ? null : Math.round(((b - a) * 1e7) / events) / 10);
  return { redis: per(before.redisSeconds, after.redisSeconds), broker: per(before.brokerSeconds, after.brokerSeconds) };
}
