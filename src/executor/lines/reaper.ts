import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

// Keeps the process groups it is told of ("+ PID", "- PID"); when its stdin ends (the engine has
// exited, or died by kill -9), it kills those still listed. Plain sh: no fork per line.
const SCRIPT = `groups=
while read -r op pg; do
  if [ "$op" = + ]; then groups="$groups $pg"; else
    kept=; for g in $groups; do [ "$g" = "$pg" ] || kept="$kept $g"; done; groups=$kept
  fi
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done
exit 0`;

/**
 * The group kill after the engine's death: the parent-death signal (lines-process.ts) reaches
 * a long-lived process itself, this reaches whatever it started in its group.
 */
export class Reaper {
  private readonly child: ChildProcess | null;

  constructor() {
    let child: ChildProcess | null = null;
    try {
      child = spawn('sh', ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
      child.on('error', () => {
        // No sh: the parent-death signal alone stands.
      });
      child.stdin!.on('error', () => {});
      // It must not keep the engine alive, nor be waited for.
      child.unref();
      (child.stdin as Socket).unref();
    } catch {
      child = null;
    }
    this.child = child;
  }

  watch(pid: number, alive: boolean): void {
    this.child?.stdin?.write(`${alive ? '+' : '-'} ${pid}\n`);
  }

  close(): void {
    this.child?.stdin?.end();
  }
}
