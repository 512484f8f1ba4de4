// Canaan Avalon (A12xx and later): plain cgminer API on 4028, control through
// `ascset` (docs/research.md §2):
//   sleep   `ascset|0,softoff,1:<epoch+5>`   wake `ascset|0,softon,1:<epoch+5>`
//   power   `ascset|0,worklevel,set,<0|1|2>` reboot `ascset|0,reboot,0`
//   locate  `ascset|0,led,1-1` on, `ascset|0,led,1-0` off (pyasic and asic-rs, both
//           checking for the reply "ASC 0 set OK"), read back as estats `Led[1]`
//           (pyasic's fault light; asic-rs reads the same field); on until told
// sent as JSON {"command":"ascset","parameter":"0,softoff,1:<ts>"}. The unit acts
// at the timestamp, a few seconds after the reply.
//
// Reads: version (PROD/MODEL), summary (MHS 1m), pools, and `estats`, whose
// STATS[0] packs the interesting fields into strings, `"MM ID0":"… WALLPOWER[3731]
// Fan1[4275] TMax[78] MTavg[69 70 71] SoftOFF[0] WORKLEVEL[2] …"`, parsed with
// `(\w+)\[([^\]]*)\]`. SoftOFF[1] reads as sleeping. Units with several modules
// have "MM ID1"…: their watts add up.
//
// Work levels: 0 lowest, 2 highest. Per-level draw is not in any reply we have
// seen, so it is taken as a share of the unit's full power (AVALON_LEVEL_SHARE,
// an assumption to check on hardware); full power is the endpoint's nominalW or,
// without one, the draw at the current level divided by that level's share.
// Levels are steps, so powerLimitW stays null and a limit is confirmed by the draw.
import { DriverError, type MinerCapability, type MinerReading } from "../../../types.ts";
import { CgminerClient, checkCommand, readingForError } from "../../client.ts";
import type { DialectContext, DialectSpec } from "../../driver.ts";
import type { LocateSpec } from "../../locate.ts";
import { hashrateThs, rows, statusOf, toNumber } from "../../normalize.ts";
import type { Json } from "../../repair.ts";

const CAPABILITIES: MinerCapability[] = ["sleep", "wake", "setPowerLimit", "reboot", "locate"];

/** Share of full power drawn at work level 0, 1, 2 (assumed; see the header). */
const AVALON_LEVEL_SHARE: readonly number[] = [0.7, 0.85, 1];

/** Delay (s) given to softoff/softon so the reply leaves before the unit acts. */
const SOFT_DELAY_S = 5;

/** Fields of one packed `MM IDn` string: `Fan1[4275] MTavg[69 70 71]` → {Fan1:"4275", MTavg:"69 70 71"}. */
export function parsePacked(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/(\w+)\[([^\]]*)\]/g)) out[m[1]!] = m[2]!.trim();
  return out;
}

/** Every `MM IDn` of an estats reply, parsed. */
function packedModules(estats: Json | undefined): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const row of rows(estats, "STATS")) {
    for (const [k, v] of Object.entries(row)) {
      if (/^MM ID\d+$/.test(k) && typeof v === "string") out.push(parsePacked(v));
    }
  }
  return out;
}

const numbers = (s: string | undefined) =>
  (s ?? "")
    .split(/\s+/)
    .map((x) => toNumber(x))
    .filter((n): n is number => n !== null);
const num = (s: string | undefined) => (s === undefined ? null : toNumber(s.split(/\s+/)[0] ?? ""));

interface AvalonStatus {
  wallW: number | null;
  softOff: boolean;
  workLevel: number | null;
}

function avalonStatus(modules: Array<Record<string, string>>): AvalonStatus {
  const watts = modules.map((m) => num(m.WALLPOWER)).filter((n): n is number => n !== null);
  return {
    wallW: watts.length > 0 ? watts.reduce((a, b) => a + b, 0) : null,
    softOff: modules.some((m) => num(m.SoftOFF) === 1),
    workLevel: modules.map((m) => num(m.WORKLEVEL)).find((n) => n !== null) ?? null,
  };
}

async function read(ctx: DialectContext): Promise<MinerReading> {
  const client = new CgminerClient(ctx.endpoint, ctx.exchange);
  try {
    const base = await client.poll(["version", "summary", "pools"], { signal: ctx.signal, now: ctx.now });
    if (!base.ok) return base.reading;
    const { reading, replies } = base;
    const version = rows(replies.version, "VERSION")[0];
    const prod = version?.PROD ?? version?.MODEL;
    if (typeof prod === "string" && prod !== "") reading.model = prod;
    const fw = version?.VERSION;
    if (typeof fw === "string" && fw !== "") reading.firmware = `avalon ${fw}`;

    let modules: Array<Record<string, string>> = [];
    try {
      modules = packedModules((await client.command(["estats"], undefined, ctx.signal)).replies.estats);
    } catch {
      // estats is an extra: the base reading stands without it
    }
    const status = avalonStatus(modules);
    if (status.wallW !== null) {
      reading.powerW = status.wallW;
      reading.powerEstimated = false;
    }
    const fans = modules.flatMap((m) =>
      Object.keys(m)
        .filter((k) => /^Fan\d+$/.test(k))
        .sort()
        .map((k) => num(m[k]))
        .filter((n): n is number => n !== null && n > 0),
    );
    if (fans.length > 0) reading.fanRpm = fans;
    const boards = modules.flatMap((m) => numbers(m.MTavg)).filter((n) => n > 0);
    if (boards.length > 0) reading.boardTempsC = boards;
    const tmax = modules.map((m) => num(m.TMax)).filter((n): n is number => n !== null && n > 0);
    if (tmax.length > 0) reading.chipTempMaxC = Math.max(...tmax);
    if (reading.hashrateThs === null) {
      const ghs = modules.map((m) => num(m.GHSspd)).filter((n): n is number => n !== null);
      if (ghs.length > 0) reading.hashrateThs = ghs.reduce((a, b) => a + b, 0) / 1000;
    }
    if (status.softOff) {
      reading.state = "sleeping";
      reading.reason = "soft off";
    }
    return reading;
  } catch (err) {
    return readingForError(err, ctx.now());
  }
}

