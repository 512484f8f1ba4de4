// A scripted nvidia-smi for an 8× H100 SXM node: the query, help, compute-apps
// and power-limit commands the driver sends, with power-limit state, a draw that
// follows the limit, and injectable faults (a lost GPU, a hung command, the
// driver not loaded, permission denied on -pl, fields an older driver lacks).
// Output follows real captures: ", "-separated cells, no quoting, placeholders
// in brackets. Pure: the SSH server around it only moves text.

export interface SimGpu {
  index: number;
  uuid: string;
  busId: string;
  name: string;
  minW: number;
  maxW: number;
  defaultW: number;
  limitW: number;
  busy: boolean;
  memTotalMiB: number;
  lost: boolean;
  resetRequired: boolean;
  /** SM clock ceiling set with `-lgc` (MHz); null = not locked. */
  lockedMaxMHz: number | null;
}

export interface SmiFaults {
  /** Every nvidia-smi run hangs (a wedged driver); only closing the channel ends it. */
  hang: boolean;
  /** Exit 9 with the "couldn't communicate with the NVIDIA driver" message. */
  driverNotLoaded: boolean;
  /** `-pl` fails with Insufficient Permissions, exit 4 (not root). */
  plPermissionDenied: boolean;
  /** `-lgc`/`-rgc` fail with Insufficient Permissions, exit 4 (not root). */
  clocksPermissionDenied: boolean;
  /** Field names this driver does not know: absent from --help-query-gpu, refused in queries. */
  unsupportedFields: string[];
}

export type SmiResult = { stdout: string; stderr: string; code: number } | { hang: true };

/** SM boost clock under a job (MHz), as in the H100 capture. */
const BOOST_MHZ = 1980;

const DRIVER_GONE =
  "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n";

/** Names (and aliases) the scripted driver knows, with a line of help each. */
const HELP: [string[], string][] = [
  [["timestamp"], "The timestamp of when the query was made."],
  [["driver_version"], "The version of the installed NVIDIA display driver."],
  [["count"], "The number of NVIDIA GPUs in the system."],
  [["name", "gpu_name"], "The official product name of the GPU."],
  [["uuid", "gpu_uuid"], "The globally unique immutable alphanumeric identifier of the GPU."],
  [["pci.bus_id", "gpu_bus_id"], 'PCI bus id as "domain:bus:device.function", in hex.'],
  [["index"], "Zero based index of the GPU. Can change at each boot."],
  [["persistence_mode"], 'Either "Enabled" or "Disabled".'],
  [["fan.speed"], "The fan speed value is the percent of the product's maximum noise tolerance fan speed."],
  [["pstate"], "The current performance state for the GPU. States range from P0 to P12."],
  [["memory.total"], "Total installed GPU memory."],
  [["memory.used"], "Total memory allocated by active contexts."],
  [
    ["utilization.gpu"],
    "Percent of time over the past sample period during which one or more kernels was executing.",
  ],
  [["ecc.errors.uncorrected.volatile.total"], "Total errors detected across entire chip."],
  [["temperature.gpu"], " Core GPU temperature. in degrees C."],
  [["temperature.memory"], " HBM memory temperature. in degrees C."],
  [["power.management"], "A flag that indicates whether power management is enabled."],
  [["power.draw"], "The last measured power draw for the entire board, in watts."],
  [["power.limit", "gpu.power.requested_limit"], "The software power limit in watts."],
  [
    ["enforced.power.limit", "gpu.power.current_limit"],
    "The power management algorithm's power ceiling, in watts.",
  ],
  [
    ["power.default_limit", "gpu.power.default_limit"],
    "The default power management algorithm's power ceiling.",
  ],
  [["power.min_limit", "gpu.power.min_limit"], "The minimum value in watts that power limit can be set to."],
  [["power.max_limit", "gpu.power.max_limit"], "The maximum value in watts that power limit can be set to."],
  [["clocks.current.sm", "clocks.sm"], "Current frequency of SM (Streaming Multiprocessor) clock."],
];

