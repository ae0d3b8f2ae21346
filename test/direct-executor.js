// An executor on its own (no engine) with a real store, real scripts and real files, for the
// collector contract in executors.test.js. Also a command, so that a test running as root can run
// it as another user: `node test/direct-executor.js KIND DIR SCRIPT` prints the result as JSON.
import { closeSync, mkdirSync, openSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

/** kind: 'spawner' (the C helper) or 'execa'; everything goes under dir (db/ and step<n>/). */
export async function directExecutor(dir, kind) {
  const { LocalObjectStore } = await import(join(DIST, 'store/object-store.js'));
  const { ProcessGroups } = await import(join(DIST, 'executor/process-groups.js'));
  const db = join(dir, 'db');
  mkdirSync(join(db, 'objects'), { recursive: true });
  mkdirSync(join(db, 'tmp'), { recursive: true });
  const store = new LocalObjectStore(db);
  const groups = new ProcessGroups();
  const executor =
    kind === 'spawner'
      ? new (await import(join(DIST, 'executor/spawner-executor.js'))).SpawnerExecutor(groups, { limit: 2 })
      : new (await import(join(DIST, 'executor/execa-executor.js'))).ExecaExecutor(groups);
  let n = 0;
  return {
    db,
    close: () => executor.close?.(),
    /** The script run by /bin/sh with OUTPUT_DIR and INPUT_FILE in step<n>/: the SpawnResult, and the lines given to onLine. */
    async run(script, { verbose = false } = {}) {
      const step = join(dir, `step${++n}`);
      const outDir = join(step, 'out');
      mkdirSync(outDir, { recursive: true });
      const input = join(step, 'input');
      writeFileSync(input, 'the input\n');
      const st = statSync(input, { bigint: true });
      const log = join(step, 'log');
      const fd = openSync(log, 'w');
      const lines = [];
      try {
        const r = await executor.run({
          argv: ['/bin/sh', '-c', script],
          cwd: step,
          env: { PATH: process.env.PATH, OUTPUT_DIR: outDir, INPUT_FILE: input },
          stdout: fd,
          stderr: fd,
          onLine: verbose ? (line) => lines.push(line) : undefined,
          timeoutMs: null,
          signal: new AbortController().signal,
          files: {
            store,
            outDir,
            log,
            input: { path: input, state: `${st.ino} ${st.size} ${st.mtimeNs} ${st.ctimeNs} ${st.mode}` },
          },
        });
        return { ...r, lines };
      } finally {
        closeSync(fd);
      }
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [kind, dir, script] = process.argv.slice(2);
  const ex = await directExecutor(dir, kind);
  const r = await ex.run(script);
  ex.close();
  process.stdout.write(JSON.stringify(r));
}
