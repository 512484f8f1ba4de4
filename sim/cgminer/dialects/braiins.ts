// Simulated Braiins OS (BOSer) on the CGMiner API port (docs/research.md §2):
// VERSION[0] carries BOSer/BOSminer, summary uses MHS fields, `tunerstatus`
// gives ApproximateMinerPowerConsumption and PowerLimit, `temps`/`fans` the
// sensors, and `pause`/`resume` stop and restart hashing. The gRPC API (power
// target) is sim/braiins-grpc. Reply codes are the sim's own choice.
import type { MinerView } from "../../power-model.ts";
import { CODE, errorReply, Fixed, type Item, mhsWindows, type Reply } from "../replies.ts";
import type { SimDialect } from "./types.ts";

const BOSER_VERSION = "boser-buildroot 0.1.0-26ba61b9";
const BOSMINER_VERSION = "bosminer-plus 26.05";

const refusals = new Map<string, Set<string>>();

/** Makes the sim answer E to `command` from this miner (on = false lifts it). */
export function refuseBraiinsCommand(minerId: string, command: string, on = true): void {
  const set = refusals.get(minerId) ?? new Set<string>();
  if (on) set.add(command);
  else set.delete(command);
  refusals.set(minerId, set);
}

/** A success reply, with its section when it has one. */
const ok = (code: number, msg: string, section?: { name: string; items: Item[] }): Reply => ({
  severity: "S",
  code,
  msg,
  section: section
    ? {
        name: section.name,
        textPrefix: section.name === "SUMMARY" || section.name === "VERSION",
        items: section.items,
      }
    : undefined,
});

const _mhs = (ths: number) => new Fixed(ths * 1e6, 2);

function summary(v: MinerView): Reply {
  return ok(CODE.SUMM, "Summary", {
    name: "SUMMARY",
    items: [
      {
        Elapsed: v.uptimeS,
        ...mhsWindows(v, 2),
        Accepted: Math.floor(v.workTh / 281),
        Rejected: 0,
        "Hardware Errors": 0,
        "Best Share": 0,
      },
    ],
  });
}

/** The simulated braiins firmware on the CGMiner API port. */
export const braiinsSimDialect: SimDialect = {
  name: "braiins",
  description: BOSMINER_VERSION,
  handlers: {
    version: (c) =>
      ok(CODE.VERSION, "BOSer versions", {
        name: "VERSION",
        items: [{ BOSer: BOSER_VERSION, BOSminer: BOSMINER_VERSION, API: "3.7", Type: c.view.model.type }],
      }),
    summary: (c) => summary(c.view),
    tunerstatus: (c) =>
      ok(400, "Tuner Status", {
        name: "TUNERSTATUS",
        items: [
          {
            PowerLimit: Math.round(c.view.powerLimitW ?? c.view.model.nominalW),
            ApproximateMinerPowerConsumption: Math.round(c.view.powerW),
            ApproximateChainPowerConsumption: Math.round(c.view.powerW * 0.93),
            DynamicPowerScaling: "Disabled",
            TunerRunning: c.view.state === "hashing",
          },
        ],
      }),
    temps: (c) =>
      ok(401, `${c.view.boardTempsC.length} Temp(s)`, {
        name: "TEMPS",
        items: c.view.boardTempsC.map((t, i) => ({
          TEMPS: i,
          ID: 6 + i,
          Board: new Fixed(t, 1),
          Chip: new Fixed(c.view.chipTempsC[i] ?? t, 1),
        })),
      }),
    fans: (c) =>
      ok(402, `${c.view.fanRpm.length} Fan(s)`, {
        name: "FANS",
        items: c.view.fanRpm.map((rpm, i) => ({ FANS: i, ID: i, RPM: rpm, Speed: rpm > 0 ? 70 : 0 })),
      }),
    pause: (c) => {
      if (refusals.get(c.id)?.has("pause")) return errorReply(410, "Pause refused: miner busy");
      if (c.view.state === "faulted") return errorReply(410, "Pause failed: miner faulted");
      c.model.sleep(c.id);
      return ok(411, "Mining paused");
    },
    resume: (c) => {
      if (refusals.get(c.id)?.has("resume")) return errorReply(412, "Resume refused: miner busy");
      c.model.wake(c.id);
      return ok(413, "Mining resumed");
    },
  },
};
