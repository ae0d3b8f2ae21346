import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { parseListingLine, type ListingEntry } from '../listing.js';

/**
 * The first `limit` entries of a gather listing (`HASH<TAB>NAME<TAB>FROM` lines) and how many lines it
 * has in all. The rest is only counted, so a listing of a million objects costs one streamed
 * read and constant memory.
 */
export async function readListing(path: string, limit: number): Promise<{ entries: ListingEntry[]; total: number }> {
  const entries: ListingEntry[] = [];
  let total = 0;
  let partial = '';
  // A chunk may end inside a multi-byte character: the decoder holds it for the next one.
  const text = new StringDecoder('utf8');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    if (entries.length >= limit) {
      total += countNewlines(buf);
      continue;
    }
    const lines = (partial + text.write(buf)).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      total++;
      if (entries.length < limit) entries.push(parseListingLine(line));
    }
    // Entries already full: what is left of this chunk was counted above, its tail goes too.
    if (entries.length >= limit) partial = '';
  }
  if (partial !== '') {
    total++;
    if (entries.length < limit) entries.push(parseListingLine(partial));
  }
  return { entries, total };
}

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}
