// Seeded pseudo-random numbers for the sim. Math.random is never used so that a
// run (and a failing test) can be reproduced from its seed alone.

/** mulberry32: tiny, fast, good enough for noise and per-unit variation. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over a string: derives a stable sub-seed per miner id, independent of insertion order. */
export function hashSeed(seed: number, key: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Uniform in [-1, 1). */
export function symmetric(rand: () => number): number {
  return rand() * 2 - 1;
}
