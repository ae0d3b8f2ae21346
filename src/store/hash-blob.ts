import { EMPTY_HASH } from './object-path.js';

/**
 * Hashes are 32-byte BLOBs in SQLite (schema 6) and lowercase hex everywhere else: the store's
 * statements convert at their edges, `unhex(?)` for a parameter and `lower(hex(col))` for a result
 * (SQLite 3.41+; better-sqlite3 bundles its own; `hex(NULL)` is '', so a nullable column is read as
 * `nullif(lower(hex(col)), '')`). A BLOB sorts as its hex does (memcmp), so ORDER BY
 * and ranges are unchanged.
 */
/** The empty object as an SQL literal: the seed input, and the log of every silent step. */
export const EMPTY_SQL = `x'${EMPTY_HASH}'`;

/**
 * The BLOB range [lo, hi) of every hash that starts with a hex prefix (`abc`: [x'abc0', x'abd0')).
 * Past the last prefix (`fff`) hi is 33 bytes of 0xff, above every 32-byte hash.
 */
export function prefixRange(prefix: string): { lo: Buffer; hi: Buffer } {
  const lo = Buffer.from(prefix.padEnd(prefix.length + (prefix.length % 2), '0'), 'hex');
  const digits = prefix.toLowerCase().split('');
  let i = digits.length - 1;
  while (i >= 0 && digits[i] === 'f') digits[i--] = '0';
  if (i < 0) return { lo, hi: Buffer.alloc(33, 0xff) };
  digits[i] = (parseInt(digits[i]!, 16) + 1).toString(16);
  const next = digits.slice(0, i + 1).join('');
  return { lo, hi: Buffer.from(next.padEnd(next.length + (next.length % 2), '0'), 'hex') };
}
