import type { Options } from 'execa';
import type { Executor, SpawnResult, SpawnSpec } from './executor.js';
import { KILL_GRACE_MS, signalGroup, terminateGroup, type ProcessGroups } from './process-groups.js';


export class ExecaExecutor implements Executor {
  constructor(private readonly groups: ProcessGroups, private readonly graceMs = KILL_GRACE_MS) {}

  async run(spec: SpawnSpec): Promise<SpawnResult> {
    const options: Options = {
      cwd: spec.cwd,
      env: spec.baseEnv ? { ...spec.baseEnv, ...spec.env } : spec.env,
      extendEnv: false,
      stdin: 'ignore',
      // execa's types list only fds 3-9; any open fd works at run time and lets the child
      // write its log straight to a file, never through this process.
      stdout: spec.stdout as Options['stdout'],
      stderr: spec.stderr as Options['stderr'],
      // Its own process group (and session): signals reach everything the script starts.
      detached: true,
      cleanup: false,
      reject: false,
      buffer: false,
      stripFinalNewline: false,
    };
    // Loaded on first use: a run with nothing to do should not pay for it (~70 ms).
    const { execa } = await import('execa');
    const child = execa(spec.argv[0]!, spec.argv.slice(1), options);
    const pid = child.pid;
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (pid !== undefined) killTimer = terminateGroup(pid, this.graceMs, killTimer);
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    if (pid !== undefined) {
      this.groups.add(pid);
      spec.onStart?.();
      // The script is done when its leader exits: a child it daemonised must not hold the
      // step (or a pipe) open, nor outlive it.
      child.once('exit', () => signalGroup(pid, 'SIGKILL'));
    }
    if (spec.signal.aborted) onAbort();
    else spec.signal.addEventListener('abort', onAbort, { once: true });
    const timeoutTimer = spec.timeoutMs === null ? undefined : setTimeout(() => {
      timedOut = true;
      stop();
    }, spec.timeoutMs);
    if (spec.onOutput) {
      const onOutput = spec.onOutput;
      child.stdout?.on('data', (c: Buffer) => onOutput('stdout', c));
      child.stderr?.on('data', (c: Buffer) => onOutput('stderr', c));
    }
    try {
      const result = await child;
      const spawnError = result.exitCode === undefined && result.signal === undefined
        ? result.shortMessage ?? result.message ?? 'could not start' : null;
      return {
        exitCode: result.exitCode ?? null,
        signal: result.signal ?? null,
        timedOut,
        aborted,
        spawnError,
        rusage: null,
      };
    } finally {
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      spec.signal.removeEventListener('abort', onAbort);
      if (pid !== undefined) {
        // Whatever the script left running in its group (a daemonised child) goes with it.
        signalGroup(pid, 'SIGKILL');
        this.groups.remove(pid);
      }
    }
  }
}
