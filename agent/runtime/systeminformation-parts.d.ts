// The three systeminformation modules host-health.ts loads, with the package's own types.
// The package's index loads all of its twenty-odd modules (Wi-Fi, Docker, printers, USB…),
// about 0.7 MiB of heap the agent holds for good and never runs; these three are what a
// gateway sample asks.
declare module "systeminformation/lib/cpu.js" {
  import type { Systeminformation } from "systeminformation";
  export function currentLoad(): Promise<Systeminformation.CurrentLoadData>;
  export function cpuTemperature(): Promise<Systeminformation.CpuTemperatureData>;
}

declare module "systeminformation/lib/memory.js" {
  import type { Systeminformation } from "systeminformation";
  export function mem(): Promise<Systeminformation.MemData>;
}

declare module "systeminformation/lib/filesystem.js" {
  import type { Systeminformation } from "systeminformation";
  export function fsSize(): Promise<Systeminformation.FsSizeData[]>;
}