export class SmiSim {
  readonly gpus: SimGpu[];
  faults: SmiFaults = {
    hang: false,
    driverNotLoaded: false,
    plPermissionDenied: false,
    clocksPermissionDenied: false,
    unsupportedFields: [],
  };
  /** Commands run, by kind, for tests and benches. */
  readonly runs = { query: 0, apps: 0, help: 0, pl: 0, clocks: 0, other: 0 };

  constructor(opts: { gpus?: number; seed?: string } = {}) {
    const n = opts.gpus ?? 8;
    const seed = opts.seed ?? "sim";
    this.gpus = Array.from({ length: n }, (_, i) => ({
      index: i,
      uuid: fakeUuid(seed, i),
      busId: `00000000:${(0x18 + i * 0x11).toString(16).toUpperCase().padStart(2, "0")}:00.0`,
      name: "NVIDIA H100 80GB HBM3",
      minW: 200,
      maxW: 700,
      defaultW: 700,
      limitW: 700,
      busy: i % 4 !== 3, // six of eight GPUs run a job
      memTotalMiB: 81559,
      lost: false,
      resetRequired: false,
      lockedMaxMHz: null,
    }));
  }

  /** SM clock now (MHz): 1980 under a job, held under a lock; 345 idle. */
  smClockMHz(g: SimGpu): number {
    return g.busy ? Math.min(BOOST_MHZ, g.lockedMaxMHz ?? BOOST_MHZ) : 345;
  }

  /**
   * What one GPU draws now (W): a job pulls up to ~650 W, held under the limit;
   * idle ~70 W. A clock lock scales the part above idle by (f/fmax)^1.5, a
   * simple stand-in for dynamic power falling with clock and voltage.
   */
  drawW(g: SimGpu): number {
    if (g.lost || this.faults.driverNotLoaded) return 0;
    const idle = 68.5 + g.index * 0.41;
    if (!g.busy) return idle;
    const full = 625 + g.index * 3.17;
    if (g.lockedMaxMHz === null) return Math.min(g.limitW - 1.5, full);
    const scaled = idle + (full - idle) * (this.smClockMHz(g) / BOOST_MHZ) ** 1.5;
    return Math.min(g.limitW - 1.5, Math.round(scaled * 100) / 100);
  }

  /** Node draw for the power model (W). */
  powerW(): number {
    return this.gpus.reduce((a, g) => a + this.drawW(g), 0);
  }

  /** A driver reload or reboot: power limits fall back to default (they do not persist). */
  reloadDriver(): void {
    for (const g of this.gpus) {
      g.limitW = g.defaultW;
      g.lockedMaxMHz = null;
    }
  }

  private known(): Set<string> {
    const out = new Set<string>();
    for (const [names] of HELP)
      for (const n of names) if (!this.faults.unsupportedFields.includes(n)) out.add(n);
    return out;
  }

  /**
   * Rewrites what a command returns (fuzzing: garbage, truncated or odd
   * output, any exit code); null = the scripted driver's own answer.
   */
  mangle: ((command: string, result: SmiResult) => SmiResult) | null = null;

  /** Runs one command line as a login shell would (`timeout -k K S nvidia-smi …`). */
  run(command: string): SmiResult {
    const result = this.runScripted(command);
    return this.mangle ? this.mangle(command, result) : result;
  }

