// One GPU node read and capped with nvidia-smi over one persistent SSH link.
// Reads never throw (a state with a reason instead); power-limit writes are
// checked against the floor and the card's [min, max], then confirmed by
// reading `enforced.power.limit` back. Caps this node set are remembered by GPU
// UUID and re-applied when a read shows them gone (limits do not survive a
// driver reload or a reboot).
import { readFile } from "node:fs/promises";
import { DriverError } from "../types.ts";
import { clockLockProblem, runClockCommand } from "./clocks.ts";
import { knownHostsFingerprints, normaliseFingerprint } from "./hostkey.ts";
import { runOperatorCommand } from "./operator-command.ts";
import {
  COMPUTE_APPS_ARGS,
  exitReason,
  invalidField,
  LIMIT_FIELDS,
  markOmitted,
  parseComputeApps,
  parseGpuCsv,
  parseHelpQueryGpu,
  planQuery,
  powerLimitRefusal,
  queryArgs,
} from "./parse.ts";
import { SshLink, type SshLinkOptions } from "./ssh.ts";
import type {
  ClockLockOutcome,
  ExecResult,
  GpuDetail,
  GpuEvent,
  GpuEventKind,
  GpuHealth,
  GpuNodeCapability,
  GpuNodeReading,
  HostKeyPin,
  OperatorCommandOutcome,
  PowerLimitOutcome,
} from "./types.ts";

export interface GpuNodeConfig {
  id?: string;
  host: string;
  port?: number;
  user: string;
  /** Private key text; or privateKeyFile, read by start(). */
  privateKey?: string | null;
  privateKeyFile?: string | null;
  passphrase?: string | null;
  /** Pinned host key ("SHA256:…"); or knownHostsFile. One of them is required. */
  hostKeySha256?: string | null;
  knownHostsFile?: string | null;
  /** Lowest per-GPU power limit this driver will set (W). */
  floorW: number;
}

export interface GpuNodeOptions extends SshLinkOptions {
  /** Deadline of one nvidia-smi run; the remote command is wrapped in `timeout` just under it. */
  commandTimeoutMs?: number;
  /** Ask `--query-compute-apps` whether each GPU is busy (one more channel per read). */
  queryComputeApps?: boolean;
  /** Re-apply this node's caps when a read shows them gone (driver reload, reboot). */
  reapplyCaps?: boolean;
  onEvent?: (event: GpuEvent) => void;
}

type GpuQuery = { ok: true; gpus: GpuDetail[]; note: string | null } | { ok: false; reason: string };

const ARG_SAFE = /^[A-Za-z0-9_.,=:-]+$/;

export class GpuNode {
  readonly config: GpuNodeConfig;
  private readonly opts: GpuNodeOptions;
  private link: SshLink | null = null;
  private starting: Promise<SshLink> | null = null;
  /** Property names the driver lists (`--help-query-gpu`); null = could not tell; probed per connection. */
  private supported: Set<string> | null = null;
  private probedOnConnect = -1;
  /** Names the driver refused at query time ("not a valid field"): left out from then on. */
  private readonly refused = new Set<string>();
  /** Caps this node set, by GPU UUID (indexes may change at boot). */
  private readonly caps = new Map<string, number>();
  /**
   * Limit writes one at a time, in call order, with the re-apply of lost caps among them:
   * two writes racing on one GPU would leave whichever landed last.
   */
  private writes: Promise<unknown> = Promise.resolve();
  /**
   * Bumped as every cap or restore starts and ends. A read taken while one ran may show the
   * limit from before it, so its re-apply is skipped: the next read judges again.
   */
  private capsEpoch = 0;
  private readonly health = new Map<string, GpuHealth>();
  private caps_: Set<GpuNodeCapability> = new Set(["read"]);
  /** Clock ceilings this node locked, by GPU UUID (MHz). */
  private readonly clockLocks = new Map<string, number>();

  constructor(config: GpuNodeConfig, opts: GpuNodeOptions = {}) {
    this.config = config;
    this.opts = opts;
  }

