// Health of the gateway the agent runs on (CPU, memory, disk, temperature),
// sampled every 30 s on the site's clock (a sample runs in the background; the
// tick never waits for it), off the control path: a full disk or a throttling
// CPU is what takes an unattended gateway down, and the status page, telemetry
// and metrics show it before it does. Memory comes from systeminformation (it
// reads /proc/meminfo); CPU load, disk and temperature from host-readings.ts,
// which reads the kernel's files where systeminformation would spawn shells.
import { uptime } from "node:os";
// its module alone, not the package index (systeminformation-parts.d.ts)
import { mem } from "systeminformation/lib/memory.js";
import {
  type CpuTimes,
  cpuLoadPct,
  cpuTimes,
  diskUse,
  findTemperatureSource,
  readTemperatureC,
  type TemperatureSource,
} from "./host-readings.ts";
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

export class GatewayMonitor {
  private running = false;
  private latestSample: GatewayHealth | null = null;
  private sampling: Promise<void> | null = null;
  private sampledAt = Number.NEGATIVE_INFINITY;
  /** CPU counters at the last sample: the load is over the time between two samples. */
  private cpuBefore: CpuTimes | null = null;
  /** The temperature sensor, found at the first sample (null: none); undefined until then. */
  private temperature: Promise<TemperatureSource | null> | undefined;
  /** An unreadable disk is logged once, not every sample. */
  private diskWarned = false;

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

  private async cpuTempC(): Promise<number | null> {
    this.temperature ??= findTemperatureSource();
    const source = await this.temperature;
    return source === null ? null : readTemperatureC(source);
  }

  private async sample(): Promise<void> {
    try {
      const cpuNow = cpuTimes();
      // the first sample has no earlier one: its load is the average since boot
      const load = cpuLoadPct(this.cpuBefore ?? { busyMs: 0, totalMs: 0 }, cpuNow);
      this.cpuBefore = cpuNow;
      const [memory, disk, tempC] = await Promise.all([
        mem(),
        diskUse(this.opts.statePath).catch((err: unknown) => {
          if (!this.diskWarned)
            this.opts.logger.warn({ err, path: this.opts.statePath }, "gateway disk use unreadable");
          this.diskWarned = true;
          return null;
        }),
        this.cpuTempC(),
      ]);
      this.latestSample = {
        at: Date.now(),
        cpuLoadPct: load === null ? null : Math.round(load * 10) / 10,
        memUsedBytes:
          num(memory.total) !== null && num(memory.available) !== null
            ? memory.total - memory.available
            : null,
        memTotalBytes: num(memory.total),
        disk,
        cpuTempC: tempC,
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
