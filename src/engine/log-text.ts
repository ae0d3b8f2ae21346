import { closeSync, openSync, writeSync } from 'node:fs';
import { readOpenFile } from '../store/hash-file.js';

/** The last lines of a log, read from its end: a failure's summary never reads a huge log whole. */
export function tailOf(path: string, size: number, maxLines = 5): string {
  const from = Math.max(0, size - 4096);
  const fd = openSync(path, 'r');
  try {
    const text = readOpenFile(fd, size - from, from).toString('utf8');
    return text.trimEnd().split('\n').slice(-maxLines).join('\n');
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
