import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import type { BudgetInputs } from "../../agent/control/budget.ts";
import {
  type Actuator,
  type ActuatorResult,
  type ControlEvent,
  ControlLoop,
  type LoopConfig,
} from "../../agent/control/loop.ts";
import type { PlanMiner, PlanSnapshot } from "../../agent/control/types.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import type { Ledger } from "../../agent/store/ledger.ts";
import { policyConfig } from "../helpers/plan.ts";

export const T0 = 1_700_000_000_000;
export const dir = mkdtempSync(join(tmpdir(), "wk-loop-"));
after(() => rmSync(dir, { recursive: true, force: true }));

export const CONFIG: LoopConfig = {
  site: { timezone: "UTC", contractLimitW: 100_000 },
  control: {
    schedule: [],
    failsafeBudgetW: 50_000,
    ...policyConfig(),
    tickS: 2,
    retries: 2,
  },
};

/** A fake site: miners whose draw follows the commands the actuator receives. */
export class FakeSite implements Actuator {
  readonly miners: PlanMiner[];
  readonly calls: string[] = [];
  readonly failing = new Set<string>();
  onCall: ((minerId: string) => void) | null = null;
  delayMs = 0;
  meter: "meter" | "estimate" | null = "meter";

  constructor(count: number, powerW: number) {
    // m00 is the worst J/TH, then m01…
    this.miners = Array.from({ length: count }, (_, i) => ({
      id: `m${String(i).padStart(2, "0")}`,
      priority: 0,
      state: "hashing" as const,
      powerW,
      hashrateThs: 100 + i,
      capabilities: ["sleep", "wake"] as const,
      excluded: false,
    }));
  }

  snapshot = (): PlanSnapshot => {
    const sum = this.miners.reduce((s, m) => s + (m.powerW ?? 0), 0);
    return {
      powerW: this.meter === null ? null : sum,
      powerSource: this.meter,
      miners: this.miners.map((m) => ({ ...m })),
      gpuNodes: [],
    };
  };

  /** Calls still running (a caller past its deadline leaves them behind). */
  private readonly running = new Set<Promise<ActuatorResult>>();

  /** Resolves once every call made so far has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.running]);
  }

  private act(id: string, kind: string, to: "sleeping" | "hashing"): Promise<ActuatorResult> {
    const p = this.apply(id, kind, to).finally(() => this.running.delete(p));
    this.running.add(p);
    return p;
  }

  private async apply(id: string, kind: string, to: "sleeping" | "hashing"): Promise<ActuatorResult> {
    this.calls.push(`${kind} ${id}`);
    this.onCall?.(id);
    // the device's own latency: what the deadlines and the overlap are measured against
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failing.has(id)) return { ok: false, reason: "power did not fall" };
    const i = this.miners.findIndex((m) => m.id === id);
    const m = this.miners[i]!;
    this.miners[i] = { ...m, state: to, powerW: to === "sleeping" ? 50 : 5_000 };
    return { ok: true, reason: "confirmed" };
  }

  sleep(id: string) {
    return this.act(id, "sleep", "sleeping");
  }
  wake(id: string) {
    return this.act(id, "wake", "hashing");
  }
  async setPowerLimit(): Promise<ActuatorResult> {
    return { ok: false, reason: "unsupported" };
  }
  async restorePowerLimit(): Promise<ActuatorResult> {
    return { ok: false, reason: "unsupported" };
  }
  async capGpu(): Promise<ActuatorResult> {
    return { ok: false, reason: "unsupported" };
  }
  async uncapGpu(): Promise<ActuatorResult> {
    return { ok: false, reason: "unsupported" };
  }
  drainGpuNode = async (): Promise<ActuatorResult> => ({ ok: false, reason: "unsupported" });
  resumeGpuNode = async (): Promise<ActuatorResult> => ({ ok: false, reason: "unsupported" });
  reboot = async (id: string): Promise<ActuatorResult> => {
    this.calls.push(`reboot ${id}`);
    return { ok: true, reason: "confirmed" };
  };
  locate = async (id: string, seconds: number): Promise<ActuatorResult> => {
    this.calls.push(`locate ${id} ${seconds}`);
    if (this.failing.has(id)) return { ok: false, reason: "the unit reports its LED off" };
    return {
      ok: true,
      reason: "locate on (read back)",
      locate: { on: seconds > 0, confirmedBy: "read-back", firmwareEndsAfterS: null },
    };
  };
}

export function setup(site: FakeSite, ledger: Ledger, clock: { t: number }, inputs: BudgetInputs = {}) {
  const events: ControlEvent[] = [];
  const loop = new ControlLoop({
    getSnapshot: site.snapshot,
    budgetInputs: () => inputs,
    actuator: site,
    ledger,
    config: CONFIG,
    logger: silentLogger(),
    now: () => clock.t,
    onEvent: (e) => events.push(e),
    retryDelayMs: 0,
    actionTimeoutMs: 1_000,
  });
  return { loop, events };
}
