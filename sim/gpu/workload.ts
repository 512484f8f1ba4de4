// The simulated node's workload manager, as seen from its shell: Slurm's
// `scontrol update nodename=N state=drain|resume reason="…"` and `scontrol show
// node N`, Kubernetes' `kubectl cordon|uncordon N`. Taking a node out of
// service (drained or cordoned) lets its running jobs finish after
// `drainDelayMs`: the GPUs that were busy go idle (their draw falls to idle).
// Back in service, those GPUs get work again. Text follows Slurm's and
// kubectl's own output; exit codes are theirs (0, or 1 on an error).
import type { SmiSim } from "./smi.ts";

export type ShellResult = { stdout: string; stderr: string; code: number } | { hang: true };

export interface WorkloadOptions {
  nodeName: string;
  smi: SmiSim;
  /** How long running jobs take to finish once the node is out of service (ms). */
  drainDelayMs?: number;
  now?: () => number;
}

const ok = (stdout = ""): ShellResult => ({ stdout, stderr: "", code: 0 });
const fail = (stderr: string, code = 1): ShellResult => ({ stdout: "", stderr, code });

export class WorkloadSim {
  readonly nodeName: string;
  drainDelayMs: number;
  /** Slurm drain in force: its reason and who/when, as `scontrol show node` prints them. */
  drain: { reason: string; user: string; at: number } | null = null;
  /** Kubernetes `spec.unschedulable`. */
  cordoned = false;
  private readonly smi: SmiSim;
  private readonly now: () => number;
  /** GPU indexes whose jobs finished because the node left service: given work again on return. */
  private parked: number[] | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(o: WorkloadOptions) {
    this.nodeName = o.nodeName;
    this.smi = o.smi;
    this.drainDelayMs = o.drainDelayMs ?? 200;
    this.now = o.now ?? Date.now;
  }

  /** Whether new jobs may land on the node. */
  schedulable(): boolean {
    return this.drain === null && !this.cordoned;
  }

  /** True once the jobs running at drain time have finished. */
  jobsFinished(): boolean {
    return this.parked !== null;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Re-evaluates jobs after a change of service state. */
  private settle(): void {
    if (!this.schedulable()) {
      if (this.parked !== null || this.timer !== null) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.parked = this.smi.gpus.filter((g) => g.busy).map((g) => g.index);
        for (const g of this.smi.gpus) g.busy = false;
      }, this.drainDelayMs);
      this.timer.unref();
      return;
    }
    this.stop(); // back before the jobs finished: they simply keep running
    if (this.parked !== null) {
      for (const i of this.parked) {
        const g = this.smi.gpus[i];
        if (g) g.busy = true;
      }
      this.parked = null;
    }
  }

  scontrol(args: string[]): ShellResult {
    const [verb, ...rest] = args;
    if (verb === "show" && (rest[0] === "node" || rest[0] === "nodes")) {
      const name = rest[1];
      if (name !== undefined && name !== this.nodeName) return fail(`Node ${name} not found\n`);
      return ok(this.showNode());
    }
    if (verb !== "update") return fail(`invalid keyword: ${verb ?? ""}\n`);
    const kv = new Map<string, string>();
    for (const a of rest) {
      const eq = a.indexOf("=");
      if (eq <= 0) return fail(`Invalid input: ${a}\nRequest aborted\n`);
      kv.set(a.slice(0, eq).toLowerCase(), a.slice(eq + 1));
    }
    const name = kv.get("nodename");
    if (name === undefined)
      return fail(
        'No valid entity in update command\nInput line must include "NodeName", "PartitionName", "Reservation=<name>", or "JobId"\n',
      );
    if (name !== this.nodeName) return fail("slurm_update error: Invalid node name specified\n");
    const state = kv.get("state")?.toLowerCase();
    if (state === "drain") {
      const reason = kv.get("reason");
      if (!reason) return fail("You must specify a reason when DOWNING or DRAINING a node. Request denied\n");
      this.drain = { reason, user: "root", at: this.now() };
      this.settle();
      return ok();
    }
    if (state === "resume" || state === "undrain") {
      if (this.drain === null) return fail("slurm_update error: Invalid node state specified\n");
      this.drain = null;
      this.settle();
      return ok();
    }
    return fail(`Invalid node state specified: ${kv.get("state") ?? ""}\n`);
  }

  kubectl(args: string[]): ShellResult {
    const [verb, name] = args;
    if (verb !== "cordon" && verb !== "uncordon")
      return fail(`error: unknown command "${verb ?? ""}" for "kubectl"\n`);
    if (name === undefined) return fail("error: resource(s) were provided, but no name was specified\n");
    if (name !== this.nodeName) return fail(`Error from server (NotFound): nodes "${name}" not found\n`);
    const want = verb === "cordon";
    const already = this.cordoned === want;
    this.cordoned = want;
    this.settle();
    return ok(`node/${name} ${already ? "already " : ""}${verb}ed\n`);
  }

  /** `scontrol show node`: the lines and fields the driver-side tests and operators look at. */
  private showNode(): string {
    const busy = this.smi.gpus.filter((g) => g.busy).length;
    const base = busy === 0 ? "IDLE" : busy === this.smi.gpus.length ? "ALLOCATED" : "MIXED";
    const state = this.drain ? `${base}+DRAIN` : base;
    const n = this.nodeName;
    const lines = [
      `NodeName=${n} Arch=x86_64 CoresPerSocket=56`,
      `   CPUAlloc=${busy * 8} CPUEfctv=224 CPUTot=224 CPULoad=${(busy * 7.9).toFixed(2)}`,
      "   AvailableFeatures=h100",
      "   ActiveFeatures=h100",
      `   Gres=gpu:h100:${this.smi.gpus.length}`,
      `   NodeAddr=${n} NodeHostName=${n} Version=24.05.4`,
      "   RealMemory=2063000 AllocMem=0 FreeMem=1900000 Sockets=2 Boards=1",
      `   State=${state} ThreadsPerCore=2 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A`,
      "   Partitions=gpu",
    ];
    if (this.drain)
      lines.push(
        `   Reason=${this.drain.reason} [${this.drain.user}@${new Date(this.drain.at).toISOString().slice(0, 19)}]`,
      );
    return `${lines.join("\n")}\n\n`;
  }
}
