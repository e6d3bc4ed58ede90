// Tests run as TypeScript through tsx (no build step); worker threads are off because tsx's
// --import hook only applies to child processes (LIBRARY-NOTES: ava 7 on Node 20).
export default {
  files: ['test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  concurrency: 2,
  timeout: '180s',
};
