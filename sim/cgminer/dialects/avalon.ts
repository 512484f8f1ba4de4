// Simulated Canaan Avalon on the CGMiner API port (docs/research.md §2):
// VERSION[0] has PROD/MODEL ("AvalonMiner 1466"), summary uses MHS fields, and
// `estats`/`stats` pack the hardware fields into `"MM ID0":"Ver[…] WALLPOWER[…]
// Fan1[…] SoftOFF[0] WORKLEVEL[2] …"`. `ascset` handles `0,softoff,1:<ts>`,
// `0,softon,1:<ts>` (applied at once, not at the timestamp, so tests stay short),
// `0,worklevel,set,<0|1|2>` (levels draw AVALON_SIM_LEVEL_SHARE of nominal) and
// `0,reboot,0`, `0,led,1-1` / `0,led,1-0` (the locate LED, reported as Led[1] /
// Led[0] and on until told; the reply "ASC 0 set OK" as pyasic and asic-rs check).
// Anything else answers E Code 120. The physics are those of the
// power model's unit (Avalon models are not in sim/models.ts). WORKLEVEL[] is
// our assumption: the capture we have shows WORKMODE[] only.
import type { MinerView, PowerModel } from "../../power-model.ts";
import { CODE, errorReply, Fixed, type Item, type Reply } from "../replies.ts";
import type { SimCall, SimDialect } from "./types.ts";

const AVALON_SIM_LEVEL_SHARE: readonly number[] = [0.7, 0.85, 1];
const FIRMWARE = "24102401_25462b2_9ddf522";
const REBOOT_MS = 300;
const ASCSET_OK = 119;
const ASCSET_ERR = 120;

const refusals = new Map<string, Set<string>>();

/** Makes the sim answer E to `ascset` options such as "softoff" or "worklevel" for this miner. */
export function refuseAvalonOption(minerId: string, option: string, on = true): void {
  const set = refusals.get(minerId) ?? new Set<string>();
  if (on) set.add(option);
  else set.delete(option);
  refusals.set(minerId, set);
}

/** A success reply, with its section when it has one. */
const ok = (
  code: number,
  msg: string,
  section?: { name: string; items: Item[]; textPrefix?: boolean },
): Reply => ({
  severity: "S",
  code,
  msg,
  section: section
    ? { name: section.name, textPrefix: section.textPrefix ?? false, items: section.items }
    : undefined,
});

const levelOf = (c: { state: Map<string, unknown> }) => (c.state.get("worklevel") as number | undefined) ?? 2;

/** The packed `MM ID0` string of one unit. */
function packedMmId(v: MinerView, level: number, led = false): string {
  const ghs = (ths: number) => (ths * 1000).toFixed(2);
  const on = v.state === "hashing" || v.state === "starting";
  const fields: Array<[string, string]> = [
    ["Ver", `1466-${FIRMWARE}`],
    ["DNA", "020100008c699117"],
    ["SYSTEMSTATU", `Work: ${on ? "In Work" : "In Idle"}, Hash Board: ${v.model.chains} `],
    ["Elapsed", String(v.uptimeS)],
    ["Temp", "27"],
    ["TMax", String(Math.max(0, ...v.chipTempsC))],
    ["TAvg", String(Math.round(v.chipTempsC.reduce((a, b) => a + b, 0) / Math.max(1, v.chipTempsC.length)))],
  ];
  v.fanRpm.slice(0, 2).forEach((rpm, i) => {
    fields.push([`Fan${i + 1}`, String(rpm)]);
  });
  fields.push(
    ["FanR", `${on ? 49 : 10}%`],
    ["WALLPOWER", String(Math.round(v.powerW))],
    ["GHSspd", ghs(v.hashrateThs)],
    ["GHSmm", ghs(on ? v.expectedThs : 0)],
    ["GHSavg", ghs(v.avgHashrateThs)],
    ["Led", led ? "1" : "0"],
    ["MGHS", v.chainRatesThs.map((r) => ghs(r)).join(" ")],
    ["MTmax", v.chipTempsC.join(" ")],
    ["MTavg", v.chipTempsC.map((t) => t - 7).join(" ")],
    ["SoftOFF", v.state === "sleeping" ? "1" : "0"],
    ["MPO", String(Math.round(v.model.nominalW))],
    ["WORKMODE", "1"],
    ["WORKLEVEL", String(level)],
  );
  return fields.map(([k, val]) => `${k}[${val}]`).join(" ");
}

