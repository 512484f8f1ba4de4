// The stock report commands of the simulated CGMiner API (version, summary,
// pools, devs, devdetails, stats, config) as bmminer (stock Antminer), cgminer
// 4.11 or bfgminer 5.5 print them, built from the power model's view of one
// miner. The reply model and its renderings are in ./render.ts (re-exported
// here, so dialects import replies from one place).
import type { MinerView } from "../power-model.ts";
import { CODE, errorReply, Fixed, type Item, type Reply } from "./render.ts";

export {
  CODE,
  errorReply,
  Fixed,
  type Item,
  type Reply,
  type ReplyContext,
  renderJoined,
  renderJson,
  renderText,
} from "./render.ts";

// --- the stock Antminer (bmminer) report commands --------------------------

/**
 * Which program answers: bmminer (stock Antminer: `GHS 5s`, `BMMiner` version
 * key), cgminer 4.11 (`MHS 5s`/`1m`/`5m`/`15m`, ASC devices) or bfgminer 5.5
 * (`MHS 20s`, PGA devices, its own name under `Miner`). Field sets as the real
 * programs print them (the bfgminer ones as recorded in test/fixtures).
 */
export type MinerProgram = "bmminer" | "cgminer" | "bfgminer";

export interface MinerFlavour {
  /** `stats` joins its two objects with `}{` (Antminer's invalid JSON). */
  statsQuirk: boolean;
  poolUser: string;
  /** Default bmminer. */
  program?: MinerProgram;
  /** Every pool reads Dead (the miner hashes on: work sent nowhere). */
  poolsDead?: boolean;
}

const CGMINER_VERSION = "4.11.1";
const POOL_URLS = [
  "stratum+tcp://btc.sim-pool.example:3333",
  "stratum+tcp://btc-eu.sim-pool.example:3333",
  "stratum+tcp://btc-us.sim-pool.example:443",
];

export const DESCRIPTION = `cgminer ${CGMINER_VERSION}`;

/** Share difficulty the sim's pool hands out; counters derive from the miner's work. */
const SHARE_DIFF = 65536;
/** TH of work per accepted share at SHARE_DIFF: diff × 2^32 hashes. */
const TH_PER_SHARE = (SHARE_DIFF * 2 ** 32) / 1e12;

function shares(v: MinerView) {
  const accepted = Math.floor(v.workTh / TH_PER_SHARE);
  const rejected = Math.floor(accepted / 1200);
  return { accepted, rejected, hw: Math.floor(accepted / 900) };
}

function ghs(ths: number): number {
  return Math.round(ths * 100_000) / 100;
}

const BFGMINER_VERSION = "5.5.0-34-g866fd36f";

export function versionReply(v: MinerView, f?: MinerFlavour): Reply {
  if (f?.program === "bfgminer") {
    return {
      severity: "S",
      code: CODE.VERSION,
      msg: "BFGMiner versions",
      section: {
        name: "VERSION",
        textPrefix: true,
        items: [{ Miner: `bfgminer ${BFGMINER_VERSION}`, CGMiner: BFGMINER_VERSION, API: "3.1" }],
      },
    };
  }
  if (f?.program === "cgminer") {
    return {
      severity: "S",
      code: CODE.VERSION,
      msg: "CGMiner versions",
      section: { name: "VERSION", textPrefix: true, items: [{ CGMiner: CGMINER_VERSION, API: "3.7" }] },
    };
  }
  return {
    severity: "S",
    code: CODE.VERSION,
    msg: "CGMiner versions",
    section: {
      name: "VERSION",
      textPrefix: true,
      items: [
        {
          BMMiner: CGMINER_VERSION,
          CGMiner: CGMINER_VERSION,
          API: "3.1",
          Miner: v.model.firmware.miner,
          CompileTime: v.model.firmware.compileTime,
          Type: v.model.type,
        },
      ],
    },
  };
}

