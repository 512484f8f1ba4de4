// Simulated Auradine FluxOS on the CGMiner API port: GCMiner, a cgminer
// derivative (docs/research.md §2, Auradine FluxOS). Field sets follow replies
// recorded from real units (asic-rs test fixtures): `version` has
// VERSION[0] {API, GCMiner} and a STATUS Description "GCMiner-<build>";
// `summary` reports MHS figures and Elapsed as numbers; `devs` rows carry ID
// from 1, `Enabled` as a boolean, `Status`, `Temperature`, `MHS 5s`;
// `devdetails` names the model. The 4028 API is read-only here: control goes
// through the web API (sim/auradine/server.ts).
import type { MinerView } from "../../power-model.ts";
import { Fixed, type Item, type Reply } from "../replies.ts";
import type { SimDialect } from "./types.ts";

const GCMINER_BUILD = "2024-06.11";
const DESCRIPTION = `GCMiner-${GCMINER_BUILD}-d37c5dd4a7f8e4837e63dc99e577620cb5e9361d`;

/** The model name FluxOS reports per simulated miner (set by sim/auradine/server.ts). */
export const auradineModelNames = new Map<string, string>();
const modelName = (c: { id: string }) => auradineModelNames.get(c.id) ?? "AT2880";

/** A success reply with its section (`name`: SUMMARY, DEVS, …). */
const ok = (code: number, msg: string, { name, items }: { name: string; items: Item[] }): Reply => ({
  severity: "S",
  code,
  msg,
  section: { name, textPrefix: name === "SUMMARY" || name === "VERSION", items },
});

const mhs = (ths: number) => new Fixed(ths * 1e6, 3);
const mining = (v: MinerView) => v.state === "hashing" && v.hashboards === "ok";

function summary(v: MinerView): Reply {
  const accepted = Math.floor(v.workTh / 281);
  return ok(11, "Summary", {
    name: "SUMMARY",
    items: [
      {
        Accepted: accepted,
        "Difficulty Accepted": accepted * 65536,
        "Difficulty Rejected": 0,
        Elapsed: v.uptimeS,
        "Hardware Errors": 0,
        "Last getwork": 0,
        "MHS 15m": mhs(v.hashrateThs),
        "MHS 1m": mhs(v.hashrateThs),
        "MHS 5m": mhs(v.hashrateThs),
        "MHS 5s": mhs(v.hashrateThs),
        "MHS av": mhs(v.avgHashrateThs),
        Rejected: 0,
        "Total MH": new Fixed(v.workTh * 1e6, 0),
        Utility: new Fixed(v.uptimeS > 0 ? (accepted * 60) / v.uptimeS : 0, 4),
      },
    ],
  });
}

function devs(v: MinerView): Reply {
  const items: Item[] = v.chainRatesThs.map((rate, i) => ({
    DEV: i + 1,
    Enabled: v.hashboards !== "disabled",
    ID: i + 1,
    "MHS 5s": mhs(mining(v) ? rate : 0),
    Name: "ASICBoard",
    Status: v.hashboards === "dead" ? "Dead" : "Alive",
    Temperature: new Fixed(v.boardTempsC[i] ?? 0, 2),
  }));
  return ok(9, `${items.length} Dev(s)`, { name: "DEVS", items: items });
}

function pools(c: { id: string; view: MinerView }): Reply {
  const urls = ["stratum+tcp://btc.sim-pool.example:3333", "stratum+tcp://btc-eu.sim-pool.example:3333"];
  const items: Item[] = urls.map((url, i) => ({
    Accepted: i === 0 ? Math.floor(c.view.workTh / 281) : 0,
    POOL: i,
    Priority: i,
    Quota: 1,
    Rejected: 0,
    Status: "Alive",
    "Stratum Active": i === 0,
    URL: url,
    User: `wattkeeper.${c.id}`,
  }));
  return ok(7, `${items.length} Pool(s)`, { name: "POOLS", items: items });
}

/** The simulated auradine firmware on the CGMiner API port. */
export const auradineSimDialect: SimDialect = {
  name: "auradine",
  description: DESCRIPTION,
  handlers: {
    version: () =>
      ok(22, "GCMiner versions", { name: "VERSION", items: [{ API: "1.0", GCMiner: GCMINER_BUILD }] }),
    summary: (c) => summary(c.view),
    devs: (c) => devs(c.view),
    pools: (c) => pools(c),
    devdetails: (c) =>
      ok(69, "Device Details", {
        name: "DEVDETAILS",
        items: c.view.chainRatesThs.map((_, i) => ({
          DEVDETAILS: i,
          Driver: "gcminer",
          ID: i + 1,
          Model: modelName(c),
          Name: "ASICBoard",
        })),
      }),
  },
};
