import { readFileSync } from 'node:fs';
import { parse } from '@iarna/toml';
import { ManifestError } from './errors.js';

const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent of the path is not a directory',
};

/** The manifest's text; a read failure becomes the manifest's single problem. */
export function readManifestText(file: string): string {
  try {
    // @iarna/toml rejects a CR inside a comment, so a CRLF file with comments would not parse; TOML lets
    // parsers normalise newlines, and lines are counted the same either way.
    return readFileSync(file, 'utf8')
      .replace(/^\uFEFF/, '')
      .replace(/\r\n/g, '\n');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = (e.code !== undefined && REASONS[e.code]) || e.message;
    throw new ManifestError(
      [{ file, line: null, task: null, field: null, message: `cannot read manifest: ${reason}` }],
      {
        cause: err,
      },
    );
  }
}

interface TomlSyntaxError extends Error {
  line?: number;
  col?: number;
}

/** The parsed document; a syntax error becomes the manifest's single problem, with its line. */
export function parseManifestText(file: string, text: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as TomlSyntaxError;
    // The parser appends " at row R, col C, pos P:" and a code frame; the line already says where.
    const first = (e.message ?? String(err)).split('\n')[0]!.replace(/ at row \d+, col \d+, pos \d+:?$/, '');
    const line = typeof e.line === 'number' ? e.line + 1 : null;
    const column = typeof e.col === 'number' ? `, column ${e.col + 1}` : '';
    const message = `invalid TOML${column}: ${first}`;
    throw new ManifestError([{ file, line, task: null, field: null, message }], { cause: err });
  }
}