/** cgminer's averaging windows of `summary` (MH/s with `decimals`), as most firmwares copy them. */
export function mhsWindows(v: MinerView, decimals: number): Item {
  const mhs = (ths: number) => new Fixed(ths * 1e6, decimals);
  return {
    "MHS av": mhs(v.avgHashrateThs),
    "MHS 5s": mhs(v.hashrateThs),
    "MHS 1m": mhs(v.hashrateThs),
    "MHS 5m": mhs(v.hashrateThs),
    "MHS 15m": mhs(v.hashrateThs),
  };
}

/** The hashrate fields of each program's `summary`, first in its row. */
function summaryRates(v: MinerView, program: MinerProgram): Item {
  const mhs = (ths: number) => new Fixed(ths * 1e6, 3);
  switch (program) {
    case "bfgminer":
      return { Algorithm: "sha256d", "MHS av": mhs(v.avgHashrateThs), "MHS 20s": mhs(v.hashrateThs) };
    case "cgminer":
      return mhsWindows(v, 3);
    case "bmminer":
      return {
        // bmminer sends the short average as a string and the long one as a number
        "GHS 5s": ghs(v.hashrateThs).toFixed(2),
        "GHS av": new Fixed(ghs(v.avgHashrateThs), 2),
        "GHS 30m": new Fixed(ghs(v.state === "hashing" && v.hashboards === "ok" ? v.expectedThs : 0), 2),
      };
  }
}

export function summaryReply(v: MinerView, f?: MinerFlavour): Reply {
  const s = shares(v);
  const elapsed = v.uptimeS;
  return {
    severity: "S",
    code: CODE.SUMM,
    msg: "Summary",
    section: {
      name: "SUMMARY",
      textPrefix: true,
      items: [
        {
          Elapsed: elapsed,
          ...summaryRates(v, f?.program ?? "bmminer"),
          "Found Blocks": 0,
          Getworks: Math.floor(elapsed / 30),
          Accepted: s.accepted,
          Rejected: s.rejected,
          "Hardware Errors": s.hw,
          Utility: new Fixed(elapsed > 0 ? (s.accepted * 60) / elapsed : 0, 2),
          Discarded: Math.floor(elapsed / 3),
          Stale: 0,
          "Get Failures": 0,
          "Local Work": Math.floor(elapsed * 6),
          "Remote Failures": 0,
          "Network Blocks": Math.floor(elapsed / 600),
          "Total MH": new Fixed(v.workTh * 1e6, 4),
          "Work Utility": new Fixed(elapsed > 0 ? (v.workTh * 1e12 * 60) / 2 ** 32 / elapsed : 0, 2),
          "Difficulty Accepted": new Fixed(s.accepted * SHARE_DIFF, 8),
          "Difficulty Rejected": new Fixed(s.rejected * SHARE_DIFF, 8),
          "Difficulty Stale": new Fixed(0, 8),
          "Best Share": s.accepted > 0 ? SHARE_DIFF * 40 + (s.accepted % 977) : 0,
          "Device Hardware%": new Fixed(s.accepted > 0 ? (s.hw * 100) / (s.accepted + s.hw) : 0, 4),
          "Device Rejected%": new Fixed(s.accepted > 0 ? (s.rejected * 100) / s.accepted : 0, 4),
          "Pool Rejected%": new Fixed(s.accepted > 0 ? (s.rejected * 100) / s.accepted : 0, 4),
          "Pool Stale%": new Fixed(0, 4),
          "Last getwork": 0,
        },
      ],
    },
  };
}

