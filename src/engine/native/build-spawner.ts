// Compiles the C spawner helper (spawner.c, with collect.c and sha256.c) next to this file in dist/, as part of `npm run
// build`. Without a C compiler the build still succeeds: the engine then uses its python3 or
// perl helper (spawner-helper.ts), which keep the same protocol at a higher cost per script.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sources = ['spawner.c', 'collect.c', 'sha256.c'].map((f) => fileURLToPath(new URL(`../../../src/engine/native/${f}`, import.meta.url)));
const target = fileURLToPath(new URL('./task-pipeline-spawner', import.meta.url));
const cc = process.env.CC ?? 'cc';

rmSync(target, { force: true });
const r = spawnSync(cc, ['-O2', '-std=c11', '-Wall', '-o', target, ...sources], { stdio: ['ignore', 'inherit', 'inherit'] });
if (r.error || r.status !== 0) {
  const why = r.error ? r.error.message : `${cc} exited with ${r.status}`;
  console.warn(`task-pipeline: the C spawner helper was not built (${why}); scripts will be started by python3 or perl instead`);
}
