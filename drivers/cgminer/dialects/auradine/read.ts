// Reading an Auradine unit. Neither API alone has it all (pyasic and asic-rs
// read both): the CGMiner-compatible API on 4028 (GCMiner) has the hashrate
// (`summary` MHS 5s), uptime, pools and per-board temperatures (`devs`); only
// the web API on 8080 has the sleep mode (`/mode`), the measured draw and the
// PSU's rated output (`/psu`), the power target, fans, chip temperatures,
// model and firmware version (`/ipreport`). Both are asked at once; every reply
// is checked against schema.ts before a field is used.
import { DriverError, type MinerReading, type PoolInfo } from "../../../types.ts";
import { CgminerClient } from "../../client.ts";
import type { DialectContext } from "../../driver.ts";
import type { Json } from "../../repair.ts";
import {
  DevsSection,
  type DriftContext,
  expectShape,
  FanReply,
  IpReport,
  ModeReply,
  PoolsSection,
  PsuReply,
  SummarySection,
  sleepOn,
  statusOf,
  statusOk,
  TemperatureReply,
} from "./schema.ts";
import { fluxRequest, knownVersion, targetOf, unitKey } from "./web.ts";

/** What 4028 says: hashrate, uptime, pools, hashboards. */
export interface ApiPart {
  hashrateThs: number;
  uptimeS: number;
  pools: PoolInfo[];
  boardTempsC: number[];
  /** Boards listed by `devs`, and how many of them are enabled and alive. */
  boards: number;
  workingBoards: number;
}

/** What the web API says: sleep mode, draw, target, range. */
export interface WebPart {
  sleep: boolean;
  mode: string;
  powerW: number;
  powerLimitW: number | null;
  maxPowerLimitW: number | null;
}

const drift = (ctx: DialectContext, what: string): DriftContext => ({
  what,
  version: knownVersion.get(unitKey(targetOf(ctx))) ?? null,
});

/**
 * 4028 commands as one join (cgminer API ≥ 3.1); a firmware that refuses the
 * join as a whole is asked each command on its own.
 */
async function ask(ctx: DialectContext, commands: string[]): Promise<Record<string, Json>> {
  const client = new CgminerClient(ctx.endpoint, ctx.exchange);
  try {
    return (await client.command(commands, undefined, ctx.signal)).replies;
  } catch (err) {
    if (commands.length === 1 || !(err instanceof DriverError) || err.code !== "WK_CGMINER_ERROR_STATUS")
      throw err;
  }
  const each = await Promise.all(
    commands.map(async (c) => {
      try {
        return (await client.command([c], undefined, ctx.signal)).replies[c] ?? null;
      } catch (err) {
        // one command refused alone (no pools, no devices) is that command's answer
        if (c !== "summary" && err instanceof DriverError && err.code === "WK_CGMINER_ERROR_STATUS")
          return null;
        throw err;
      }
    }),
  );
  return Object.fromEntries(commands.map((c, i) => [c, each[i] ?? null]));
}

/** `summary` (+ `pools`, `devs` for a full read) from 4028, checked. */
export async function readApi(ctx: DialectContext, full: boolean): Promise<ApiPart> {
  const commands = full ? ["summary", "pools", "devs"] : ["summary"];
  const replies = await ask(ctx, commands);
  const summary = expectShape(SummarySection, replies.summary, drift(ctx, "4028 summary")).SUMMARY[0]!;
  const out: ApiPart = {
    hashrateThs: Math.max(0, summary["MHS 5s"] / 1e6),
    uptimeS: summary.Elapsed,
    pools: [],
    boardTempsC: [],
    boards: 0,
    workingBoards: 0,
  };
  if (!full) return out;
  // an E to pools (none configured) or devs (no boards) is an answer, not drift
  const poolsStatus = statusOf(replies.pools);
  if (poolsStatus && statusOk(poolsStatus)) {
    out.pools = expectShape(PoolsSection, replies.pools, drift(ctx, "4028 pools")).POOLS.map((p) => ({
      url: p.URL,
      user: p.User,
      status: p.Status,
    }));
  }
  const devsStatus = statusOf(replies.devs);
  if (devsStatus && statusOk(devsStatus)) {
    const devs = expectShape(DevsSection, replies.devs, drift(ctx, "4028 devs")).DEVS;
    out.boards = devs.length;
    out.workingBoards = devs.filter((d) => d.Enabled && /alive/i.test(d.Status)).length;
    out.boardTempsC = devs.map((d) => d.Temperature).filter((t) => t > 0);
  }
  return out;
}

