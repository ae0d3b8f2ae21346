import type { Options } from 'execa';
import { collectStep } from './collect-outputs.js';
import type { Executor, SpawnResult, SpawnSpec } from './executor.js';
import { teeLines } from '../engine/log-text.js';
import { KILL_GRACE_MS, signalGroup, type ProcessGroups } from './process-groups.js';

/**
 * The fallback where the C helper could not be built: scripts started by the engine itself, through
 * execa. A timeout or an interrupt sends SIGTERM to the script (SIGKILL after the grace period);
 * when it exits, whatever it left in its process group is killed. CPU and memory are not measured.
 */
export class ExecaExecutor implements Executor {
  constructor(
    private readonly groups: ProcessGroups,
    private readonly graceMs = KILL_GRACE_MS,
  ) {}

  async run(spec: SpawnSpec): Promise<SpawnResult> {
    const tee = spec.onLine ? teeLines(spec.onLine, spec.stderr) : null;
    const options: Options = {
      cwd: spec.cwd,
      env: spec.baseEnv ? { ...spec.baseEnv, ...spec.env } : spec.env,
      extendEnv: false,
      stdin: 'ignore',
      // execa's types list only fds 3-9; any open fd works at run time and lets the child
      // write its log straight to a file, never through this process.
      stdout: (tee && spec.stdout === spec.stderr ? 'pipe' : spec.stdout) as Options['stdout'],
      stderr: (tee ? 'pipe' : spec.stderr) as Options['stderr'],
      // Its own process group (and session): what the script starts can be killed with it.
      detached: true,
      timeout: spec.timeoutMs ?? undefined,
      cancelSignal: spec.signal,
      forceKillAfterDelay: this.graceMs,
      reject: false,
      buffer: false,
      stripFinalNewline: false,
    };
    // Loaded on first use: a run with nothing to do should not pay for it.
    const { execa } = await import('execa');
    const child = execa(spec.argv[0]!, spec.argv.slice(1), options);
    const pid = child.pid;
    if (pid !== undefined) {
      this.groups.add(pid);
      spec.onStart?.();
      // The script is done when its leader exits: a child it daemonised must not hold the step
      // (or a pipe) open, nor outlive it.
      child.once('exit', () => signalGroup(pid, 'SIGKILL'));
    }
    if (tee) {
      child.stdout?.on('data', (c: Buffer) => tee.write('out', c));
      child.stderr?.on('data', (c: Buffer) => tee.write('err', c));
    }
    try {
      const r = await child;
      tee?.end();
      const started = r.exitCode !== undefined || r.signal !== undefined;
      return {
        exitCode: r.exitCode ?? null,
        signal: r.signal ?? null,
        timedOut: r.timedOut,
        aborted: r.isCanceled,
        spawnError: started ? null : (r.originalMessage ?? r.shortMessage ?? 'could not start').split('\n')[0]!,
        stored: await collectStep(spec.files, r.exitCode === 0),
        rusage: null,
      };
    } finally {
      if (pid !== undefined) {
        signalGroup(pid, 'SIGKILL');
        this.groups.remove(pid);
      }
    }
  }
}