export function poolsReply(v: MinerView, f: MinerFlavour): Reply {
  const s = shares(v);
  const items: Item[] = POOL_URLS.map((url, i) => {
    const active = i === 0;
    return {
      POOL: i,
      URL: url,
      Status: f.poolsDead ? "Dead" : "Alive",
      Priority: i,
      Quota: 1,
      "Long Poll": "N",
      Getworks: active ? Math.floor(v.uptimeS / 30) : 0,
      Accepted: active ? s.accepted : 0,
      Rejected: active ? s.rejected : 0,
      Discarded: active ? Math.floor(v.uptimeS / 3) : 0,
      Stale: 0,
      "Get Failures": 0,
      "Remote Failures": 0,
      User: f.poolUser,
      "Last Share Time": active && v.state === "hashing" ? "0:00:04" : "0",
      Diff: "65.5K",
      "Diff1 Shares": 0,
      "Proxy Type": "",
      Proxy: "",
      "Difficulty Accepted": new Fixed(active ? s.accepted * SHARE_DIFF : 0, 8),
      "Difficulty Rejected": new Fixed(active ? s.rejected * SHARE_DIFF : 0, 8),
      "Difficulty Stale": new Fixed(0, 8),
      "Last Share Difficulty": new Fixed(active ? SHARE_DIFF : 0, 8),
      "Has Stratum": true,
      "Stratum Active": active,
      "Stratum URL": url.replace(/^stratum\+tcp:\/\//, "").replace(/:\d+$/, ""),
      "Has GBT": false,
      "Best Share": active && s.accepted > 0 ? SHARE_DIFF * 40 : 0,
      "Pool Rejected%": new Fixed(active && s.accepted > 0 ? (s.rejected * 100) / s.accepted : 0, 4),
      "Pool Stale%": new Fixed(0, 4),
    };
  });
  return {
    severity: "S",
    code: CODE.POOL,
    msg: `${items.length} Pool(s)`,
    section: { name: "POOLS", textPrefix: false, items },
  };
}

export function devsReply(v: MinerView, f?: MinerFlavour): Reply {
  const kind = f?.program === "bfgminer" ? "PGA" : "ASC";
  if (v.hashboards === "none") return errorReply(CODE.NODEVS, `No ${kind}s`);
  const items: Item[] = v.chainRatesThs.map((rate, i) => ({
    [kind]: i,
    Name: f?.program === "bfgminer" ? "BFL" : "BTM_SOC",
    ID: i,
    Enabled: v.hashboards === "disabled" ? "N" : "Y",
    Status: v.state === "faulted" || v.hashboards === "dead" || v.deadChains.includes(i) ? "Dead" : "Alive",
    Temperature: new Fixed(v.chipTempsC[i] ?? 0, 2),
    "MHS av": new Fixed((v.avgHashrateThs / v.chainRatesThs.length) * 1e6, 2),
    "MHS 5s": new Fixed(rate * 1e6, 2),
    "MHS 1m": new Fixed(rate * 1e6, 2),
    "MHS 5m": new Fixed(rate * 1e6, 2),
    "MHS 15m": new Fixed(rate * 1e6, 2),
    Accepted: Math.floor(shares(v).accepted / v.chainRatesThs.length),
    Rejected: 0,
    "Hardware Errors": 0,
    Utility: new Fixed(0, 2),
    "Last Share Pool": 0,
    "Last Share Time": 0,
    "Total MH": new Fixed((v.workTh * 1e6) / v.chainRatesThs.length, 4),
    "Diff1 Work": 0,
    "Difficulty Accepted": new Fixed(0, 8),
    "Difficulty Rejected": new Fixed(0, 8),
    "Last Share Difficulty": new Fixed(0, 8),
    "No Device": false,
    "Last Valid Work": 0,
    "Device Hardware%": new Fixed(0, 4),
    "Device Rejected%": new Fixed(0, 4),
    "Device Elapsed": v.uptimeS,
  }));
  return {
    severity: "S",
    code: CODE.DEVS,
    msg: `${items.length} ${kind}(s)`,
    section: { name: "DEVS", textPrefix: false, items },
  };
}

export function devdetailsReply(v: MinerView): Reply {
  const items: Item[] = v.chainRatesThs.map((_, i) => ({
    DEVDETAILS: i,
    Name: "BTM_SOC",
    ID: i,
    Driver: "bitmain_soc",
    Kernel: "",
    Model: v.model.type,
    "Device Path": "",
  }));
  return {
    severity: "S",
    code: CODE.DEVDETAILS,
    msg: "Device Details",
    section: { name: "DEVDETAILS", textPrefix: false, items },
  };
}

export function statsReply(v: MinerView, f: MinerFlavour): Reply {
  const ver = versionReply(v).section!.items[0]!;
  const m = v.model;
  const st: Item = {
    STATS: 0,
    ID: "BTM_SOC0",
    Elapsed: v.uptimeS,
    Calls: 0,
    Wait: new Fixed(0, 6),
    Max: new Fixed(0, 6),
    Min: new Fixed(99999999, 6),
    "GHS 5s": ghs(v.hashrateThs).toFixed(2),
    "GHS av": new Fixed(ghs(v.avgHashrateThs), 2),
    miner_count: m.chains,
    frequency: "",
    fan_num: m.fans,
  };
  v.fanRpm.forEach((rpm, i) => {
    st[`fan${i + 1}`] = rpm;
  });
  st.temp_num = m.chains;
  // Antminer numbering: temp{n} chip, temp2_{n} PCB (docs/research.md §3); chains from 1
  v.chipTempsC.forEach((t, i) => {
    st[`temp${i + 1}`] = t;
  });
  v.boardTempsC.forEach((t, i) => {
    st[`temp2_${i + 1}`] = t;
  });
  v.boardTempsC.forEach((t, i) => {
    st[`temp_pcb${i + 1}`] = `${t}-${t}-${t + 2}-${t + 2}`;
  });
  v.chipTempsC.forEach((t, i) => {
    st[`temp_chip${i + 1}`] = `${t}-${t}-${t + 3}-${t + 3}`;
  });
  st.total_rateideal = new Fixed(ghs(v.expectedThs), 2);
  st.rate_unit = "GH";
  st.total_freqavg = new Fixed(v.state === "hashing" ? 500 : 0, 2);
  st.total_acn = m.chains * m.chipsPerChain;
  st.total_rate = new Fixed(ghs(v.hashrateThs), 2);
  const chipsOk = v.state === "hashing" || v.state === "starting";
  v.chainRatesThs.forEach((rate, i) => {
    const n = i + 1;
    st[`chain_rateideal${n}`] = new Fixed(ghs(v.expectedThs / m.chains), 2);
    const chainOk = chipsOk && !v.deadChains.includes(i);
    st[`chain_acn${n}`] = chainOk ? m.chipsPerChain : 0;
    st[`chain_acs${n}`] = chainOk ? " oooooooo".repeat(Math.ceil(m.chipsPerChain / 8)) : "";
    st[`chain_hw${n}`] = 0;
    st[`chain_rate${n}`] = ghs(rate).toFixed(2);
  });
  st.miner_version = m.firmware.miner;
  st.miner_id = `sim${v.id}`.slice(0, 16);
  // some firmwares repeat the model here; cheap to include and helps detection
  st.Type = m.type;
  return {
    severity: "S",
    code: CODE.MINESTATS,
    msg: "CGMiner stats",
    section: { name: "STATS", textPrefix: false, items: [ver, st], brokenJoin: f.statsQuirk },
  };
}

export function configReply(v: MinerView): Reply {
  return {
    severity: "S",
    code: CODE.MINECONFIG,
    msg: "CGMiner config",
    section: {
      name: "CONFIG",
      textPrefix: true,
      items: [
        {
          "ASC Count": v.chainRatesThs.length,
          "PGA Count": 0,
          "Pool Count": POOL_URLS.length,
          Strategy: "Failover",
          "Log Interval": 5,
          "Device Code": "",
          OS: "Linux",
          Hotplug: "None",
        },
      ],
    },
  };
}
