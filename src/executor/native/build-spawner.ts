// Compiles the C spawner helper next to this file in dist/, as part of `npm run build`. Where it cannot be built (no C
// compiler, `CC=false`, or a libc without the GNU functions it uses: posix_spawn_file_actions_addchdir_np,
// strerrorname_np) the build still succeeds and says so in one line: the engine then starts scripts through execa.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sources = [
  'spawner.c',
  'launch.c',
  'messages.c',
  'collect.c',
  'sha256.c',
  'fsync-path.c',
  'list-dir.c',
  'list-chunks.c',
].map((f) => fileURLToPath(new URL(`../../../src/executor/native/${f}`, import.meta.url)));
const target = fileURLToPath(new URL('./task-pipeline-spawner', import.meta.url));
// CC may carry flags of its own ("gcc -m64"), as make allows.
const [cc, ...ccFlags] = (process.env.CC ?? 'cc').trim().split(/\s+/);

rmSync(target, { force: true });
const r = spawnSync(
  cc!,
  [...ccFlags, '-O2', '-std=c11', '-ffp-contract=off', '-Wall', '-pthread', '-o', target, ...sources, '-lm'],
  {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
if (r.error || r.status !== 0) {
  rmSync(target, { force: true });
  // The compiler's own report is many lines; the first error says which function or header is missing.
  const first = output
    .split('\n')
    .find((l) => /error|undefined reference/i.test(l))
    ?.trim();
  const why = r.error ? r.error.message : `${cc} exited with ${r.status}${first ? `: ${first}` : ''}`;
  console.warn(
    `task-pipeline: the C spawner helper was not built (${why}); scripts will be started through execa instead`,
  );
} else if (output.trim() !== '') {
  // Built, with warnings: shown as the compiler wrote them.
  process.stderr.write(output);
}
