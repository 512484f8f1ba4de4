// The soak's reading of the agent process from /proc: its RSS, open file
// descriptors and CPU time at a sample, and the kernel's high-water mark of its
// RSS, which also counts what the agent held for a moment between two samples
// (a full GC's evacuation lasts tens of ms; the soak samples every 30 s).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpuTicks } from "./flood-probes.ts";
import { round1 } from "./soak-metrics.ts";

/** RSS, open fds and CPU seconds (user + system) of `pid`; null once it is gone. */
export function agentProcSample(pid: number): { rssMiB: number; fds: number; cpuS: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return {
      rssMiB: round1(rssKb / 1024),
      fds: readdirSync(`/proc/${pid}/fd`).length,
      cpuS: (cpuTicks(pid) ?? 0) / 100,
    };
  } catch {
    return null; // the agent is gone: its exit event follows
  }
}

/** The most RSS `pid` held at once since it started or since resetPeakRss (VmHWM), MiB. */
export function peakRssMiB(pid: number): number | null {
  try {
    const kb = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? null : round1(Number(kb) / 1024);
  } catch {
    return null;
  }
}

/** Starts the high-water mark again from the RSS of now (`5` into clear_refs, Linux ≥ 4.0). */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false; // a kernel or a sandbox without it: the summary says so (null)
  }
}
