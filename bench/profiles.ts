// V8 profiles of a stretch of a bench, taken in-process through the inspector, one file per call
// (`FILE.N.cpuprofile`, `FILE.N.heapprofile`), so a slow round can be read in DevTools or by a
// script. The allocation profile counts garbage too: it shows what a stretch allocates, which is
// what its collections cost, not only what it keeps.

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

/** Ends a profile and writes it to `FILE.N.<kind>` (N counts the profiles of that kind). */
export type StopProfile = (file: string) => Promise<void>;

const taken = { cpuprofile: 0, heapprofile: 0 };

function save(kind: keyof typeof taken, file: string, profile: unknown): void {
  writeFileSync(`${file}.${++taken[kind]}.${kind}`, JSON.stringify(profile));
}

/** A CPU profile sampled every 200 µs. */
export async function startCpuProfile(): Promise<StopProfile> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 200 });
  await session.post("Profiler.start");
  return async (file) => {
    const { profile } = await session.post("Profiler.stop");
    save("cpuprofile", file, profile);
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
  return async (file) => {
    const { profile } = await session.post("HeapProfiler.stopSampling");
    save("heapprofile", file, profile);
    session.disconnect();
  };
}
