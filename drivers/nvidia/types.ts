// Types of the GPU-node driver (nvidia-smi over SSH). Kept here, not in
// drivers/types.ts, so this driver can change without touching shared files.

/** What a GPU node can do, as data: the loop asks `caps.has("setPowerLimit")`. */
const GPU_NODE_CAPABILITIES = ["read", "busy", "setPowerLimit", "restorePowerLimit"] as const;
export type GpuNodeCapability = (typeof GPU_NODE_CAPABILITIES)[number];

const GPU_NODE_STATES = ["ok", "faulted", "unreachable"] as const;
type GpuNodeState = (typeof GPU_NODE_STATES)[number];

/** A GPU's own health, from the placeholders nvidia-smi prints in its cells. */
export type GpuHealth = "ok" | "lost" | "reset-required";

/** One GPU, in the `probe gpu --json` shape (docs/design.md): fields may be null, never missing. */
export interface GpuReading {
  index: number | null;
  uuid: string | null;
  name: string | null;
  powerW: number | null;
  powerLimitW: number | null;
  enforcedPowerLimitW: number | null;
  minPowerLimitW: number | null;
  maxPowerLimitW: number | null;
  defaultPowerLimitW: number | null;
  tempC: number | null;
  memTempC: number | null;
  utilPct: number | null;
  memUsedMiB: number | null;
  memTotalMiB: number | null;
  smClockMHz: number | null;
  fanPct: number | null;
  pstate: string | null;
  eccUncorrected: number | null;
  /** Whether a compute process runs on it (`--query-compute-apps`); null when unknown. */
  busy: boolean | null;
}

/** A GPU reading plus what the JSON shape leaves out: health and why fields are null. */
export interface GpuDetail extends GpuReading {
  health: GpuHealth;
  /** Field (our name) → why it is null: "[N/A]", "[Not Supported]", "not queried: unsupported by this driver"… */
  nullReasons: Record<string, string>;
}

export type GpuEventKind = "gpu-lost" | "gpu-reset-required" | "gpu-recovered" | "cap-reapplied" | "cap-lost";

export interface GpuEvent {
  at: number;
  kind: GpuEventKind;
  index: number | null;
  uuid: string | null;
  message: string;
}

/** One node's reading. `read()` never throws: failures are a state with a reason. */
export interface GpuNodeReading {
  at: number;
  state: GpuNodeState;
  reason: string | null;
  gpus: GpuDetail[];
  /** Sum of the GPUs' power draw (W), null when no GPU reported one. */
  powerW: number | null;
  /** Events first seen by this read (a GPU lost, a cap re-applied after a driver reload…). */
  events: GpuEvent[];
}

/** Result of a power-limit write, confirmed by reading `enforced.power.limit` back. */
export interface PowerLimitOutcome {
  ok: boolean;
  reason: string | null;
  index: number;
  requestedW: number;
  /** power.limit before the write, when it was read. */
  beforeW: number | null;
  /** enforced.power.limit read back after the write. */
  enforcedW: number | null;
}

/** The subset of a pino logger the driver uses. */
export interface GpuLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** How a node's host key is pinned: SHA-256 fingerprints ("SHA256:…", as ssh-keygen -lf prints). */
export interface HostKeyPin {
  fingerprints: string[];
  /** Where the pins came from, for messages ("config", "/etc/ssh/known_hosts"). */
  source: string;
}

/** Result of one remote command. */
export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** True when our own timer (or the caller's signal) closed the channel. */
  timedOut: boolean;
  durationMs: number;
}

/**
 * Result of an operator-configured command (a drain or resume command) run over
 * the node's SSH link. Never thrown: a refusal, a timeout or a lost link is
 * `ok: false` with a reason. stdout/stderr are bounded and printable, for the audit.
 */
export interface OperatorCommandOutcome {
  ok: boolean;
  /** The command's exit status; null when it did not finish (deadline, signal, no connection). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  reason: string | null;
}

/** Result of a clock lock (`-lgc`) or reset (`-rgc`) on one GPU. */
export interface ClockLockOutcome {
  ok: boolean;
  reason: string | null;
  index: number;
  /** The ceiling asked for (MHz); null for a reset. */
  requestedMaxMHz: number | null;
  /** `clocks.sm` read back after the command, when it was read. */
  smClockMHz: number | null;
}
