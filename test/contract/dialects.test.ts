// The miner contract (test/contract/miner.ts) run against every registered
// dialect's simulator, each on its own addresses in this file's block 127.136.
// A new dialect adds one entry here (its checks per dialect are in the README).
import { type ContractTarget, minerContract } from "./miner.ts";

const TARGETS: ContractTarget[] = [
  {
    // stock cgminer/bmminer: reads on 4028, sleep and wake through the Antminer web CGI
    dialect: "cgminer",
    site: { antminerWeb: { port: 8081 } },
    endpoint: { webPort: 8081, credentials: { username: "root", password: "root" } },
    capabilities: ["sleep", "wake"],
    firmware: /./,
  },
  {
    dialect: "luxos",
    sim: { model: "antminer-s19j-pro" },
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot"],
    limitW: 2700,
    firmware: /^luxminer /,
  },
  {
    dialect: "braiins",
    sim: { model: "antminer-s19j-pro" },
    endpoint: { grpcPort: 50051, credentials: { username: "root", password: "" } },
    capabilities: ["sleep", "wake", "setPowerLimit"],
    limitW: 2500,
    firmware: /bos|boser|braiins/i,
  },
  {
    dialect: "whatsminer",
    sim: { model: "whatsminer-m50s", whatsminer: { password: "contract-pw", rebootMs: 300 } },
    endpoint: { credentials: { username: null, password: "contract-pw" } },
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot"],
    limitW: 2800,
    firmware: /./,
  },
  {
    dialect: "avalon",
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot"],
    limitW: 2900,
    firmware: /./,
  },
];

for (const [i, t] of TARGETS.entries()) minerContract(t, 136, i + 1);
