import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../../errors.js';
import { objectRelPath } from '../object-path.js';

/**
 * Stream an object's bytes to `out`, hashing them on the way (never reading the file whole).
 * The disk is not trusted: a wrong size is refused before a byte is written, a wrong hash is
 * only known at the end and is reported then (exit 1), after the bytes went out.
 */
export async function copyVerified(
  dbDir: string,
  obj: { hash: string; size: number },
  out: NodeJS.WritableStream,
  onChunk?: (chunk: Buffer) => void,
  /** How the fsck hint names the db: `-db DIR`, or with PostgreSQL `-db URL -store DIR`. */
  dbArgs = `-db ${dbDir}`,
): Promise<void> {
  const path = join(dbDir, objectRelPath(obj.hash));
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) {
    throw new UserError(
      'EMISSING',
      `missing object ${obj.hash}: ${path} does not exist (run task-pipeline fsck ${dbArgs})`,
      { exitCode: 1 },
    );
  }
  if (st.size !== obj.size) {
    throw new UserError('ECORRUPT', `corrupt object ${obj.hash}: ${path} has ${st.size} bytes, expected ${obj.size}`, {
      exitCode: 1,
    });
  }
  const h = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      h.update(chunk);
      bytes += chunk.length;
      onChunk?.(chunk);
      done(null, chunk);
    },
  });
  // end: false because `out` is usually process.stdout, which later output still needs.
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), tap, out, { end: false });
  const actual = h.digest('hex');
  if (actual !== obj.hash || bytes !== obj.size) {
    throw new UserError(
      'ECORRUPT',
      `corrupt object ${obj.hash}: its ${bytes} bytes hash to ${actual}: run task-pipeline fsck -repair ${dbArgs}`,
      { exitCode: 1 },
    );
  }
}

/** Stream a file that is not an object yet (a running step's log): no hash to check it against. */
export async function copyUnverified(
  path: string,
  out: NodeJS.WritableStream,
  onChunk?: (chunk: Buffer) => void,
): Promise<void> {
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      onChunk?.(chunk);
      done(null, chunk);
    },
  });
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), tap, out, { end: false });
}