  get address(): string {
    return `${this.config.host}:${this.config.port ?? 22}`;
  }

  private get now(): () => number {
    return this.opts.now ?? Date.now;
  }

  private get timeoutMs(): number {
    return this.opts.commandTimeoutMs ?? 10_000;
  }

  /** What this node can do, as learned from its driver (limits reported, compute-apps answered). */
  capabilities(): ReadonlySet<GpuNodeCapability> {
    return this.caps_;
  }

  describe(): { host: string; port: number; capabilities: GpuNodeCapability[] } {
    return { host: this.config.host, port: this.config.port ?? 22, capabilities: [...this.caps_] };
  }

  /** Power limits this node holds on its GPUs (UUID → W), re-applied after a driver reload. */
  activeCaps(): ReadonlyMap<string, number> {
    return this.caps;
  }

  /** Clock ceilings this node locked on its GPUs (UUID → MHz); not re-applied by reads (no field shows them). */
  activeClockLocks(): ReadonlyMap<string, number> {
    return this.clockLocks;
  }

  /** Channels open on the node's connection now. */
  openChannels(): number {
    return this.link?.openChannels() ?? 0;
  }

  /** Loads the key and the host-key pin, and makes the link (it connects on first use). */
  start(): Promise<SshLink> {
    this.starting ??= this.load().catch((err) => {
      this.starting = null;
      throw err;
    });
    return this.starting;
  }

  private async load(): Promise<SshLink> {
    const c = this.config;
    const port = c.port ?? 22;
    const privateKey =
      c.privateKey ?? (c.privateKeyFile ? await readText(c.privateKeyFile, "privateKeyFile") : null);
    if (!privateKey)
      throw new DriverError("WK_SSH_CONFIG", `${this.address}: no private key configured`, false);
    let pin: HostKeyPin;
    if (c.hostKeySha256)
      pin = { fingerprints: [normaliseFingerprint(c.hostKeySha256)], source: "hostKeySha256" };
    else if (c.knownHostsFile) {
      const known = knownHostsFingerprints(await readText(c.knownHostsFile, "knownHostsFile"), c.host, port);
      pin = { fingerprints: known.allowed, source: c.knownHostsFile };
    } else {
      throw new DriverError(
        "WK_SSH_CONFIG",
        `${this.address}: give hostKeySha256 or knownHostsFile: host keys are pinned`,
        false,
      );
    }
    this.link = new SshLink(
      { host: c.host, port, username: c.user, privateKey, passphrase: c.passphrase ?? undefined, pin },
      this.opts,
    );
    return this.link;
  }

  async stop(): Promise<void> {
    const link = this.link;
    this.link = null;
    this.starting = null;
    await link?.close();
  }

  // ---------------------------------------------------------------- reads

  /** One reading of every GPU. Never throws. */
  async read(signal?: AbortSignal): Promise<GpuNodeReading> {
    const at = this.now();
    const events: GpuEvent[] = [];
    const fail = (state: "faulted" | "unreachable", reason: string): GpuNodeReading => ({
      at,
      state,
      reason,
      gpus: [],
      powerW: null,
      events,
    });
    try {
      const link = await this.start();
      // a probe that hangs ends the read: the query would only hang as long again
      if (!(await this.probeFields(link, signal)))
        return fail("faulted", `nvidia-smi did not answer within ${this.timeoutMs} ms`);
      const epoch = this.capsEpoch;
      const q = await this.query(signal);
      if (!q.ok) return fail("faulted", q.reason);
      const gpus = q.gpus;
      if (gpus.length === 0) return fail("faulted", q.note ?? "nvidia-smi listed no GPUs");
      this.noteHealth(gpus, events, at);
      if (this.opts.reapplyCaps !== false)
        await this.serial(() => this.reapply(gpus, events, at, epoch, signal));
      const bad = gpus.filter((g) => g.health !== "ok");
      const draws = gpus.map((g) => g.powerW).filter((w): w is number => w !== null);
      return {
        at,
        state: bad.length > 0 ? "faulted" : "ok",
        reason:
          bad.length > 0
            ? bad
                .map(
                  (g) =>
                    `GPU ${g.index ?? "?"}${g.uuid ? ` (${g.uuid})` : ""} ${g.health === "lost" ? "is lost" : "requires reset"}`,
                )
                .join("; ")
            : q.note,
        gpus,
        powerW: draws.length > 0 ? Math.round(draws.reduce((a, b) => a + b, 0) * 100) / 100 : null,
        events,
      };
    } catch (err) {
      return fail("unreachable", describe(err));
    }
  }

