// What the applier writes of an action before sending it (apply.ts): the plan's
// action with the device's draw, efficiency and prior limit from the snapshot,
// looked up by id once per tick.
import type { LedgerAction } from "../store/ledger.ts";
import { efficiencyJPerTh } from "./policy.ts";
import type { PlanAction, PlanSnapshot } from "./types.ts";

/** GPU caps: rows of a GPU, not of a miner. */
export const GPU_KINDS = new Set(["capGpu", "uncapGpu"]);

/** The ledger row of `a`, begun at `at`: the plan's action plus what its device read before. */
export function ledgerAction(index: SnapshotIndex, a: PlanAction, at: number): LedgerAction {
  // a locate moves no power: nothing of the miner's draw or limit belongs in its row
  if (a.kind === "locate") return { ...a, at };
  if (GPU_KINDS.has(a.kind)) {
    const g = index.gpuNodes.get(a.deviceId)?.gpus.find((x) => x.index === a.gpuIndex);
    return {
      ...a,
      at,
      beforeW: g?.powerW ?? null,
      priorLimitW: g ? (g.powerLimitW ?? g.defaultLimitW ?? g.maxLimitW) : null,
    };
  }
  const m = index.miners.get(a.deviceId);
  return {
    ...a,
    at,
    beforeW: m?.powerW ?? null,
    efficiencyJPerTh: m ? efficiencyJPerTh(m.powerW, m.hashrateThs) : null,
    priorLimitW: m ? (m.powerLimitW ?? m.powerW) : null,
  };
}

/** Devices whose first actions are written in one commit. */
const BEGIN_CHUNK = 512;

/**
 * The first action of each device of a tick, written a chunk of devices per commit when the
 * fan-out reaches the chunk: a fleet-wide shed pays a commit per chunk, not one per miner, and
 * its first commands do not wait for all the rows (20,000 took about 150 ms). A tick of one
 * device writes nothing here: its action begins alone.
 */
export class FirstActionRows {
  private readonly ids: Array<number | undefined> = [];

  /** `write`: the chunk's rows in one commit, their ids in order; null → each begins alone. */
  constructor(
    private readonly groups: readonly PlanAction[][],
    private readonly write: (chunk: PlanAction[][]) => number[] | null,
  ) {}

  /** The ledger id of device `i`'s first action, written by now; undefined → it begins alone. */
  idOf(i: number): number | undefined {
    if (this.groups.length < 2) return undefined;
    while (i >= this.ids.length) {
      const chunk = this.groups.slice(this.ids.length, this.ids.length + BEGIN_CHUNK);
      const ids = this.write(chunk);
      for (let k = 0; k < chunk.length; k++) this.ids.push(ids?.[k]);
    }
    return this.ids[i];
  }
}

/** The snapshot's devices by id: a fleet-wide shed looks up 5,000 miners, once each. */
export interface SnapshotIndex {
  miners: Map<string, PlanSnapshot["miners"][number]>;
  gpuNodes: Map<string, PlanSnapshot["gpuNodes"][number]>;
}

export function indexSnapshot(snapshot: PlanSnapshot): SnapshotIndex {
  return {
    miners: new Map(snapshot.miners.map((m) => [m.id, m])),
    gpuNodes: new Map(snapshot.gpuNodes.map((n) => [n.id, n])),
  };
}
