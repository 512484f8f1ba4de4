// Power-limit writes on one node: checked against the node's floor and the
// card's [min, max], sent with `nvidia-smi -pl`, confirmed by reading
// `enforced.power.limit` back. Caps are remembered by GPU UUID (indexes may
// change at boot) and re-applied when a read shows them gone (limits do not
// survive a driver reload or a reboot).
//
// Writes run one at a time, in call order, with the re-apply of lost caps among
// them: two writes racing on one GPU would leave whichever landed last. The
// epoch moves as every cap or restore starts and ends; a read taken while one
// ran may show the limit from before it, so its re-apply is skipped and the
// next read judges again.
import { describeError } from "../types.ts";
import { powerLimitRefusal } from "./parse.ts";
import type { Smi } from "./smi.ts";
import type { ExecResult, GpuDetail, GpuEvent, PowerLimitOutcome } from "./types.ts";

export interface PowerLimitsOptions {
  smi: Smi;
  /** Lowest per-GPU power limit this node will set (W), read at each write. */
  floorW: () => number;
  /** host:port, for event messages. */
  address: string;
}

/** What a read hands to the re-apply: when it was, where its events go. */
export interface ReapplyContext {
  at: number;
  /** The epoch taken before the read's query (see `epoch`). */
  epoch: number;
  emit: (e: GpuEvent) => void;
  signal?: AbortSignal;
}

export class PowerLimits {
  private readonly opts: PowerLimitsOptions;
  /** Caps this node set, by GPU UUID. */
  private readonly caps = new Map<string, number>();
  private writes: Promise<unknown> = Promise.resolve();
  private capsEpoch = 0;

  constructor(opts: PowerLimitsOptions) {
    this.opts = opts;
  }

  /** Taken by a read before it queries; a different value later means a write overlapped it. */
  get epoch(): number {
    return this.capsEpoch;
  }

  /** Power limits this node holds on its GPUs (UUID → W). */
  active(): ReadonlyMap<string, number> {
    return this.caps;
  }

  /** Sets one GPU's power limit, refusing anything below the floor or outside [min, max]; confirmed. */
  set(index: number, watts: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    return this.serial(() => this.bumpingEpoch(() => this.setNow(index, watts, signal)));
  }

  /** Puts one GPU back at its `power.default_limit` and forgets the cap; confirmed. */
  restore(index: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    return this.serial(() => this.bumpingEpoch(() => this.restoreNow(index, signal)));
  }

  /** Re-applies caps a read shows gone, queued among the writes; skipped when a write overlapped the read. */
  reapply(gpus: GpuDetail[], ctx: ReapplyContext): Promise<void> {
    return this.serial(() => this.reapplyNow(gpus, ctx));
  }

  private async setNow(index: number, watts: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    const refuse = (reason: string): PowerLimitOutcome => ({
      ok: false,
      reason,
      index,
      requestedW: watts,
      beforeW: null,
      enforcedW: null,
    });
    const floorW = this.opts.floorW();
    if (!Number.isInteger(index) || index < 0) return refuse(`GPU index must be a whole number ≥ 0`);
    if (!Number.isFinite(watts) || watts <= 0) return refuse("the power limit must be a positive wattage");
    if (watts < floorW) return refuse(`${watts} W is below this node's floor of ${floorW} W`);
    const cur = await this.opts.smi.gpu(index, signal);
    if (!cur.ok) return refuse(cur.reason);
    const g = cur.gpu;
    if (g.minPowerLimitW === null || g.maxPowerLimitW === null)
      return refuse(
        `GPU ${index} reports no power-limit range (${g.nullReasons.minPowerLimitW ?? g.nullReasons.maxPowerLimitW ?? "unknown"})`,
      );
    if (watts < g.minPowerLimitW || watts > g.maxPowerLimitW)
      return refuse(
        `${watts} W is outside GPU ${index}'s range [${g.minPowerLimitW}, ${g.maxPowerLimitW}] W`,
      );
    const out = await this.apply(g, watts, signal);
    if (out.ok && g.uuid !== null) this.caps.set(g.uuid, watts);
    return out;
  }

