// The miner contract (test/contract/miner.ts) run against every registered
// dialect's simulator, each on its own addresses in this file's block 127.136.
// The dialects are listed in targets.ts (the checks per dialect are in the README).
import { minerContract } from "./miner.ts";
import { TARGETS } from "./targets.ts";

for (const [i, t] of TARGETS.entries()) minerContract(t, 136, i + 1);
