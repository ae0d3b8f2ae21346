// A small seeded PRNG (mulberry32) and the few helpers the generator needs: a seed fully determines
// every choice, so a failing seed reproduces exactly.

export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random source with helpers; `seed` may be any integer. */
export function rng(seed) {
  // Mix the seed so that neighbouring seeds do not start from neighbouring states.
  const next = mulberry32(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35);
  const r = {
    next,
    /** An integer in [lo, hi], both included. */
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (arr) => {
      if (arr.length === 0) throw new Error('pick from an empty list');
      return arr[Math.floor(next() * arr.length)];
    },
    /** k distinct elements of arr, in random order. */
    sample: (arr, k) => r.shuffle(arr).slice(0, k),
    shuffle: (arr) => {
      const a = [...arr];
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [a[i], a[j]] = [a[j], a[i]];
      }
      return a;
    },
    /** One of the keys of `weights` ({key: weight}), chosen by weight. */
    weighted: (weights) => {
      const entries = Object.entries(weights).filter(([, w]) => w > 0);
      let x = next() * entries.reduce((s, [, w]) => s + w, 0);
      for (const [k, w] of entries) {
        x -= w;
        if (x < 0) return k;
      }
      return entries[entries.length - 1][0];
    },
  };
  return r;
}
