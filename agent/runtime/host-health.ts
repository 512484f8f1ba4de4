// Health of the gateway the agent runs on (CPU, memory, disk, temperature),
// sampled through systeminformation every 30 s on the site's clock (a sample
// runs in the background; the tick never waits for it), off the control path: a full
// disk or a throttling CPU is what takes an unattended gateway down, and the
// status page, telemetry and metrics show it before it does.
import { uptime } from "node:os";
// its modules one by one, not the package index (systeminformation-parts.d.ts)
import { cpuTemperature, currentLoad } from "systeminformation/lib/cpu.js";
import { fsSize } from "systeminformation/lib/filesystem.js";
import { mem } from "systeminformation/lib/memory.js";
import type { Logger } from "./logger.ts";

export interface GatewayHealth {
  /** Epoch ms of the sample. */
  at: number;
  cpuLoadPct: number | null;
  memUsedBytes: number | null;
  memTotalBytes: number | null;
  /** The filesystem holding the state directory (or the root). */
  disk: { mount: string; usedPct: number; freeBytes: number } | null;
  /** null where the platform exposes no sensor (containers, most VMs). */
  cpuTempC: number | null;
  uptimeS: number;
}

const GATEWAY_SAMPLE_MS = 30_000;

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** The mount that holds `path`: the longest mount point that prefixes it. */
function mountFor<T extends { mount: string }>(mounts: readonly T[], path: string): T | null {
  let best: T | null = null;
  for (const m of mounts) {
    const prefix = m.mount.endsWith("/") ? m.mount : `${m.mount}/`;
    if (
      (path === m.mount || path.startsWith(prefix) || m.mount === "/") &&
      (!best || m.mount.length > best.mount.length)
    )
      best = m;
  }
  return best;
}

export class GatewayMonitor {
  private running = false;
  private latestSample: GatewayHealth | null = null;
  private sampling: Promise<void> | null = null;
  private sampledAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: { statePath: string; logger: Logger; everyMs?: number }) {}

  latest(): GatewayHealth | null {
    return this.latestSample;
  }

  /** Takes the first sample at once; later ones come from beat(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.beat();
  }

  /** Starts a sample when one is due and none is running (the site's clock calls this every tick). */
  beat(now: number = Date.now()): void {
    if (!this.running || this.sampling || now - this.sampledAt < (this.opts.everyMs ?? GATEWAY_SAMPLE_MS))
      return;
    this.sampledAt = now;
    this.sampling = this.sample();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.sampling;
  }

  private async sample(): Promise<void> {
    try {
      const [load, memory, fs, temp] = await Promise.all([currentLoad(), mem(), fsSize(), cpuTemperature()]);
      const disk = mountFor(fs, this.opts.statePath);
      this.latestSample = {
        at: Date.now(),
        cpuLoadPct: num(load.currentLoad),
        memUsedBytes:
          num(memory.total) !== null && num(memory.available) !== null
            ? memory.total - memory.available
            : null,
        memTotalBytes: num(memory.total),
        disk: disk ? { mount: disk.mount, usedPct: disk.use, freeBytes: disk.available } : null,
        cpuTempC: num(temp.main),
        // not si.time(): it runs `date` through execSync (the event loop waits on a shell) and
        // builds an Intl formatter (ICU's locale data, ~8 MiB resident), all for the uptime
        uptimeS: Math.round(uptime()),
      };
    } catch (err) {
      this.opts.logger.warn({ err }, "gateway health sample failed");
    } finally {
      this.sampling = null;
    }
  }
}
