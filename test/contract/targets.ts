// The dialects the miner contract and `selftest` meet: how each one's simulator
// is started and how the agent reaches it. A new dialect adds one entry here.
import type { ContractTarget } from "./miner.ts";

export const TARGETS: ContractTarget[] = [
  {
    // stock cgminer on other hardware: the API on 4028 is read-only, nothing to declare
    dialect: "cgminer",
    splitsDetail: true,
    sim: { program: "cgminer" },
    capabilities: [],
    firmware: /cgminer/i,
  },
  {
    // Bitmain stock (bmminer): reads on 4028; sleep / normal / low-power, reboot and the
    // locate LED through the web CGI (Digest auth); a limit lands on the low-power step
    dialect: "antminer",
    splitsDetail: true,
    sim: { model: "antminer-s19j-pro", webPort: 8081 },
    endpoint: { webPort: 8081, credentials: { username: "root", password: "root" } },
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    limitW: 2600,
    firmware: /./,
  },
  {
    dialect: "luxos",
    splitsDetail: true,
    sim: { model: "antminer-s19j-pro" },
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    limitW: 2700,
    firmware: /^luxminer /,
  },
  {
    dialect: "braiins",
    splitsDetail: true,
    sim: { model: "antminer-s19j-pro" },
    endpoint: { grpcPort: 50051, credentials: { username: "root", password: "" } },
    capabilities: ["sleep", "wake", "setPowerLimit", "locate"],
    limitW: 2500,
    firmware: /bos|boser|braiins/i,
  },
  {
    dialect: "whatsminer",
    sim: { model: "whatsminer-m50s", whatsminer: { password: "contract-pw", rebootMs: 300 } },
    endpoint: { credentials: { username: null, password: "contract-pw" } },
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    limitW: 2800,
    firmware: /./,
  },
  {
    dialect: "avalon",
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    limitW: 2900,
    firmware: /./,
  },
  {
    // Proto rig (MDK API over HTTPS, self-signed): no CGMiner API at all
    dialect: "proto",
    // the rig ends a locate after the time asked, and reports no LED state
    locate: { endsAfter: "asked", readBack: false },
    sim: { webPort: 8443, proto: { tls: true, password: "contract-pw" } },
    endpoint: { webPort: 8443, credentials: { username: null, password: "contract-pw" } },
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    limitW: 3000,
    firmware: /^proto /,
  },
  {
    // ePIC UMC: HTTP on the API port (4028) itself, the password in each write's body
    dialect: "epic",
    sim: { model: "antminer-s19j-pro", epic: { password: "contract-pw", rebootMs: 300 } },
    endpoint: { credentials: { username: null, password: "contract-pw" } },
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    limitW: 2700,
    firmware: /^epic /,
  },
  {
    // Auradine FluxOS: reads on 4028 and the web API (8080, token), writes through the web API
    dialect: "auradine",
    sim: {
      model: "antminer-s19j-pro",
      webPort: 8080,
      auradine: { username: "admin", password: "contract-pw" },
    },
    endpoint: { webPort: 8080, credentials: { username: "admin", password: "contract-pw" } },
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    limitW: 2700,
    firmware: /fluxos/i,
  },
  {
    // ESP-Miner / AxeOS (Bitaxe): HTTP only, pause/resume from v2.14, no watt target
    dialect: "espminer",
    // identify: "Hi!" for the firmware's own 30 s, stated in its reply
    locate: { endsAfter: 30, readBack: false },
    sim: { webPort: 8082, espminer: { version: "v2.14.0", restartMs: 300 } },
    endpoint: { webPort: 8082 },
    capabilities: ["sleep", "wake", "reboot", "locate"],
    firmware: /^axeos /,
  },
  {
    // VNish (Antminer aftermarket): the web API (/api/v1, bearer from unlock), presets as steps
    dialect: "vnish",
    sim: { model: "antminer-s19-xp", webPort: 8083, vnish: { password: "contract-pw" } },
    endpoint: { webPort: 8083, credentials: { username: null, password: "contract-pw" } },
    capabilities: ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    limitW: 2800,
    firmware: /^vnish /,
  },
];
