import { closeSync, openSync, readSync, writeSync } from 'node:fs';

/** The last lines of a log, read from its end: a failure's summary never reads a huge log whole. */
export function tailOf(path: string, size: number, maxLines = 5): string {
  const from = Math.max(0, size - 4096);
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size - from);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, from + off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
  } finally {
    closeSync(fd);
  }
}

/** For -verbose: copy the script's bytes to its log and echo whole lines with a prefix. */
export function echoTo(echo: (line: string) => void, prefix: string, logFd: number) {
  const partial = { stdout: '', stderr: '' };
  return (stream: 'stdout' | 'stderr', chunk: Buffer) => {
    writeSync(logFd, chunk);
    const text = partial[stream] + chunk.toString('utf8');
    const lines = text.split('\n');
    partial[stream] = lines.pop()!;
    for (const line of lines) echo(prefix + line);
  };
}
