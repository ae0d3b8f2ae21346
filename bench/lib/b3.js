import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runB1 } from './b1.js';
import { engineArgv, engineEnv, stepCounts } from './engine.js';
import { timedOk } from './measure.js';

/**
 * B3, no-op resume: the engine re-run on B1's finished db (same manifest, same -input),
 * against make deciding that the same 2N targets are up to date. Both whole commands,
 * process start included.
 */
export async function runB3(o, work, log) {
  const dir = join(work, 'b1');
  const engineDir = join(dir, 'finished-engine');
  const makeDir = join(dir, 'finished-make');
  if (!existsSync(engineDir) || !existsSync(makeDir) || !existsSync(join(dir, `input-${o.n}.stamp`))) {
    log('B3: building a finished B1 db and make tree first (untimed for B3)');
    await runB1({ ...o, repeat: 1 }, work, log);
  }
  const ex = o.executors[0];
  const contenders = [
    {
      name: 'engine re-run',
      kind: 'engine',
      argv: engineArgv(ex, [
        '-manifest',
        join(dir, 'b1.toml'),
        '-db',
        join(engineDir, 'db'),
        '-input',
        join(dir, 'input.txt'),
        '-quiet',
      ]),
      cwd: dir,
      env: engineEnv(ex),
    },
    {
      name: `make -j${o.jobs} -r (up to date)`,
      kind: 'peer',
      argv: ['make', '-r', '-s', `-j${o.jobs}`, '-f', join(dir, 'Makefile')],
      cwd: makeDir,
      env: process.env,
    },
  ];
  const before = stepCounts(join(engineDir, 'db'));
  const results = contenders.map((c) => ({ bench: 'B3', name: c.name, kind: c.kind, ms: [], rssKb: [] }));
  for (let rep = 1; rep <= o.repeat; rep++) {
    for (const [i, c] of contenders.entries()) {
      const r = await timedOk(`B3 ${c.name}`, c.argv, { cwd: c.cwd, env: c.env, tmpDir: work });
      results[i].ms.push(r.ms);
      results[i].rssKb.push(r.rssKb);
      log(`B3 rep ${rep}/${o.repeat} ${c.name}: ${(r.ms / 1000).toFixed(3)} s`);
    }
  }
  const after = stepCounts(join(engineDir, 'db'));
  if (JSON.stringify(before) !== JSON.stringify(after))
    throw new Error(`B3: the no-op re-run changed the db: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
  if ((after.done ?? 0) !== 2 * o.n + 1) throw new Error(`B3: ${after.done} done steps, expected ${2 * o.n + 1}`);
  return results;
}
