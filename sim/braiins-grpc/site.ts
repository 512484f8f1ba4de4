// Braiins pieces of the simulated site (called from sim/site.ts): a gRPC API
// listener (default 50051) on the host of every miner on the braiins dialect.
// Two Braiins miners sharing a host and gRPC port cannot both listen: the first
// gets the API and the others are logged and skipped.
import type { Logger } from "pino";
import type { PowerModel } from "../power-model.ts";
import { type BraiinsGrpcSim, type BraiinsGrpcSimMiner, startBraiinsGrpcSim } from "./server.ts";

export type BraiinsSiteSpec = Omit<BraiinsGrpcSimMiner, "id" | "host">;

export async function startBraiinsSiteSims(
  model: PowerModel,
  miners: ReadonlyArray<{ id: string; host: string; dialect?: string; braiins?: BraiinsSiteSpec }>,
  logger?: Logger,
): Promise<BraiinsGrpcSim> {
  const taken = new Set<string>();
  const specs: BraiinsGrpcSimMiner[] = [];
  for (const m of miners) {
    if (m.dialect !== "braiins") continue;
    const spec: BraiinsGrpcSimMiner = { ...m.braiins, id: m.id, host: m.host };
    const key = `${m.host}:${spec.port ?? 50051}`;
    if (spec.port !== 0 && taken.has(key)) {
      logger?.warn({ miner: m.id, at: key }, "braiins gRPC port already taken on this host; skipped");
      continue;
    }
    taken.add(key);
    specs.push(spec);
  }
  return startBraiinsGrpcSim({ model, miners: specs, logger });
}
