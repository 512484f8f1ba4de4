// Whatsminer readings → MinerReading. API v2 (plaintext on 4028) uses its own
// cgminer-like field names (`MHS 1m`, `Power`, `Power Limit`, `Fan Speed In`…)
// and a `status` command whose STATUS is a string and Msg an object carrying
// `mineroff`. API v3 (4433) answers `{code, when, msg, desc}` with dashed names
// (`hash-realtime` in TH/s, `power-realtime`, `power-limit`). Every field is
// optional and read through toNumber().
import type { MinerReading, MinerState, PoolInfo } from "../../../types.ts";
import { boardsFromDevs } from "../../boards.ts";
import { rows, toNumber } from "../../normalize.ts";
import { idleState } from "../../reading.ts";
import type { Json } from "../../repair.ts";

type Obj = Record<string, Json>;
const isObj = (v: Json | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function text(v: Json | undefined): string | null {
  if (typeof v === "string") return v.trim() === "" ? null : v.trim();
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return null;
}

/** `"true"`/`true`/`1` → true, `"false"`/`false`/`0` → false, else null. */
function toBool(v: Json | undefined): boolean | null {
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "string") {
    const t = v.trim().toLowerCase();
    if (t === "true" || t === "1" || t === "yes") return true;
    if (t === "false" || t === "0" || t === "no") return false;
  }
  return null;
}

/** A v2 reply whose STATUS is a string (`get_token`, `status`, `get_version`, write replies). */
export function flatStatus(
  reply: Json | undefined,
): { letter: string; code: number | null; msg: Json } | null {
  if (!isObj(reply)) return null;
  const st = reply.STATUS;
  if (typeof st === "string") return { letter: st, code: toNumber(reply.Code), msg: reply.Msg ?? null };
  // cgminer-style envelope (a plain error to a command we expected flat)
  const row = rows(reply, "STATUS")[0];
  if (row) return { letter: text(row.STATUS) ?? "?", code: toNumber(row.Code), msg: row.Msg ?? null };
  return null;
}

const positive = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x !== null && x > 0);

function maxOrNull(xs: number[]): number | null {
  return xs.length === 0 ? null : Math.max(...xs);
}

export interface V2Identity {
  firmware: string | null;
  model: string | null;
}

export interface V2ReadInput {
  at: number;
  summary: Json | undefined;
  pools?: Json;
  devs?: Json;
  /** The `status` reply (null when it failed or the firmware lacks it). */
  status?: Json;
  identity?: V2Identity | null;
}

/** The hashrate a v2 summary reports, in TH/s: `MHS 1m` first, then the other short averages. */
function v2HashrateThs(summary: Obj | undefined): number | null {
  if (!summary) return null;
  for (const f of ["MHS 1m", "MHS 5s", "MHS 5m", "MHS av"]) {
    const v = toNumber(summary[f]);
    if (v !== null) return Math.max(0, v / 1e6);
  }
  return null;
}

/** `Msg.mineroff` of a v2 `status` reply: true when powered off through the API. */
function v2MinerOff(status: Json | undefined): boolean | null {
  const st = flatStatus(status);
  if (!st || !isObj(st.msg)) return null;
  return toBool(st.msg.mineroff);
}

export function normalizeV2(input: V2ReadInput): MinerReading {
  const summary = rows(input.summary, "SUMMARY")[0];
  const devs = rows(input.devs, "DEVS");
  const pools: PoolInfo[] = rows(input.pools, "POOLS").map((p) => ({
    url: text(p.URL),
    user: text(p.User),
    status: text(p.Status),
  }));
  const ths = v2HashrateThs(summary);
  const uptimeS = toNumber(summary?.Elapsed) ?? toNumber(summary?.Uptime);
  const mineroff = v2MinerOff(input.status);
  const summaryDesc = text(rows(input.summary, "STATUS")[0]?.Description);

  let state: MinerState = "hashing";
  let reason: string | null = null;
  if (mineroff === true) {
    state = "sleeping";
    reason = "mineroff: hashboards powered off";
  } else if (ths === null) {
    state = "faulted";
    reason = "no hashrate in summary";
  } else if (ths === 0) {
    // powered on (mineroff false) but not hashing yet: the boards are initialising after power_on or a reboot
    ({ state, reason } = idleState(pools, uptimeS, mineroff === false));
  }

  return {
    at: input.at,
    state,
    reason,
    hashrateThs: ths,
    powerW: toNumber(summary?.Power),
    powerEstimated: false,
    powerLimitW: toNumber(summary?.["Power Limit"]),
    boardTempsC: positive(devs.map((d) => toNumber(d.Temperature))),
    chipTempMaxC: maxOrNull(
      positive([toNumber(summary?.["Chip Temp Max"]), ...devs.map((d) => toNumber(d["Chip Temp Max"]))]),
    ),
    fanRpm: positive([toNumber(summary?.["Fan Speed In"]), toNumber(summary?.["Fan Speed Out"])]),
    boards: boardsFromDevs(devs),
    pools,
    uptimeS,
    firmware: input.identity?.firmware ?? summaryDesc,
    model: input.identity?.model ?? null,
  };
}

/** The `msg` of a v3 reply when `code` is 0, else null. */
export function v3Msg(reply: Json | undefined): Obj | null {
  if (!isObj(reply) || toNumber(reply.code) !== 0) return null;
  return isObj(reply.msg) ? reply.msg : null;
}

export interface V3ReadInput {
  at: number;
  /** `get.miner.status` with param `summary`. */
  status: Json | undefined;
  /** `get.device.info` (all sections). */
  device?: Json;
}

export function normalizeV3(input: V3ReadInput): MinerReading {
  const msg = v3Msg(input.status);
  const s = msg && isObj(msg.summary) ? msg.summary : undefined;
  const dev = v3Msg(input.device);
  const miner = dev && isObj(dev.miner) ? dev.miner : undefined;
  const system = dev && isObj(dev.system) ? dev.system : undefined;
  const ths = s ? toNumber(s["hash-realtime"]) : null;
  const working = miner ? toBool(miner.working) : null;
  const uptimeS = s ? toNumber(s.elapsed) : null;

  let state: MinerState = "hashing";
  let reason: string | null = null;
  if (working === false) {
    state = "sleeping";
    reason = "miner service stopped";
  } else if (ths === null) {
    state = "faulted";
    reason = "no hash-realtime in get.miner.status";
  } else if (ths <= 0) {
    state = "starting";
    reason = "hashboards starting";
  }
  return {
    at: input.at,
    state,
    reason,
    hashrateThs: ths === null ? null : Math.max(0, ths),
    powerW: s ? toNumber(s["power-realtime"]) : null,
    powerEstimated: false,
    powerLimitW: s ? toNumber(s["power-limit"]) : null,
    boardTempsC: [],
    chipTempMaxC: s ? toNumber(s["chip-temp-max"]) : null,
    fanRpm: s ? positive([toNumber(s["fan-speed-in"]), toNumber(s["fan-speed-out"])]) : [],
    pools: [],
    uptimeS,
    firmware: system ? text(system.fwversion) : null,
    model: miner ? text(miner.type) : null,
  };
}
