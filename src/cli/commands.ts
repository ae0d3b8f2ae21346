import type { Command } from './command.js';

/** The command table. Each command's module is imported only when it is the one run. */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  run: { summary: 'run a manifest over the db (the default command)', load: () => import('./run.js') },
  status: {
    summary: 'per task version: pending/running/done/failed/reused, objects, bytes',
    load: () => import('./status.js'),
  },
  inputs: {
    summary: 'the run inputs (name, hash, size); `inputs rm NAME|GLOB...` retires some',
    load: () => import('./inputs.js'),
  },
  cat: { summary: "an object's bytes to stdout", load: () => import('./cat.js') },
  show: { summary: 'an object: size, path, names, producing and consuming steps', load: () => import('./show.js') },
  lineage: { summary: 'the provenance tree of an object back to the run inputs', load: () => import('./lineage.js') },
  log: {
    summary: "a step's captured output, then every attempt: exit code or error, duration, CPU, peak RSS",
    load: () => import('./log.js'),
  },
  ls: { summary: "a task's current outputs: name, hash, size", load: () => import('./ls.js') },
  export: { summary: "materialise a task's current outputs under their names", load: () => import('./export.js') },
  fsck: { summary: 're-hash every object; report missing or corrupt ones', load: () => import('./fsck.js') },
  audit: {
    summary: 're-run a sample of done steps aside and compare outputs: is caching telling the truth?',
    load: () => import('./audit.js'),
  },
  gc: { summary: 'delete objects nothing references', load: () => import('./gc.js') },
  graph: { summary: 'the task graph of a manifest as Mermaid or dot', load: () => import('./graph.js') },
  worker: {
    summary: 'run steps of a PostgreSQL db on this host, beside the run that coordinates it',
    load: () => import('./worker.js'),
  },
  serve: {
    summary: 'a local web view: the task graph with live counts, steps, logs, objects, lineage',
    load: () => import('./serve.js'),
  },
};
