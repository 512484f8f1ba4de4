// V8 profiles of a stretch of a bench, taken in-process through the inspector and written where
// the caller says, so a slow round can be read in DevTools or by a script. The allocation profile
// counts garbage too: it shows what a stretch allocates, which is what its collections cost, not
// only what it keeps.

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

/** Ends a profile and writes it to `path` as JSON. */
export type StopProfile = (path: string) => Promise<void>;

/** A CPU profile, sampled every `intervalUs` (V8's default when not given). */
export async function startCpuProfile(intervalUs?: number): Promise<StopProfile> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  if (intervalUs !== undefined) await session.post("Profiler.setSamplingInterval", { interval: intervalUs });
  await session.post("Profiler.start");
  return async (path) => {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(path, JSON.stringify(profile));
    session.disconnect();
  };
}

/** An allocation profile sampled every 16 KiB, objects already collected included. */
export async function startAllocationProfile(): Promise<StopProfile> {
  const session = new Session();
  session.connect();
  await session.post("HeapProfiler.enable");
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 16384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return async (path) => {
    const { profile } = await session.post("HeapProfiler.stopSampling");
    writeFileSync(path, JSON.stringify(profile));
    session.disconnect();
  };
}