function estats(c: SimCall): Reply {
  return ok(CODE.MINESTATS, "CGMiner stats", {
    name: "STATS",
    items: [
      {
        STATS: 0,
        ID: "AVA100",
        Elapsed: c.view.uptimeS,
        Calls: 0,
        Wait: new Fixed(0, 6),
        "MM ID0": packedMmId(c.view, levelOf(c), c.model.leds.isOn(c.id)),
        "MM Count": 1,
        "Smart Speed": 1,
      },
    ],
  });
}

function reboot(model: PowerModel, id: string): void {
  // fault after the reply has left (faulting closes the listener and its sockets)
  const t1 = setTimeout(() => {
    try {
      model.setFaulted(id, true);
    } catch {
      return; // miner gone
    }
    setTimeout(() => {
      try {
        model.setFaulted(id, false);
      } catch {
        // miner gone
      }
    }, REBOOT_MS).unref();
  }, 50);
  t1.unref();
}

function ascset(c: SimCall): Reply {
  const [dev, option = "", ...rest] = c.param.split(",").map((s) => s.trim());
  if (dev !== "0") return errorReply(ASCSET_ERR, `Invalid ASC id ${dev ?? ""}`);
  if (refusals.get(c.id)?.has(option)) return errorReply(ASCSET_ERR, `ASC 0 set failed: ${option} refused`);
  switch (option) {
    case "softoff":
    case "softon": {
      if (!/^1:\d+$/.test(rest[0] ?? ""))
        return errorReply(ASCSET_ERR, `ASC 0 set failed: bad ${option} time`);
      if (option === "softoff") c.model.sleep(c.id);
      else c.model.wake(c.id);
      return ok(ASCSET_OK, `ASC 0 set OK: ${option}`);
    }
    case "worklevel": {
      const level = Number(rest[1]);
      if (rest[0] !== "set" || !Number.isInteger(level) || AVALON_SIM_LEVEL_SHARE[level] === undefined) {
        return errorReply(ASCSET_ERR, "ASC 0 set failed: worklevel must be set,0|1|2");
      }
      c.state.set("worklevel", level);
      const share = AVALON_SIM_LEVEL_SHARE[level]!;
      c.model.setPowerLimit(c.id, share >= 1 ? null : Math.round(c.view.model.nominalW * share));
      return ok(ASCSET_OK, `ASC 0 set OK: worklevel ${level}`);
    }
    case "reboot":
      reboot(c.model, c.id);
      return ok(ASCSET_OK, "ASC 0 set OK: reboot");
    case "led": {
      const m = /^1-([01])$/.exec(rest[0] ?? "");
      if (!m) return errorReply(ASCSET_ERR, "ASC 0 set failed: led must be 1-0|1-1");
      if (m[1] === "1") c.model.leds.on(c.id);
      else c.model.leds.off(c.id);
      return ok(ASCSET_OK, "ASC 0 set OK");
    }
    default:
      return errorReply(ASCSET_ERR, `ASC 0 set failed: unknown option '${option}'`);
  }
}

const mhs = (ths: number) => new Fixed(ths * 1e6, 2);

/** The simulated avalon firmware on the CGMiner API port. */
export const avalonSimDialect: SimDialect = {
  name: "avalon",
  handlers: {
    version: () =>
      ok(CODE.VERSION, "CGMiner versions", {
        name: "VERSION",
        items: [
          {
            CGMiner: "4.11.1",
            API: "3.7",
            STM8: "20.08.01",
            PROD: "AvalonMiner 1466",
            MODEL: "1466",
            HWTYPE: "MM4v2_X3",
            SWTYPE: "MM319",
            VERSION: FIRMWARE,
          },
        ],
        textPrefix: true,
      }),
    summary: (c) =>
      ok(CODE.SUMM, "Summary", {
        name: "SUMMARY",
        items: [
          {
            Elapsed: c.view.uptimeS,
            "MHS av": mhs(c.view.avgHashrateThs),
            "MHS 30s": mhs(c.view.hashrateThs),
            "MHS 1m": mhs(c.view.hashrateThs),
            "MHS 5m": mhs(c.view.hashrateThs),
            "MHS 15m": mhs(c.view.hashrateThs),
            Accepted: Math.floor(c.view.workTh / 281),
            Rejected: 0,
            "Hardware Errors": 0,
          },
        ],
        textPrefix: true,
      }),
    estats,
    stats: estats,
    ascset,
  },
};
