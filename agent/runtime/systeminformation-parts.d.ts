// The systeminformation module host-health.ts loads, with the package's own types.
// The package's index loads all of its twenty-odd modules (Wi-Fi, Docker, printers, USB…),
// about 0.7 MiB of heap the agent holds for good and never runs; memory is what a
// gateway sample asks of it (host-readings.ts reads the rest from the kernel's files).
declare module "systeminformation/lib/memory.js" {
  import type { Systeminformation } from "systeminformation";
  export function mem(): Promise<Systeminformation.MemData>;
}
