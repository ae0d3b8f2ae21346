/**
 * The gather listing: the input object of a gather step. One line per output of each current
 * upstream step, `HASH<TAB>NAME<TAB>FROM<LF>`, where FROM is the name of the item that step
 * processed (empty for a root's seed step), sorted bytewise. Names cannot hold a tab or a
 * newline (outputs and inputs with one are refused), so the format needs no escaping.
 */
export interface ListingEntry {
  hash: string;
  name: string;
  /** FROM: the item the upstream step processed. */
  fromName: string;
}

export function listingLine(hash: string, name: string, from: string): string {
  return `${hash}\t${name}\t${from}\n`;
}

export function parseListingLine(line: string): ListingEntry {
  const [hash = '', name = '', fromName = ''] = line.split('\t');
  return { hash, name, fromName };
}

/**
 * The file names of a gather's INPUT_DIR, one per listing line, in listing order: flat (so
 * `"$INPUT_DIR"/*` is every input), readable, built from FROM and NAME (`FROM__NAME`, each `/`
 * made `_`; NAME alone for the seed), and unique: a name already taken by an earlier line gets
 * the first free prefix `2-`, `3-`, ...
 */
export function inputDirNames(lines: readonly ListingEntry[]): string[] {
  const taken = new Set<string>();
  return lines.map((l) => {
    const flat = (s: string) => s.replaceAll('/', '_');
    const base = l.fromName === '' ? flat(l.name) : `${flat(l.fromName)}__${flat(l.name)}`;
    let name = base === '' || base === '.' || base === '..' ? 'input' : base;
    for (let k = 2; taken.has(name); k++) name = `${k}-${base}`;
    taken.add(name);
    return name;
  });
}
