// The loop's Actuator over the real drivers: miner writes go through the
// dialect driver (which confirms by reading back), GPU caps through the node
// (confirmed by enforced.power.limit). `ok` is a confirmed effect, never an ack.
import type { Miner } from "../../drivers/cgminer/miner.ts";
import type { WriteOutcome } from "../../drivers/cgminer/write.ts";
import type { GpuNode } from "../../drivers/nvidia/node.ts";
import type { OperatorCommandOutcome } from "../../drivers/nvidia/types.ts";
import type { MinerReading } from "../../drivers/types.ts";
import type { Actuator, ActuatorCall, ActuatorResult } from "./loop-types.ts";

export interface DriverActuatorDeps {
  miners: ReadonlyMap<string, Miner>;
  gpuNodes: ReadonlyMap<string, GpuNode>;
  /** A GPU's default limit from the latest reading (no extra nvidia-smi run). */
  defaultLimitW: (nodeId: string, index: number) => number | null;
  /** The poller's latest reading of a miner when fresh enough to confirm against; null = read first. */
  freshReading?: (minerId: string) => MinerReading | null;
  /**
   * The reading that confirmed (or did not confirm) a miner write: the site shows it at once,
   * not a sweep later (agent/site/read-back.ts).
   */
  onReadBack?: (minerId: string, after: MinerReading) => void;
  /** A drain-tier node's commands (config only: never from MQTT); null = none configured. */
  drainCommands?: (nodeId: string) => DrainCommands | null;
  /** A node capped by a clock lock (gpuNodes[].lockClocksMHz) instead of power limits; null = limits. */
  clockLockOf?: (nodeId: string) => number | null;
}

export function driverActuator({
  miners,
  gpuNodes,
  defaultLimitW,
  freshReading = () => null,
  onReadBack = () => {},
  drainCommands = () => null,
  clockLockOf = () => null,
}: DriverActuatorDeps): Actuator {
  const minerWrite = async (
    id: string,
    action: "sleep" | "wake" | "setPowerLimit" | "reboot" | "locate",
    value: number | undefined,
    { signal, onSent }: ActuatorCall = {},
  ): Promise<ActuatorResult> => {
    const miner = miners.get(id);
    if (!miner) return { ok: false, reason: `no miner ${id}` };
    // a locate reads its LED, not the miner: no reading to confirm against
    const before = action === "locate" ? null : freshReading(id);
    return actuatorResult(id, await miner.write(action, value, { signal, before, onSent }));
  };
  const actuatorResult = (id: string, out: WriteOutcome): ActuatorResult => {
    if (out.after) onReadBack(id, out.after);
    return { ok: out.ok, reason: out.reason ?? "confirmed", locate: out.locate ?? null };
  };
  const startMiner: NonNullable<Actuator["startMiner"]> = async (kind, id, watts, { signal }) => {
    const miner = miners.get(id);
    if (!miner) return { result: { ok: false, reason: `no miner ${id}` } };
    // a miner's limit is restored by setting the value it had before the agent lowered it
    const action = kind === "restorePowerLimit" ? "setPowerLimit" : kind;
    const value = action === "setPowerLimit" ? watts : undefined;
    const started = await miner.start(action, value, { signal, before: freshReading(id) });
    if (!started.confirm) return { result: actuatorResult(id, started.outcome) };
    const { confirm } = started;
    return { confirm: async () => actuatorResult(id, await confirm()) };
  };
  /** `watts` null: back to the default limit (or clocks reset). */
  const gpuLimit = async (
    gpu: { nodeId: string; index: number },
    watts: number | null,
    signal?: AbortSignal,
  ): Promise<ActuatorResult> => {
    const { nodeId, index } = gpu;
    const node = gpuNodes.get(nodeId);
    if (!node) return { ok: false, reason: `no GPU node ${nodeId}` };
    const lockMHz = clockLockOf(nodeId);
    if (lockMHz !== null) {
      // one lever: the clock ceiling; the loop's meter sees what it saves
      const out =
        watts === null
          ? await node.resetClocks(index, signal)
          : await node.lockClocks(index, lockMHz, signal);
      const what = watts === null ? "clocks reset" : `SM clocks locked at ≤ ${lockMHz} MHz`;
      return {
        ok: out.ok,
        reason: out.ok ? `${what} (SM ${out.smClockMHz ?? "?"} MHz)` : (out.reason ?? what),
      };
    }
    const out =
      watts === null
        ? await node.restorePowerLimit(index, signal)
        : await node.setPowerLimit(index, watts, signal);
    return { ok: out.ok, reason: out.reason ?? "confirmed" };
  };
  const operatorCommand = async (
    nodeId: string,
    which: "command" | "resumeCommand",
    signal?: AbortSignal,
  ): Promise<ActuatorResult> => {
    const node = gpuNodes.get(nodeId);
    const cmds = drainCommands(nodeId);
    if (!node) return { ok: false, reason: `no GPU node ${nodeId}` };
    if (!cmds) return { ok: false, reason: `GPU node ${nodeId} has no drain commands configured` };
    const out = await node.runOperatorCommand(cmds[which], { timeoutMs: cmds.timeoutS * 1000, signal });
    return { ok: out.ok, reason: auditText(cmds[which], out) };
  };
  return {
    startMiner,
    drainGpuNode: (nodeId, call) => operatorCommand(nodeId, "command", call?.signal),
    resumeGpuNode: (nodeId, call) => operatorCommand(nodeId, "resumeCommand", call?.signal),
    sleep: (id, call) => minerWrite(id, "sleep", undefined, call),
    wake: (id, call) => minerWrite(id, "wake", undefined, call),
    reboot: (id, call) => minerWrite(id, "reboot", undefined, call),
    locate: (id, seconds, call) => minerWrite(id, "locate", seconds, call),
    setPowerLimit: (id, watts, call) => minerWrite(id, "setPowerLimit", watts, call),
    // a miner's limit is restored by setting the value it had before the agent lowered it
    restorePowerLimit: (id, watts, call) => minerWrite(id, "setPowerLimit", watts, call),
    capGpu: (nodeId, index, watts, call) => gpuLimit({ nodeId, index }, watts, call?.signal),
    // uncapping to the default limit is a restore; a partial uncap sets the new limit (a clock
    // lock has no partial step: it holds until the uncap is whole)
    uncapGpu: async (nodeId, index, watts, call) => {
      const def = defaultLimitW(nodeId, index);
      const whole = def !== null && watts >= def;
      if (!whole && clockLockOf(nodeId) !== null)
        return { ok: true, reason: "clock lock held until the node is restored whole" };
      return gpuLimit({ nodeId, index }, whole ? null : watts, call?.signal);
    },
  };
}

interface DrainCommands {
  command: string;
  resumeCommand: string;
  timeoutS: number;
}

/** Longest command output kept in the audit entry (the outcome reason). */
const AUDIT_OUTPUT_CHARS = 400;

/** The ledger's outcome of a drain or resume: the command, its exit and what it printed. */
function auditText(command: string, out: OperatorCommandOutcome): string {
  const printed = [out.stdout.trim(), out.stderr.trim()].filter((x) => x !== "").join(" | ");
  const clipped = printed.length > AUDIT_OUTPUT_CHARS ? `${printed.slice(0, AUDIT_OUTPUT_CHARS)}…` : printed;
  const status = out.ok
    ? `exit 0 in ${Math.round(out.durationMs)} ms`
    : (out.reason ?? `exit ${out.exitCode ?? "?"}`);
  return `\`${command}\`: ${status}${clipped ? `; output: ${clipped}` : ""}`;
}
