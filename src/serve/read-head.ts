import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { errnoCode } from '../errors.js';

export interface Head {
  /** The first bytes as UTF-8 text (invalid sequences replaced); null for binary bytes or a missing file. */
  text: string | null;
  binary: boolean;
  missing: boolean;
  /** The file is longer than what `text` holds. */
  truncated: boolean;
  fileSize: number | null;
}

/**
 * The first `max` bytes of an object file, for a preview. A NUL byte among them means binary:
 * such bytes are offered as a download, never decoded. A character cut by the limit is left out
 * rather than shown as a replacement.
 */
export function readHead(path: string, max: number): Head {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT')
      return { text: null, binary: false, missing: true, truncated: false, fileSize: null };
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, max));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    const bytes = buf.subarray(0, got);
    const binary = bytes.includes(0);
    const truncated = size > got;
    const decoder = new StringDecoder('utf8');
    const text = binary ? null : truncated ? decoder.write(bytes) : decoder.write(bytes) + decoder.end();
    return { text, binary, missing: false, truncated, fileSize: size };
  } finally {
    closeSync(fd);
  }
}
