import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, release, totalmem } from 'node:os';

/** What the numbers were measured on, for the results file. */
export function machine() {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit: firstLine(['git', 'rev-parse', '--short', 'HEAD']),
    dirty: (firstLine(['sh', '-c', 'git status --porcelain -- src | head -1']) ?? '') !== '',
    tools: {
      make: firstLine(['make', '--version']),
      openssl: firstLine(['openssl', 'version']),
      parallel: firstLine(['parallel', '--version']),
      xargs: firstLine(['xargs', '--version']),
    },
  };
}

export function firstLine(argv) {
  try {
    return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')[0]
      .trim();
  } catch {
    return null;
  }
}

export function have(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