/** `/mode` and `/psu`: sleep mode, draw, target and the PSU's rated output. */
export async function readWeb(ctx: DialectContext): Promise<WebPart> {
  const [modeJson, psuJson] = await Promise.all([
    fluxRequest(ctx, { method: "GET", path: "/mode" }),
    fluxRequest(ctx, { method: "GET", path: "/psu" }),
  ]);
  const mode = expectShape(ModeReply, modeJson, drift(ctx, "GET /mode")).Mode[0]!;
  const psu = expectShape(PsuReply, psuJson, drift(ctx, "GET /psu")).PSU[0]!;
  const custom = mode.Mode.toLowerCase() === "custom";
  return {
    sleep: sleepOn(mode.Sleep),
    mode: mode.Mode,
    powerW: psu.PowerIn,
    powerLimitW: custom && typeof mode.Power === "number" && mode.Power > 0 ? mode.Power : null,
    maxPowerLimitW: psu.PoutMax !== undefined && psu.PoutMax > 0 ? psu.PoutMax : null,
  };
}

export interface Extras {
  model: string;
  version: string;
  fanRpm: number[];
  chipTempMaxC: number | null;
}

/** `/ipreport`, `/fan`, `/temperature`: model, version, fans, chip temperatures. */
export async function readExtras(ctx: DialectContext): Promise<Extras> {
  const [ipJson, fanJson, tempJson] = await Promise.all([
    fluxRequest(ctx, { method: "GET", path: "/ipreport" }),
    fluxRequest(ctx, { method: "GET", path: "/fan" }),
    fluxRequest(ctx, { method: "GET", path: "/temperature" }),
  ]);
  const report = expectShape(IpReport, ipJson, drift(ctx, "GET /ipreport")).IPReport[0]!;
  knownVersion.set(unitKey(targetOf(ctx)), report.version);
  const fans = expectShape(FanReply, fanJson, drift(ctx, "GET /fan")).Fan;
  const temps = expectShape(TemperatureReply, tempJson, drift(ctx, "GET /temperature")).Temperature;
  const chips = temps.flatMap((b) => (b.ChipTemp ?? []).map((c) => c.Temperature)).filter((c) => c > 0);
  return {
    model: report.model,
    version: report.version,
    fanRpm: fans.map((f) => f.Speed).filter((s) => s > 0),
    chipTempMaxC: chips.length > 0 ? Math.max(...chips) : null,
  };
}

/**
 * The state from both halves: sleep mode on is sleeping whatever the hashrate
 * says; off and not hashing is starting (the boards come up after a wake or a
 * reboot), or faulted when no pool is alive or no hashboard works.
 */
/** The parts of one read (`extras` only on a full one) and when it was taken. */
export interface ReadParts {
  at: number;
  api: ApiPart;
  web: WebPart;
  extras: Extras | null;
  full: boolean;
}

export function assemble({ at, api, web, extras, full }: ReadParts): MinerReading {
  let state: MinerReading["state"] = "hashing";
  let reason: string | null = null;
  const noPool = api.pools.length > 0 && !api.pools.some((p) => /alive/i.test(p.status ?? ""));
  if (web.sleep) {
    state = "sleeping";
    reason = "sleep mode on";
  } else if (full && api.boards > 0 && api.workingBoards === 0) {
    state = "faulted";
    reason = `no hashboard working (0 of ${api.boards} alive)`;
  } else if (api.hashrateThs === 0) {
    if (noPool) {
      state = "faulted";
      reason = "no pool alive";
    } else {
      state = "starting";
      reason = "sleep mode off, not hashing yet";
    }
  } else if (full && api.workingBoards < api.boards) {
    reason = `${api.boards - api.workingBoards} of ${api.boards} hashboards not working`;
  }
  return {
    at,
    state,
    reason,
    hashrateThs: api.hashrateThs,
    powerW: web.powerW,
    powerEstimated: false,
    powerLimitW: web.powerLimitW,
    // FluxOS reports no lower bound for a power target; the PSU's rated output is the upper one
    minPowerLimitW: null,
    maxPowerLimitW: web.maxPowerLimitW,
    boardTempsC: api.boardTempsC,
    chipTempMaxC: extras?.chipTempMaxC ?? null,
    fanRpm: extras?.fanRpm ?? [],
    pools: api.pools,
    uptimeS: api.uptimeS,
    firmware: extras ? `fluxos ${extras.version}` : null,
    model: extras?.model ?? null,
  };
}