  private async restoreNow(index: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    const cur = await this.opts.smi.gpu(index, signal);
    if (!cur.ok)
      return { ok: false, reason: cur.reason, index, requestedW: Number.NaN, beforeW: null, enforcedW: null };
    const g = cur.gpu;
    if (g.defaultPowerLimitW === null)
      return {
        ok: false,
        reason: `GPU ${index} reports no default power limit (${g.nullReasons.defaultPowerLimitW ?? "unknown"})`,
        index,
        requestedW: Number.NaN,
        beforeW: g.powerLimitW,
        enforcedW: g.enforcedPowerLimitW,
      };
    const out = await this.apply(g, g.defaultPowerLimitW, signal);
    if (out.ok && g.uuid !== null) this.caps.delete(g.uuid);
    return out;
  }

  private async reapplyNow(gpus: GpuDetail[], ctx: ReapplyContext): Promise<void> {
    const address = this.opts.address;
    for (const g of gpus) {
      if (this.capsEpoch !== ctx.epoch) return;
      if (g.uuid === null || g.index === null || g.health !== "ok") continue;
      const want = this.caps.get(g.uuid);
      if (want === undefined || g.powerLimitW === null || Math.abs(g.powerLimitW - want) <= 1) continue;
      const was = g.powerLimitW;
      const out = await this.apply(g, want, ctx.signal);
      if (out.ok) {
        g.powerLimitW = want;
        g.enforcedPowerLimitW = out.enforcedW;
      }
      ctx.emit({
        at: ctx.at,
        kind: out.ok ? "cap-reapplied" : "cap-lost",
        index: g.index,
        uuid: g.uuid,
        message: out.ok
          ? `${address} GPU ${g.index}: limit was back at ${was} W (driver reload or reboot); re-applied ${want} W`
          : `${address} GPU ${g.index}: limit is ${was} W, cap of ${want} W not re-applied: ${out.reason}`,
      });
    }
  }

  /** A write that moves the epoch as it starts and as it ends: any read overlapping it is stale. */
  private async bumpingEpoch<T>(fn: () => Promise<T>): Promise<T> {
    this.capsEpoch++;
    try {
      return await fn();
    } finally {
      this.capsEpoch++;
    }
  }

  /** Runs `fn` after every write queued before it; a failure does not stop the queue. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writes.then(fn, fn);
    this.writes = run.catch(() => undefined);
    return run;
  }

  /** `nvidia-smi -i N -pl W`, then `enforced.power.limit` read back. */
  private async apply(g: GpuDetail, watts: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    const smi = this.opts.smi;
    const index = g.index ?? -1;
    const base = { index, requestedW: watts, beforeW: g.powerLimitW, enforcedW: null as number | null };
    const w = String(Math.round(watts * 100) / 100);
    let r: ExecResult;
    try {
      r = await smi.run(["-i", String(index), "-pl", w], signal);
    } catch (err) {
      return { ...base, ok: false, reason: describeError(err) };
    }
    if (r.timedOut)
      return { ...base, ok: false, reason: `nvidia-smi -pl did not answer within ${smi.timeoutMs} ms` };
    const refusal = powerLimitRefusal(r.code, r.stdout, r.stderr);
    if (refusal !== null) return { ...base, ok: false, reason: refusal };
    const after = await smi.gpu(index, signal);
    if (!after.ok) return { ...base, ok: false, reason: `not confirmed: ${after.reason}` };
    const enforced = after.gpu.enforcedPowerLimitW;
    const tol = Math.max(1, watts * 0.005);
    if (enforced !== null && Math.abs(enforced - watts) <= tol)
      return { ...base, ok: true, reason: null, enforcedW: enforced };
    // another limiter (thermal, board) may hold the ceiling lower: the write still took
    if (
      enforced !== null &&
      enforced < watts &&
      after.gpu.powerLimitW !== null &&
      Math.abs(after.gpu.powerLimitW - watts) <= tol
    )
      return { ...base, ok: true, reason: `another limiter enforces ${enforced} W`, enforcedW: enforced };
    return {
      ...base,
      ok: false,
      reason: `not confirmed: enforced.power.limit reads ${enforced ?? after.gpu.nullReasons.enforcedPowerLimitW ?? "nothing"}${enforced !== null ? " W" : ""}`,
      enforcedW: enforced,
    };
  }
}
