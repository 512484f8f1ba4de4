// The loop's Actuator over the real drivers: miner writes go through the
// dialect driver (which confirms by reading back), GPU caps through the node
// (confirmed by enforced.power.limit). `ok` is a confirmed effect, never an ack.
import type { Miner } from "../../drivers/cgminer/miner.ts";
import type { GpuNode } from "../../drivers/nvidia/node.ts";
import type { MinerReading } from "../../drivers/types.ts";
import type { Actuator, ActuatorResult, OnSent } from "./loop.ts";

export function driverActuator(
  miners: ReadonlyMap<string, Miner>,
  gpuNodes: ReadonlyMap<string, GpuNode>,
  /** A GPU's default limit from the latest reading (no extra nvidia-smi run). */
  defaultLimitW: (nodeId: string, index: number) => number | null,
  /** The poller's latest reading of a miner when fresh enough to confirm against; null = read first. */
  freshReading: (minerId: string) => MinerReading | null = () => null,
): Actuator {
  const minerWrite = async (
    id: string,
    action: "sleep" | "wake" | "setPowerLimit" | "reboot",
    value: number | undefined,
    signal?: AbortSignal,
    onSent?: OnSent,
  ): Promise<ActuatorResult> => {
    const miner = miners.get(id);
    if (!miner) return { ok: false, reason: `no miner ${id}` };
    const out = await miner.write(action, value, signal, freshReading(id), onSent);
    return { ok: out.ok, reason: out.reason ?? "confirmed" };
  };
  const gpuLimit = async (nodeId: string, index: number, watts: number | null): Promise<ActuatorResult> => {
    const node = gpuNodes.get(nodeId);
    if (!node) return { ok: false, reason: `no GPU node ${nodeId}` };
    const out = watts === null ? await node.restorePowerLimit(index) : await node.setPowerLimit(index, watts);
    return { ok: out.ok, reason: out.reason ?? "confirmed" };
  };
  return {
    sleep: (id, signal, onSent) => minerWrite(id, "sleep", undefined, signal, onSent),
    wake: (id, signal, onSent) => minerWrite(id, "wake", undefined, signal, onSent),
    reboot: (id, signal, onSent) => minerWrite(id, "reboot", undefined, signal, onSent),
    setPowerLimit: (id, watts, signal, onSent) => minerWrite(id, "setPowerLimit", watts, signal, onSent),
    // a miner's limit is restored by setting the value it had before the agent lowered it
    restorePowerLimit: (id, watts, signal, onSent) => minerWrite(id, "setPowerLimit", watts, signal, onSent),
    capGpu: (nodeId, index, watts) => gpuLimit(nodeId, index, watts),
    // uncapping to the default limit is a restore; a partial uncap sets the new limit
    uncapGpu: (nodeId, index, watts) => {
      const def = defaultLimitW(nodeId, index);
      return gpuLimit(nodeId, index, def !== null && watts >= def ? null : watts);
    },
  };
}
