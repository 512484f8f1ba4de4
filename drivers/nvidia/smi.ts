// nvidia-smi on one node: runs it over the node's SSH link under a deadline,
// learns which `--query-gpu` fields the driver offers (once per connection, and
// the ones it refuses at query time), and reads every GPU or one. What the
// driver reports decides the node's capabilities (limits listed, compute-apps
// answered).
import { DriverError, describeError } from "../types.ts";
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
  queryArgs,
} from "./parse.ts";
import type { SshLink } from "./ssh.ts";
import type { ExecResult, GpuDetail, GpuNodeCapability } from "./types.ts";

export type GpuQuery = { ok: true; gpus: GpuDetail[]; note: string | null } | { ok: false; reason: string };
export type OneGpu = { ok: true; gpu: GpuDetail } | { ok: false; reason: string };

const ARG_SAFE = /^[A-Za-z0-9_.,=:-]+$/;

export interface SmiOptions {
  /** The node's link, made on first use. */
  link: () => Promise<SshLink>;
  /** Deadline of one run; the remote command is wrapped in `timeout` just under it. */
  timeoutMs: number;
  /** Ask `--query-compute-apps` whether each GPU is busy on whole-node reads. */
  queryComputeApps: boolean;
}

export class Smi {
  readonly timeoutMs: number;
  private readonly opts: SmiOptions;
  /** Property names the driver lists (`--help-query-gpu`); null = could not tell; probed per connection. */
  private supported: Set<string> | null = null;
  private probedOnConnect = -1;
  /** Names the driver refused at query time ("not a valid field"): left out from then on. */
  private readonly refused = new Set<string>();
  private caps: Set<GpuNodeCapability> = new Set(["read"]);

  constructor(opts: SmiOptions) {
    this.opts = opts;
    this.timeoutMs = opts.timeoutMs;
  }

  /** What the node can do, as learned from its driver at the last whole-node query. */
  capabilities(): ReadonlySet<GpuNodeCapability> {
    return this.caps;
  }

  /** The reason a run that did not answer in time reads as. */
  get silence(): string {
    return `nvidia-smi did not answer within ${this.timeoutMs} ms`;
  }

  /** One nvidia-smi run, wrapped in `timeout` on the node so it ends even if our channel close is ignored. */
  async run(args: string[], signal?: AbortSignal): Promise<ExecResult> {
    const link = await this.opts.link();
    for (const a of args)
      if (!ARG_SAFE.test(a)) throw new DriverError("WK_GPU_ARG", `unsafe argument ${a}`, false);
    const remoteS = Math.max(0.5, (this.timeoutMs - 1000) / 1000);
    return link.exec(`timeout -k 1 ${remoteS} nvidia-smi ${args.join(" ")}`, {
      timeoutMs: this.timeoutMs,
      signal,
    });
  }

  /**
   * Probes the supported fields once per connection (a reboot may bring a new driver).
   * False when nvidia-smi did not answer the probe in time.
   */
  async probeFields(signal?: AbortSignal): Promise<boolean> {
    const link = await this.opts.link();
    if (link.isConnected() && this.probedOnConnect === link.connects) return true;
    const r = await this.run(["--help-query-gpu"], signal);
    if (r.timedOut) return false;
    this.supported = r.code === 0 ? parseHelpQueryGpu(r.stdout) : null;
    this.probedOnConnect = link.connects;
    return true;
  }

  /** `--query-gpu` (all GPUs or one), plus `--query-compute-apps` for busy. */
  async query(signal?: AbortSignal, index?: number): Promise<GpuQuery> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const plan = planQuery(this.supported, this.refused);
      const withApps = index === undefined && this.opts.queryComputeApps;
      const [q, apps] = await Promise.all([
        this.run(queryArgs(plan, index), signal),
        withApps ? this.run(COMPUTE_APPS_ARGS, signal).catch(() => null) : Promise.resolve(null),
      ]);
      if (q.timedOut) return { ok: false, reason: this.silence };
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

  /** One GPU, healthy and listed, or why not. Never throws. */
  async gpu(index: number, signal?: AbortSignal): Promise<OneGpu> {
    try {
      if (!(await this.probeFields(signal))) return { ok: false, reason: this.silence };
      const q = await this.query(signal, index);
      if (!q.ok) return q;
      const g = q.gpus[0];
      if (!g) return { ok: false, reason: `GPU ${index}: not listed by nvidia-smi` };
      if (g.health !== "ok") return { ok: false, reason: `GPU ${index}: ${g.health}` };
      return { ok: true, gpu: g };
    } catch (err) {
      return { ok: false, reason: describeError(err) };
    }
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
    this.caps = caps;
  }
}