  /** Probes the supported fields once per connection (a reboot may bring a new driver). */
  /** False when nvidia-smi did not answer the probe in time. */
  private async probeFields(link: SshLink, signal?: AbortSignal): Promise<boolean> {
    if (link.isConnected() && this.probedOnConnect === link.connects) return true;
    const r = await this.smi(["--help-query-gpu"], signal);
    if (r.timedOut) return false;
    this.supported = r.code === 0 ? parseHelpQueryGpu(r.stdout) : null;
    this.probedOnConnect = link.connects;
    return true;
  }

  /** `--query-gpu` (all GPUs or one), plus `--query-compute-apps` for busy. */
  private async query(signal?: AbortSignal, index?: number): Promise<GpuQuery> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const plan = planQuery(this.supported, this.refused);
      const withApps = index === undefined && this.opts.queryComputeApps !== false;
      const [q, apps] = await Promise.all([
        this.smi(queryArgs(plan, index), signal),
        withApps ? this.smi(COMPUTE_APPS_ARGS, signal).catch(() => null) : Promise.resolve(null),
      ]);
      if (q.timedOut) return { ok: false, reason: `nvidia-smi did not answer within ${this.timeoutMs} ms` };
      if (q.code !== 0) {
        const bad = invalidField(`${q.stdout}\n${q.stderr}`);
        if (bad !== null && !this.refused.has(bad)) {
          this.refused.add(bad);
          continue;
        }
        return { ok: false, reason: exitReason(q.code, q.stdout, q.stderr) };
      }
      const parsed = parseGpuCsv(q.stdout, plan);
      markOmitted(parsed.gpus, plan.omitted);
      let busy: Set<string> | null = null;
      if (withApps) {
        if (apps && !apps.timedOut && apps.code === 0) busy = parseComputeApps(apps.stdout);
        for (const g of parsed.gpus) {
          if (busy !== null && g.uuid !== null) g.busy = busy.has(g.uuid);
          else
            g.nullReasons.busy = apps
              ? exitReason(apps.code, apps.stdout, apps.stderr)
              : "compute-apps failed";
        }
      } else for (const g of parsed.gpus) g.nullReasons.busy ??= "not queried";
      if (index === undefined) this.learnCapabilities(parsed.gpus, plan.omitted, busy !== null);
      const note =
        parsed.rejected.length > 0
          ? `${parsed.rejected.length} unparseable row(s): ${parsed.rejected[0]}`
          : null;
      return { ok: true, gpus: parsed.gpus, note };
    }
    return { ok: false, reason: "nvidia-smi kept refusing fields" };
  }

  private learnCapabilities(gpus: GpuDetail[], omitted: readonly string[], busy: boolean): void {
    const caps = new Set<GpuNodeCapability>(["read"]);
    if (busy) caps.add("busy");
    const limitsKnown =
      LIMIT_FIELDS.every((f) => !omitted.includes(f)) &&
      gpus.some(
        (g) => g.minPowerLimitW !== null && g.maxPowerLimitW !== null && g.defaultPowerLimitW !== null,
      );
    if (limitsKnown) {
      caps.add("setPowerLimit");
      caps.add("restorePowerLimit");
    }
    this.caps_ = caps;
  }

  private noteHealth(gpus: GpuDetail[], events: GpuEvent[], at: number): void {
    for (const g of gpus) {
      const key = g.index !== null ? `i${g.index}` : (g.uuid ?? "?");
      const prev = this.health.get(key) ?? "ok";
      this.health.set(key, g.health);
      if (prev === g.health) continue;
      const kind: GpuEventKind =
        g.health === "lost"
          ? "gpu-lost"
          : g.health === "reset-required"
            ? "gpu-reset-required"
            : "gpu-recovered";
      this.emit(events, {
        at,
        kind,
        index: g.index,
        uuid: g.uuid,
        message: `${this.address} GPU ${g.index ?? "?"}: ${kind === "gpu-recovered" ? `recovered (was ${prev})` : g.health}`,
      });
    }
  }

  private async reapply(
    gpus: GpuDetail[],
    events: GpuEvent[],
    at: number,
    epoch: number,
    signal?: AbortSignal,
  ) {
    for (const g of gpus) {
      if (this.capsEpoch !== epoch) return;
      if (g.uuid === null || g.index === null || g.health !== "ok") continue;
      const want = this.caps.get(g.uuid);
      if (want === undefined || g.powerLimitW === null || Math.abs(g.powerLimitW - want) <= 1) continue;
      const was = g.powerLimitW;
      const out = await this.apply(g, want, signal);
      if (out.ok) {
        g.powerLimitW = want;
        g.enforcedPowerLimitW = out.enforcedW;
      }
      this.emit(events, {
        at,
        kind: out.ok ? "cap-reapplied" : "cap-lost",
        index: g.index,
        uuid: g.uuid,
        message: out.ok
          ? `${this.address} GPU ${g.index}: limit was back at ${was} W (driver reload or reboot); re-applied ${want} W`
          : `${this.address} GPU ${g.index}: limit is ${was} W, cap of ${want} W not re-applied: ${out.reason}`,
      });
    }
  }

  private emit(events: GpuEvent[], e: GpuEvent): void {
    events.push(e);
    this.opts.logger?.warn({ host: this.address, event: e.kind, index: e.index, uuid: e.uuid }, e.message);
    this.opts.onEvent?.(e);
  }

  // ---------------------------------------------------------------- writes

  /** Sets one GPU's power limit, refusing anything below the floor or outside [min, max]; confirmed. */
  setPowerLimit(index: number, watts: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    return this.serial(() => this.bumpingEpoch(() => this.setPowerLimitNow(index, watts, signal)));
  }

  private async setPowerLimitNow(
    index: number,
    watts: number,
    signal?: AbortSignal,
  ): Promise<PowerLimitOutcome> {
    const refuse = (reason: string): PowerLimitOutcome => ({
      ok: false,
      reason,
      index,
      requestedW: watts,
      beforeW: null,
      enforcedW: null,
    });
    if (!Number.isInteger(index) || index < 0) return refuse(`GPU index must be a whole number ≥ 0`);
    if (!Number.isFinite(watts) || watts <= 0) return refuse("the power limit must be a positive wattage");
    if (watts < this.config.floorW)
      return refuse(`${watts} W is below this node's floor of ${this.config.floorW} W`);
    const cur = await this.gpu(index, signal);
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

  /** Puts one GPU back at its `power.default_limit` and forgets the cap; confirmed. */
  restorePowerLimit(index: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    return this.serial(() => this.bumpingEpoch(() => this.restorePowerLimitNow(index, signal)));
  }

  private async restorePowerLimitNow(index: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    const cur = await this.gpu(index, signal);
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

  private async gpu(
    index: number,
    signal?: AbortSignal,
  ): Promise<{ ok: true; gpu: GpuDetail } | { ok: false; reason: string }> {
    try {
      const link = await this.start();
      if (!(await this.probeFields(link, signal)))
        return { ok: false, reason: `nvidia-smi did not answer within ${this.timeoutMs} ms` };
      const q = await this.query(signal, index);
      if (!q.ok) return q;
      const g = q.gpus[0];
      if (!g) return { ok: false, reason: `GPU ${index}: not listed by nvidia-smi` };
      if (g.health !== "ok") return { ok: false, reason: `GPU ${index}: ${g.health}` };
      return { ok: true, gpu: g };
    } catch (err) {
      return { ok: false, reason: describe(err) };
    }
  }

  /** `nvidia-smi -i N -pl W`, then `enforced.power.limit` read back. */
  private async apply(g: GpuDetail, watts: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    const index = g.index ?? -1;
    const base = { index, requestedW: watts, beforeW: g.powerLimitW, enforcedW: null as number | null };
    const w = String(Math.round(watts * 100) / 100);
    let r: ExecResult;
    try {
      r = await this.smi(["-i", String(index), "-pl", w], signal);
    } catch (err) {
      return { ...base, ok: false, reason: describe(err) };
    }
    if (r.timedOut)
      return { ...base, ok: false, reason: `nvidia-smi -pl did not answer within ${this.timeoutMs} ms` };
    const refusal = powerLimitRefusal(r.code, r.stdout, r.stderr);
    if (refusal !== null) return { ...base, ok: false, reason: refusal };
    const after = await this.gpu(index, signal);
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

  // ------------------------------------------------------- clocks, commands

  /** Locks one GPU's SM clock to at most `maxMHz` (`-lgc 0,MAX`); confirmed by `clocks.sm` read back. */
  async lockClocks(index: number, maxMHz: number, signal?: AbortSignal): Promise<ClockLockOutcome> {
    const problem = clockLockProblem(index, maxMHz);
    if (problem !== null)
      return { ok: false, reason: problem, index, requestedMaxMHz: maxMHz, smClockMHz: null };
    return this.clockCommand(index, maxMHz, signal);
  }

  /** Gives one GPU its clock range back (`-rgc`) and forgets the lock. */
  async resetClocks(index: number, signal?: AbortSignal): Promise<ClockLockOutcome> {
    if (!Number.isInteger(index) || index < 0)
      return {
        ok: false,
        reason: "GPU index must be a whole number ≥ 0",
        index,
        requestedMaxMHz: null,
        smClockMHz: null,
      };
    return this.clockCommand(index, null, signal);
  }

  private clockCommand(index: number, maxMHz: number | null, signal?: AbortSignal) {
    return runClockCommand(
      {
        smi: (args, sig) => this.smi(args, sig),
        gpu: (i, sig) => this.gpu(i, sig),
        timeoutMs: this.timeoutMs,
        locks: this.clockLocks,
        describe,
      },
      index,
      maxMHz,
      signal,
    );
  }

  /**
   * Runs an operator-configured command (a drain or resume command from config,
   * never from MQTT) over this node's SSH link, under `timeoutMs`. Never throws.
   */
  runOperatorCommand(
    command: string,
    opts: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<OperatorCommandOutcome> {
    return runOperatorCommand(() => this.start(), command, opts, {
      now: this.now,
      logger: this.opts.logger,
      host: this.address,
    });
  }

  /** One nvidia-smi run, wrapped in `timeout` on the node so it ends even if our channel close is ignored. */
  private async smi(args: string[], signal?: AbortSignal): Promise<ExecResult> {
    const link = await this.start();
    for (const a of args)
      if (!ARG_SAFE.test(a)) throw new DriverError("WK_GPU_ARG", `unsafe argument ${a}`, false);
    const remoteS = Math.max(0.5, (this.timeoutMs - 1000) / 1000);
    return link.exec(`timeout -k 1 ${remoteS} nvidia-smi ${args.join(" ")}`, {
      timeoutMs: this.timeoutMs,
      signal,
    });
  }
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new DriverError("WK_SSH_CONFIG", `${what} ${path}: ${(err as Error).message}`, false, {
      cause: err,
    });
  }
}

function describe(err: unknown): string {
  if (err instanceof DriverError) return `${err.code}: ${err.message}`;
  return (err as Error)?.message ?? String(err);
}