  private runScripted(command: string): SmiResult {
    let tokens = command.trim().split(/\s+/);
    if (tokens[0] === "timeout") {
      tokens = tokens.slice(1);
      while (tokens[0]?.startsWith("-"))
        tokens = tokens.slice(tokens[0] === "-k" || tokens[0] === "-s" ? 2 : 1);
      tokens = tokens.slice(1); // the duration: a wedged driver ignores it, as a process in D state would
    }
    if (tokens[0] !== "nvidia-smi") {
      this.runs.other++;
      return { stdout: "", stderr: `sh: 1: ${tokens[0] ?? ""}: not found\n`, code: 127 };
    }
    const args = tokens.slice(1);
    if (this.faults.hang) return { hang: true };
    if (this.faults.driverNotLoaded) return { stdout: DRIVER_GONE, stderr: "", code: 9 };
    const opt = (name: string): string | null => {
      const eq = args.find((a) => a.startsWith(`${name}=`));
      if (eq) return eq.slice(name.length + 1);
      const i = args.indexOf(name);
      return i >= 0 ? (args[i + 1] ?? "") : null;
    };
    const idArg = opt("-i") ?? opt("--id");
    let targets = this.gpus;
    if (idArg !== null) {
      const g = this.gpus.find((x) => String(x.index) === idArg || x.uuid === idArg);
      if (!g) return { stdout: "No devices were found\n", stderr: "", code: 6 };
      targets = [g];
    }
    if (args.includes("--help-query-gpu")) {
      this.runs.help++;
      return { stdout: this.help(), stderr: "", code: 0 };
    }
    const pl = opt("-pl") ?? opt("--power-limit");
    if (pl !== null) {
      this.runs.pl++;
      return this.setLimit(targets, Number(pl));
    }
    const lgc = opt("-lgc") ?? opt("--lock-gpu-clocks");
    if (lgc !== null) {
      this.runs.clocks++;
      return this.lockClocks(targets, lgc);
    }
    if (args.includes("-rgc") || args.includes("--reset-gpu-clocks")) {
      this.runs.clocks++;
      return this.lockClocks(targets, null);
    }
    const q = opt("--query-gpu");
    if (q !== null) {
      this.runs.query++;
      return this.query(targets, q.split(","));
    }
    const apps = opt("--query-compute-apps");
    if (apps !== null) {
      this.runs.apps++;
      return this.computeApps(apps.split(","));
    }
    this.runs.other++;
    return {
      stdout: "",
      stderr: "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n",
      code: 2,
    };
  }

  private help(): string {
    const known = this.known();
    const lines = ['List of valid properties to query for the switch "--query-gpu":', ""];
    for (const [names, text] of HELP) {
      const ok = names.filter((n) => known.has(n));
      if (ok.length === 0) continue;
      lines.push(ok.map((n) => `"${n}"`).join(" or "), text, "");
    }
    return `${lines.join("\n")}\n`;
  }

  private query(targets: SimGpu[], fields: string[]): SmiResult {
    const known = this.known();
    const bad = fields.find((f) => !known.has(f));
    if (bad !== undefined)
      return { stdout: `Field "${bad}" is not a valid field to query.\n\n`, stderr: "", code: 2 };
    const rows = targets.map((g) => fields.map((f) => this.cell(g, f)).join(", "));
    return { stdout: `${rows.join("\n")}\n`, stderr: "", code: 0 };
  }

  private cell(g: SimGpu, field: string): string {
    if (g.lost && field !== "index") return "[GPU is lost]";
    if (g.resetRequired && field !== "index") return "[GPU requires reset]";
    const w = (x: number) => x.toFixed(2);
    switch (field) {
      case "index":
        return String(g.index);
      case "uuid":
      case "gpu_uuid":
        return g.uuid;
      case "name":
      case "gpu_name":
        return g.name;
      case "pci.bus_id":
      case "gpu_bus_id":
        return g.busId;
      case "power.draw":
        return w(this.drawW(g));
      case "power.limit":
      case "gpu.power.requested_limit":
      case "enforced.power.limit":
      case "gpu.power.current_limit":
        return w(g.limitW);
      case "power.default_limit":
      case "gpu.power.default_limit":
        return w(g.defaultW);
      case "power.min_limit":
      case "gpu.power.min_limit":
        return w(g.minW);
      case "power.max_limit":
      case "gpu.power.max_limit":
        return w(g.maxW);
      case "power.management":
        return "[Requested functionality has been deprecated]";
      case "temperature.gpu":
        return String(g.busy ? 59 + (g.index % 3) : 33);
      case "temperature.memory":
        return String(g.busy ? 54 + (g.index % 2) : 30);
      case "utilization.gpu":
        return String(g.busy ? 100 : 0);
      case "memory.used":
        return String(g.busy ? 19818 + g.index * 11 : 0);
      case "memory.total":
        return String(g.memTotalMiB);
      case "clocks.sm":
      case "clocks.current.sm":
        return String(this.smClockMHz(g));
      case "fan.speed":
        return "[N/A]"; // SXM boards have no fan of their own
      case "pstate":
        return "P0";
      case "ecc.errors.uncorrected.volatile.total":
        return "0";
      case "persistence_mode":
        return "Enabled";
      case "count":
        return String(this.gpus.length);
      case "driver_version":
        return "590.48.01";
      default:
        return "[N/A]";
    }
  }

