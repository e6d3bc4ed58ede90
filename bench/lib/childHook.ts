/**
 * Preloaded (`--import`) into the engine child of the bench, so that the engine's code is not
 * touched. Over the IPC channel it answers:
 *   {type: 'mem'}                   process.memoryUsage() after a full GC (the child runs with --expose-gc)
 *   {type: 'profile-start', heap}   starts the V8 CPU profiler of the main thread (node:inspector);
 *                                   with heap, also the sampling heap profiler, counting what is
 *                                   collected too (what is allocated, not what stays)
 *   {type: 'profile-stop', file}    stops them and writes the .cpuprofile (the same format as
 *                                   --cpu-prof) and, with heap, the .heapprofile next to it
 * Profiling this way covers exactly the window the bench chooses (catching up), not start-up.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { heapProfileFile } from './profile.ts';

type Request = { type: 'mem'; id: number } | { type: 'profile-start'; id: number; heap?: boolean } | { type: 'profile-stop'; id: number; file: string };

const gc = (globalThis as { gc?: () => void }).gc;
let session: Session | null = null;
let sampling = false;

function post<T>(method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => session!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))));
}

async function handle(msg: Request): Promise<Record<string, unknown>> {
  switch (msg.type) {
    case 'mem':
      if (gc) {
        // Twice: the first pass can leave objects whose finalisers free more.
        gc();
        gc();
      }
      return { gc: gc !== undefined, memory: process.memoryUsage() };
    case 'profile-start':
      session = new Session();
      session.connect();
      await post('Profiler.enable');
      await post('Profiler.setSamplingInterval', { interval: 1000 });
      await post('Profiler.start');
      if (msg.heap) {
        await post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
        sampling = true;
      }
      return {};
    case 'profile-stop': {
      if (!session) throw new Error('the profiler is not running');
      const { profile } = await post<{ profile: unknown }>('Profiler.stop');
      if (sampling) {
        sampling = false;
        const { profile: heap } = await post<{ profile: unknown }>('HeapProfiler.stopSampling');
        writeFileSync(heapProfileFile(msg.file), JSON.stringify(heap));
      }
      session.disconnect();
      session = null;
      writeFileSync(msg.file, JSON.stringify(profile));
      return { file: msg.file };
    }
  }
}

if (process.send) {
  process.on('message', (msg: Request) => {
    if (!msg || typeof msg !== 'object' || !('type' in msg)) return;
    handle(msg).then(
      (answer) => process.send?.({ ...answer, type: msg.type, id: msg.id }),
      (err: unknown) => process.send?.({ type: msg.type, id: msg.id, error: String(err) }),
    );
  });
  // The channel must not keep the engine alive once it decided to exit.
  (process.channel as { unref?: () => void } | undefined)?.unref?.();
}
