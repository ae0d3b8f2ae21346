// Seed lists for the differential tests' environment variables: "1..200", "3,17,40..45".

/** The seeds of a spec; `what` names the variable in an error. */
export function parseSeeds(spec, what = 'DIFF_SEEDS') {
  const seeds = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(-?\d+)(?:\.\.(-?\d+))?$/.exec(part);
    if (!m) throw new Error(`${what}: "${part}" is neither a seed nor a range A..B`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let s = a; s <= b; s++) seeds.push(s);
  }
  return seeds;
}
