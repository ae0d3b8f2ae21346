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

/** For -verbose through execa: copy the script's bytes to its log and pass on whole lines, per stream. */
export function teeLines(onLine: (line: string) => void, logFd: number) {
  const partial = new Map<unknown, string>();
  return {
    write(stream: unknown, chunk: Buffer): void {
      writeSync(logFd, chunk);
      const lines = ((partial.get(stream) ?? '') + chunk.toString('utf8')).split('\n');
      partial.set(stream, lines.pop()!);
      for (const line of lines) onLine(line);
    },
    /** The last line, if it had no newline. */
    end(): void {
      for (const rest of partial.values()) if (rest !== '') onLine(rest);
      partial.clear();
    },
  };
}