  private computeApps(fields: string[]): SmiResult {
    const rows: string[] = [];
    for (const g of this.gpus) {
      if (!g.busy || g.lost) continue;
      rows.push(
        fields
          .map((f) => {
            if (f === "gpu_uuid") return g.uuid;
            if (f === "pid") return String(41000 + g.index);
            if (f === "process_name") return "python3";
            if (f === "used_memory" || f === "used_gpu_memory") return String(19200 + g.index * 11);
            if (f === "gpu_bus_id") return g.busId;
            return "[N/A]";
          })
          .join(", "),
      );
    }
    return { stdout: rows.length > 0 ? `${rows.join("\n")}\n` : "", stderr: "", code: 0 };
  }

  /** `-lgc MIN,MAX` (range) or `-rgc` (null). Only the ceiling shapes the sim's clock. */
  private lockClocks(targets: SimGpu[], range: string | null): SmiResult {
    const m = range === null ? null : /^(\d+),(\d+)$/.exec(range);
    if (range !== null && (!m || Number(m[1]) > Number(m[2])))
      return {
        stdout: "",
        stderr: "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n",
        code: 2,
      };
    const out: string[] = [];
    for (const g of targets) {
      if (this.faults.clocksPermissionDenied)
        return {
          stdout: `Setting locked GPU clocks for GPU ${g.busId} failed: Insufficient Permissions\nTerminating early due to previous errors.\n`,
          stderr: "",
          code: 4,
        };
      if (m) {
        g.lockedMaxMHz = Number(m[2]);
        out.push(`GPU clocks set to "(gpuClkMin ${m[1]}, gpuClkMax ${m[2]})" for GPU ${g.busId}`);
      } else g.lockedMaxMHz = null;
    }
    // -rgc's own text is not relied on by the driver: exit status and the read-back are
    out.push("All done.");
    return { stdout: `${out.join("\n")}\n`, stderr: "", code: 0 };
  }

  private setLimit(targets: SimGpu[], watts: number): SmiResult {
    const out: string[] = [];
    for (const g of targets) {
      if (this.faults.plPermissionDenied) {
        return {
          stdout: `Failed to set power management limit for GPU ${g.busId}: Insufficient Permissions\nTerminating early due to previous errors.\n`,
          stderr: "",
          code: 4,
        };
      }
      if (!(watts >= g.minW && watts <= g.maxW)) {
        return {
          stdout: `Provided power limit ${Number.isFinite(watts) ? watts.toFixed(2) : "NaN"} W is not a valid power limit which should be between ${g.minW.toFixed(2)} W and ${g.maxW.toFixed(2)} W for GPU ${g.busId}\nTerminating early due to previous errors.\n`,
          stderr: "",
          code: 2,
        };
      }
      out.push(
        `Power limit for GPU ${g.busId} was set to ${watts.toFixed(2)} W from ${g.limitW.toFixed(2)} W.`,
      );
      g.limitW = watts;
    }
    return { stdout: `${out.join("\n")}\nAll done.\n`, stderr: "", code: 0 };
  }
}

function fakeUuid(seed: string, i: number): string {
  let h = 2166136261;
  const hex: string[] = [];
  for (let k = 0; k < 16; k++) {
    for (const c of `${seed}/${i}/${k}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
    hex.push((h & 0xff).toString(16).padStart(2, "0"));
  }
  const s = hex.join("");
  return `GPU-${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}
