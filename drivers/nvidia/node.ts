// One GPU node read and capped with nvidia-smi over one persistent SSH link.
// Reads never throw (a state with a reason instead); power-limit writes are
// checked against the floor and the card's [min, max], then confirmed by
// reading `enforced.power.limit` back (limits.ts). Caps this node set are
// re-applied when a read shows them gone. nvidia-smi runs and field probing:
// smi.ts; clock locks: clocks.ts; operator commands: operator-command.ts.
import { readFile } from "node:fs/promises";
import { DriverError, describeError } from "../types.ts";
import { clockLockProblem, runClockCommand } from "./clocks.ts";
import { knownHostsFingerprints, normaliseFingerprint } from "./hostkey.ts";
import { PowerLimits } from "./limits.ts";
import { runOperatorCommand } from "./operator-command.ts";
import { Smi } from "./smi.ts";
import { SshLink, type SshLinkOptions } from "./ssh.ts";
import type {
  ClockLockOutcome,
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

export class GpuNode {
  readonly config: GpuNodeConfig;
  private readonly opts: GpuNodeOptions;
  private link: SshLink | null = null;
  private starting: Promise<SshLink> | null = null;
  private readonly smi: Smi;
  private readonly limits: PowerLimits;
  private readonly health = new Map<string, GpuHealth>();
  /** Clock ceilings this node locked, by GPU UUID (MHz). */
  private readonly clockLocks = new Map<string, number>();

  constructor(config: GpuNodeConfig, opts: GpuNodeOptions = {}) {
    this.config = config;
    this.opts = opts;
    this.smi = new Smi({
      link: () => this.start(),
      timeoutMs: opts.commandTimeoutMs ?? 10_000,
      queryComputeApps: opts.queryComputeApps !== false,
    });
    this.limits = new PowerLimits({
      smi: this.smi,
      floorW: () => this.config.floorW,
      address: this.address,
    });
  }

  get address(): string {
    return `${this.config.host}:${this.config.port ?? 22}`;
  }

  private get now(): () => number {
    return this.opts.now ?? Date.now;
  }

  /** What this node can do, as learned from its driver (limits reported, compute-apps answered). */
  capabilities(): ReadonlySet<GpuNodeCapability> {
    return this.smi.capabilities();
  }

  describe(): { host: string; port: number; capabilities: GpuNodeCapability[] } {
    return {
      host: this.config.host,
      port: this.config.port ?? 22,
      capabilities: [...this.smi.capabilities()],
    };
  }

  /** Power limits this node holds on its GPUs (UUID → W), re-applied after a driver reload. */
  activeCaps(): ReadonlyMap<string, number> {
    return this.limits.active();
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
      await this.start();
      // a probe that hangs ends the read: the query would only hang as long again
      if (!(await this.smi.probeFields(signal))) return fail("faulted", this.smi.silence);
      const epoch = this.limits.epoch;
      const q = await this.smi.query(signal);
      if (!q.ok) return fail("faulted", q.reason);
      const gpus = q.gpus;
      if (gpus.length === 0) return fail("faulted", q.note ?? "nvidia-smi listed no GPUs");
      this.noteHealth(gpus, events, at);
      if (this.opts.reapplyCaps !== false)
        await this.limits.reapply(gpus, { at, epoch, signal, emit: (e) => this.emit(events, e) });
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
      return fail("unreachable", describeError(err));
    }
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

  private emit(events: GpuEvent[], e: GpuEvent): void {
    events.push(e);
    this.opts.logger?.warn({ host: this.address, event: e.kind, index: e.index, uuid: e.uuid }, e.message);
    this.opts.onEvent?.(e);
  }

  // ---------------------------------------------------------------- writes

  /** Sets one GPU's power limit, refusing anything below the floor or outside [min, max]; confirmed. */
  setPowerLimit(index: number, watts: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    return this.limits.set(index, watts, signal);
  }

  /** Puts one GPU back at its `power.default_limit` and forgets the cap; confirmed. */
  restorePowerLimit(index: number, signal?: AbortSignal): Promise<PowerLimitOutcome> {
    return this.limits.restore(index, signal);
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
        smi: (args, sig) => this.smi.run(args, sig),
        gpu: (i, sig) => this.smi.gpu(i, sig),
        timeoutMs: this.smi.timeoutMs,
        locks: this.clockLocks,
        describe: describeError,
      },
      { index, maxMHz, signal },
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
    return runOperatorCommand(
      { link: () => this.start(), now: this.now, logger: this.opts.logger, host: this.address },
      command,
      opts,
    );
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
