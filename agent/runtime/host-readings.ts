// What the gateway's kernel says of itself, read from files and system calls
// only: no shell, no child process. systeminformation's CPU load, disk and
// temperature calls each spawn shells (`cat /proc/stat | grep cpu`, `df`,
// `cat /sys/class/thermal/…`), some of them with execSync, which stalls the
// event loop for the fork of a process holding 100+ MiB, and `df` walks every
// mount (a hung NFS mount hangs it). These read the same kernel sources
// directly. `root` is "/" on a gateway and a prepared folder in the tests.
import { readdir, readFile, statfs } from "node:fs/promises";
import { cpus } from "node:os";
import { dirname, join } from "node:path";

/** Busy and total CPU time over all cores, ms since boot (os.cpus: /proc/stat on Linux). */
export interface CpuTimes {
  busyMs: number;
  totalMs: number;
}

export function cpuTimes(): CpuTimes {
  let busyMs = 0;
  let totalMs = 0;
  for (const { times } of cpus()) {
    const busy = times.user + times.nice + times.sys + times.irq;
    busyMs += busy;
    totalMs += busy + times.idle;
  }
  return { busyMs, totalMs };
}

/** CPU load between two readings, %; null when no time passed (or the counters went back). */
export function cpuLoadPct(before: CpuTimes, after: CpuTimes): number | null {
  const total = after.totalMs - before.totalMs;
  const busy = after.busyMs - before.busyMs;
  if (!(total > 0) || busy < 0) return null;
  return Math.min(100, (busy / total) * 100);
}

/** The mount point holding `path`: the longest one that prefixes it. */
export function mountPointFor(mountPoints: readonly string[], path: string): string | null {
  let best: string | null = null;
  for (const m of mountPoints) {
    const prefix = m.endsWith("/") ? m : `${m}/`;
    if ((path === m || path.startsWith(prefix)) && (best === null || m.length > best.length)) best = m;
  }
  return best;
}

/** The mount points in a /proc/mounts text (second field; the kernel writes a space as \040). */
export function mountPointsOf(procMounts: string): string[] {
  const out: string[] = [];
  for (const line of procMounts.split("\n")) {
    const field = line.split(" ")[1];
    if (field)
      out.push(
        field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8))),
      );
  }
  return out;
}

export interface DiskUse {
  mount: string;
  /** As df counts it: used / (used + available to unprivileged users). */
  usedPct: number;
  /** Available to unprivileged users (the agent's service user), bytes. */
  freeBytes: number;
}

/**
 * The filesystem that holds `path` (statfs of the path, or of its folder while the file does
 * not exist yet; the mount point from /proc/mounts).
 */
export async function diskUse(path: string, root = "/"): Promise<DiskUse> {
  const fs = await statfs(path).catch(() => statfs(dirname(path)));
  const usedBlocks = fs.blocks - fs.bfree;
  const usable = usedBlocks + fs.bavail;
  let mount: string | null = null;
  try {
    mount = mountPointFor(mountPointsOf(await readFile(join(root, "proc/mounts"), "utf8")), path);
  } catch {
    // no /proc (not Linux): the figures stand without the mount's name
  }
  return {
    mount: mount ?? "/",
    usedPct: usable > 0 ? (usedBlocks / usable) * 100 : 0,
    freeBytes: fs.bavail * fs.bsize,
  };
}

async function readTrimmed(path: string): Promise<string | null> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    return null;
  }
}

/** A sysfs temperature (millidegrees) in °C, one decimal; null when unreadable. */
async function milliC(path: string): Promise<number | null> {
  const text = await readTrimmed(path);
  if (text === null || !/^-?\d+$/.test(text)) return null;
  return Math.round(Number(text) / 100) / 10;
}

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** A hwmon sensor label that names the whole CPU (Intel coretemp, AMD k10temp). */
const PACKAGE_LABEL = /^(package id \d+|physical id \d+|tctl|tdie|tccd1)$/i;
/** hwmon chips of a CPU that give one unlabelled temperature (Raspberry Pi, most ARM boards). */
const CPU_CHIP = /^(cpu_thermal|cpu-thermal|soc_thermal|coretemp|k10temp|zenpower)$/i;
/** Thermal zones of a CPU (x86 package, ARM SoCs). */
const CPU_ZONE = /cpu|x86_pkg_temp|soc/i;

/** Where the CPU temperature is read: one sensor's file, or its cores' files to average. */
export interface TemperatureSource {
  inputs: string[];
}

/**
 * Finds the CPU temperature's sensor: a hwmon package sensor, else its core sensors (averaged),
 * else a CPU chip's first sensor, else a CPU thermal zone; null where the platform has none
 * (containers without /sys, most VMs). Sensors do not come and go while the agent runs, so the
 * gateway monitor walks sysfs once and then reads only these files.
 */
export async function findTemperatureSource(root = "/"): Promise<TemperatureSource | null> {
  const hwmon = join(root, "sys/class/hwmon");
  const cores: string[] = [];
  let chip: string | null = null;
  for (const mon of await list(hwmon)) {
    const dir = join(hwmon, mon);
    const files = await list(dir);
    for (const label of files.filter((f) => /^temp\d+_label$/.test(f))) {
      const name = await readTrimmed(join(dir, label));
      if (name === null) continue;
      const input = join(dir, label.replace(/_label$/, "_input"));
      if (PACKAGE_LABEL.test(name)) {
        if ((await milliC(input)) !== null) return { inputs: [input] };
      } else if (/^core\s*\d+$/i.test(name) && (await milliC(input)) !== null) {
        cores.push(input);
      }
    }
    if (chip === null && files.includes("temp1_input")) {
      const name = await readTrimmed(join(dir, "name"));
      const input = join(dir, "temp1_input");
      if (name !== null && CPU_CHIP.test(name) && (await milliC(input)) !== null) chip = input;
    }
  }
  if (cores.length > 0) return { inputs: cores };
  if (chip !== null) return { inputs: [chip] };
  const thermal = join(root, "sys/class/thermal");
  for (const zone of (await list(thermal)).filter((z) => z.startsWith("thermal_zone"))) {
    const type = await readTrimmed(join(thermal, zone, "type"));
    const input = join(thermal, zone, "temp");
    if (type !== null && CPU_ZONE.test(type) && (await milliC(input)) !== null) return { inputs: [input] };
  }
  return null;
}

/** The source's temperature now, °C (its sensors' mean); null when none can be read. */
export async function readTemperatureC(source: TemperatureSource): Promise<number | null> {
  const read = (await Promise.all(source.inputs.map(milliC))).filter((c): c is number => c !== null);
  if (read.length === 0) return null;
  return Math.round((read.reduce((a, b) => a + b, 0) / read.length) * 10) / 10;
}

/** The CPU temperature, °C, found and read at once (findTemperatureSource, readTemperatureC). */
export async function cpuTemperatureC(root = "/"): Promise<number | null> {
  const source = await findTemperatureSource(root);
  return source === null ? null : readTemperatureC(source);
}
