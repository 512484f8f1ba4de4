// Generation behind the site meter (solar with passing clouds): a seeded,
// deterministic profile the power model subtracts from what the site meter
// reads, so a zero-import site (contractLimitW: 0) can be shown mining on the
// surplus. Clouds arrive at seeded intervals, dim the array by a seeded depth
// and pass, with a few seconds of edge on each side (real cloud edges take
// seconds, not an instant).
import { hashSeed, mulberry32 } from "./prng.ts";

export interface GenerationProfile {
  /** Output under a clear sky (W). */
  peakW: number;
  /** Largest share of peakW one cloud takes away (0–1). */
  cloudDepth: number;
  /** Mean clear time between clouds (s). */
  cloudEveryS: number;
  /** Mean time a cloud covers the array (s). */
  cloudS: number;
  /** Seconds a cloud's edge takes to pass (default 5). */
  edgeS?: number;
  seed: number;
}

interface Cloud {
  from: number;
  to: number;
  depth: number;
}

/** A function of time (epoch ms) → generation (W), from `startAt` on; deterministic per seed. */
export function cloudySolar(p: GenerationProfile, startAt: number): (now: number) => number {
  const rand = mulberry32(hashSeed(p.seed, "\u0000generation"));
  const edgeMs = (p.edgeS ?? 5) * 1000;
  const clouds: Cloud[] = [];
  let horizon = startAt;
  // clouds are drawn lazily as time moves on; the drawn ones stay (the same answer twice)
  const extend = (until: number) => {
    while (horizon <= until) {
      const gap = p.cloudEveryS * 1000 * (0.5 + rand());
      const len = p.cloudS * 1000 * (0.5 + rand());
      const from = horizon + gap;
      clouds.push({ from, to: from + len, depth: p.cloudDepth * (0.5 + rand() / 2) });
      horizon = from + len;
    }
    while (clouds.length > 0 && clouds[0]!.to + edgeMs < until - 60_000) clouds.shift();
  };
  return (now: number) => {
    extend(now + edgeMs);
    let shade = 0;
    for (const c of clouds) {
      if (now < c.from - edgeMs || now > c.to + edgeMs) continue;
      // ramps in over the edge before `from`, out over the edge after `to`
      const inFrac = Math.min(1, (now - (c.from - edgeMs)) / edgeMs);
      const outFrac = Math.min(1, (c.to + edgeMs - now) / edgeMs);
      shade = Math.max(shade, c.depth * Math.min(inFrac, outFrac));
    }
    return Math.max(0, p.peakW * (1 - shade));
  };
}