async function ascset(ctx: DialectContext, parameter: string): Promise<void> {
  const client = new CgminerClient(ctx.endpoint, ctx.exchange);
  let reply: Json | undefined;
  try {
    reply = (await client.command(["ascset"], parameter, ctx.signal)).replies.ascset;
  } catch (err) {
    if (err instanceof DriverError && err.code === "WK_CGMINER_ACCESS_DENIED") {
      throw new DriverError("WK_AVALON_ACCESS_DENIED", `ascset ${parameter}: ${err.message}`, false, {
        cause: err,
      });
    }
    if (err instanceof DriverError && err.code === "WK_CGMINER_ERROR_STATUS") {
      throw new DriverError(
        "WK_AVALON_REFUSED",
        `ascset ${parameter} refused: ${err.message.replace(/^ascset: /, "")}`,
        false,
        { cause: err },
      );
    }
    throw err;
  }
  // some firmware answers S with a failure message
  const st = statusOf(reply);
  if (st && /fail|invalid|unknown|error/i.test(st.msg)) {
    throw new DriverError("WK_AVALON_REFUSED", `ascset ${parameter} refused: ${st.msg}`, false);
  }
}

/** The highest work level whose share of full power stays at or below the target, or null. */
export function pickWorkLevel(fullW: number, targetW: number): number | null {
  let level: number | null = null;
  AVALON_LEVEL_SHARE.forEach((share, i) => {
    if (fullW * share <= targetW) level = i;
  });
  return level;
}

async function setPowerLimit(ctx: DialectContext, targetW: number): Promise<void> {
  let fullW = ctx.endpoint.nominalW ?? null;
  if (fullW === null) {
    const client = new CgminerClient(ctx.endpoint, ctx.exchange);
    // one request at a time: the API serves one connection at a time
    const estats = await client.command(["estats"], undefined, ctx.signal);
    const summary = await client.command(["summary"], undefined, ctx.signal);
    const st = avalonStatus(packedModules(estats.replies.estats));
    const ths = hashrateThs(rows(summary.replies.summary, "SUMMARY")[0]);
    const share = st.workLevel !== null ? AVALON_LEVEL_SHARE[st.workLevel] : undefined;
    if (st.wallW !== null && share !== undefined && !st.softOff && ths !== null && ths > 0) {
      fullW = st.wallW / share;
    }
  }
  if (fullW === null || !(fullW > 0)) {
    throw new DriverError(
      "WK_AVALON_NO_NOMINAL",
      "cannot map watts to a work level: set nominalW for this miner, or read it while hashing",
      false,
    );
  }
  const level = pickWorkLevel(fullW, targetW);
  if (level === null) {
    throw new DriverError(
      "WK_AVALON_TARGET_TOO_LOW",
      `no work level at or below ${Math.round(targetW)} W (lowest is about ${Math.round(fullW * AVALON_LEVEL_SHARE[0]!)} W)`,
      false,
    );
  }
  await ascset(ctx, `0,worklevel,set,${level}`);
}

const locate: LocateSpec<DialectContext> = {
  async set(ctx, seconds) {
    await ascset(ctx, `0,led,1-${seconds > 0 ? 1 : 0}`);
    return undefined;
  },
  async read(ctx) {
    const client = new CgminerClient(ctx.endpoint, ctx.exchange);
    const modules = packedModules((await client.command(["estats"], undefined, ctx.signal)).replies.estats);
    const leds = modules.map((m) => num(m.Led)).filter((n): n is number => n !== null);
    if (leds.length === 0) {
      throw new DriverError(
        "WK_AVALON_NO_LED_STATE",
        "estats has no Led[…] field: the LED state is not reported",
        false,
      );
    }
    return leds.some((n) => n === 1);
  },
  endsAfter: null,
};

export const avalonDialect: DialectSpec = {
  name: "avalon",
  capabilities: () => [...CAPABILITIES],
  read,
  // every Avalon write is an `ascset`: a firmware without it, or one that denies it to
  // this gateway, can do none of them
  async confirmCapabilities(ctx, declared) {
    const c = await checkCommand(new CgminerClient(ctx.endpoint, ctx.exchange), "ascset", ctx.signal);
    if (c === null || (c.exists && c.access)) return [];
    const reason = c.exists
      ? "ascset denied to this gateway: it needs write access on the miner (--api-allow W:<gateway>)"
      : "the miner has no ascset command (not Avalon firmware?)";
    return declared.map((capability) => ({ capability, reason }));
  },
  locate,
  async write(ctx, action, value) {
    const at = Math.floor(ctx.now() / 1000) + SOFT_DELAY_S;
    switch (action) {
      case "sleep":
        return ascset(ctx, `0,softoff,1:${at}`);
      case "wake":
        return ascset(ctx, `0,softon,1:${at}`);
      case "reboot":
        return ascset(ctx, "0,reboot,0");
      case "setPowerLimit":
        if (value === undefined || !(value > 0)) {
          throw new DriverError("WK_AVALON_BAD_VALUE", "setPowerLimit needs a positive wattage", false);
        }
        return setPowerLimit(ctx, value);
    }
  },
};
