// LuxOS (Luxor firmware): the cgminer API on 4028 plus privileged commands
// that take a session id as their first parameter (docs/research.md §2).
//
// Sessions: `logon` → SESSION[0].SessionID; the firmware allows one session at
// a time (a second logon gets Code 402). Each write runs inside one session
// that is always logged off afterwards, errors included; writes to the same
// miner are serialised here (one queue per host:port, shared by every
// MinerDriver in the process). When logon meets 402 (a session left open, by an
// earlier crashed run of ours or by another tool), the open session is read
// with the unprivileged `session` command and adopted, as pyasic does; it is
// logged off at the end like our own. All of it is session.ts.
//
// Reads: version+summary+pools+stats, then power+config. `power` → POWER[0].Watts;
// `stats` carries temp_chipN / temp_pcbN as "a-b-c-d" strings; `config`'s
// CONFIG[0].CurtailMode ("None" | "Sleep") says whether the unit is curtailed
// (field name not confirmed against a capture; without it a curtailed unit is
// recognised by its zero hashrate, as on stock firmware).
//
// Power limit: the highest profile from `profiles` whose Watts ≤ the target,
// set with `profileset <sid>,<name>`, with ATM disabled around it and restored
// (pyasic). Assumed `profiles` reply: PROFILES rows {"Profile Name", "Watts",
// "Hashrate" (TH/s), "Frequency", "Voltage", "Step"}; `atm`: ATM[0].Enabled.
// Profiles are steps, so the reading's powerLimitW stays null and the driver
// confirms a limit by the draw (powerW ≤ target).
//
// Locate: `ledset <sid>,red,blink` in a session like every write; off is
// `ledset <sid>,red,auto` (the LED back under the firmware's control). Read back
// from `config`: CONFIG[0].RedLed ("auto" by default; "blink" while locating).
// Facts: pyasic (luxminer backend: ledset red blink/off, RedLed from config),
// asic-rs (luxminer: ledset red blink/auto, a recorded config with RedLed "auto"),
// luxos-tooling's api.json (ledset needs logon). LuxOS keeps the LED blinking
// until told: the agent turns it off.
import { sharedNumbers } from "../../../shared.ts";
import { DriverError, type MinerCapability, type MinerReading } from "../../../types.ts";
import {
  CgminerClient,
  keptFor,
  READ_COMMANDS,
  readingForError,
  summaryCommands,
  summaryFailure,
} from "../../client.ts";
import type { DialectContext, DialectSpec } from "../../driver.ts";
import type { LocateSpec } from "../../locate.ts";
import { rows, toNumber } from "../../normalize.ts";
import type { Json } from "../../repair.ts";
import {
  closeSessions,
  confirmCapabilities,
  describeStatus,
  failed,
  privileged,
  send,
  withSession,
} from "./session.ts";

const CAPABILITIES: MinerCapability[] = ["sleep", "wake", "setPowerLimit", "reboot", "locate"];

type Row = Record<string, Json>;

// --- power profiles -----------------------------------------------------------

interface LuxosProfile {
  name: string;
  watts: number;
}

function parseProfiles(reply: Json): LuxosProfile[] {
  const out: LuxosProfile[] = [];
  for (const r of rows(reply, "PROFILES")) {
    const name = r["Profile Name"] ?? r.Profile ?? r.Name;
    const watts = toNumber(r.Watts);
    if (typeof name === "string" && name !== "" && watts !== null && watts > 0) out.push({ name, watts });
  }
  return out;
}

/** The highest profile whose watts do not exceed the target, or null when none does. */
function pickProfile(profiles: LuxosProfile[], targetW: number): LuxosProfile | null {
  let best: LuxosProfile | null = null;
  for (const p of profiles) if (p.watts <= targetW && (!best || p.watts > best.watts)) best = p;
  return best;
}

async function setPowerLimit(ctx: DialectContext, targetW: number): Promise<void> {
  await withSession(ctx, async (sid) => {
    const listed = await send(ctx, "profiles", { signal: ctx.signal });
    if (failed(listed.status)) {
      throw new DriverError("WK_LUXOS_REFUSED", `profiles: ${describeStatus(listed.status)}`, false);
    }
    const profiles = parseProfiles(listed.reply);
    if (profiles.length === 0) {
      throw new DriverError("WK_LUXOS_NO_PROFILES", "the miner lists no power profiles with watts", false);
    }
    const profile = pickProfile(profiles, targetW);
    if (!profile) {
      const lowest = Math.min(...profiles.map((p) => p.watts));
      throw new DriverError(
        "WK_LUXOS_TARGET_TOO_LOW",
        `no profile at or below ${Math.round(targetW)} W (lowest is ${Math.round(lowest)} W)`,
        false,
      );
    }
    const atm = await send(ctx, "atm", { signal: ctx.signal });
    const atmOn =
      !failed(atm.status) && /^(true|1|y)/i.test(String(rows(atm.reply, "ATM")[0]?.Enabled ?? ""));
    // ATM would move the profile again: off while setting it, then as it was
    if (atmOn) await privileged(ctx, sid, ["atmset", "enabled=false"]);
    await privileged(ctx, sid, ["profileset", profile.name]);
    if (atmOn) await privileged(ctx, sid, ["atmset", "enabled=true"]);
  });
}

// --- reading ------------------------------------------------------------------

/** "a-b-c-d" temperature strings (LuxOS temp_chipN / temp_pcbN) → the hottest value per chain. */
function dashTemps(row: Row | undefined, re: RegExp): number[] {
  if (!row) return [];
  const out: Array<[number, number]> = [];
  for (const k of Object.keys(row)) {
    const m = re.exec(k);
    if (!m) continue;
    const v = row[k];
    let hottest = 0;
    for (const x of typeof v === "string" ? v.split("-") : [v]) {
      const n = toNumber(x);
      if (n !== null && n > hottest) hottest = n;
    }
    if (hottest > 0) out.push([Number(m[1]), hottest]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, n]) => n);
}

/** LuxOS's measured watts (`power`) and its curtail mode (`config`): a curtailed unit reads as sleeping. */
function applyPowerAndCurtail(reading: MinerReading, replies: Record<string, Json>): void {
  const watts = toNumber(rows(replies.power, "POWER")[0]?.Watts);
  if (watts !== null) {
    reading.powerW = watts;
    reading.powerEstimated = false;
  }
  const curtail = rows(replies.config, "CONFIG")[0]?.CurtailMode;
  if (typeof curtail === "string" && /sleep/i.test(curtail)) {
    reading.state = "sleeping";
    reading.reason = "curtailed (sleep)";
  }
}

/** The profiles' watts of the last full read, for the summary-only reads between (poll tiers). */
const PROFILES_MEMO = "luxosProfilesW";

/** `watts`: a shared list (sharedNumbers), set on the reading as it is, never copied. */
function applyProfiles(reading: MinerReading, watts: readonly number[]): void {
  if (watts.length === 0) return;
  reading.minPowerLimitW = watts[0]!;
  reading.maxPowerLimitW = watts[watts.length - 1]!;
  reading.powerLimitStepsW = watts;
}

/** A summary-only read's commands, by whether the last full read found `stats` needed. */
const SUMMARY_READ = [...summaryCommands({ needsStats: false }), "power", "config"] as const;
const SUMMARY_STATS_READ = [...summaryCommands({ needsStats: true }), "power", "config"] as const;

/**
 * A summary-only read (poll tiers): `summary+power+config` in one exchange, the profiles as
 * the last full read found them; temperatures, fans and pools come from that read too.
 */
async function readSummary(ctx: DialectContext): Promise<MinerReading> {
  const kept = keptFor(ctx)!;
  const client = new CgminerClient(ctx.endpoint, ctx.exchange);
  try {
    const base = await client.poll(kept.needsStats ? SUMMARY_STATS_READ : SUMMARY_READ, {
      signal: ctx.signal,
      now: ctx.now,
      tier: ctx,
    });
    if (!base.ok) return base.reading;
    applyPowerAndCurtail(base.reading, base.replies);
    applyProfiles(base.reading, (ctx.memo?.[PROFILES_MEMO] as readonly number[] | undefined) ?? []);
    return base.reading;
  } catch (err) {
    return summaryFailure(readingForError(err, ctx.now()), kept);
  }
}

async function read(ctx: DialectContext): Promise<MinerReading> {
  if (keptFor(ctx)) return readSummary(ctx);
  const client = new CgminerClient(ctx.endpoint, ctx.exchange);
  try {
    const base = await client.poll(READ_COMMANDS, { signal: ctx.signal, now: ctx.now, tier: ctx });
    if (!base.ok) return base.reading;
    const { reading, replies } = base;
    let extra: Record<string, Json> = {};
    try {
      // profiles too: the lowest is the floor for a power limit, so the loop never asks for less
      extra = (await client.command(["power", "config", "profiles"], undefined, ctx.signal)).replies;
    } catch {
      // power and curtail state are extras: the base reading stands without them
    }
    applyPowerAndCurtail(reading, extra);
    const statsRow = rows(replies.stats, "STATS").find((r) =>
      Object.keys(r).some((k) => /^temp_(chip|pcb)\d+$/.test(k)),
    );
    if (reading.chipTempMaxC === null) {
      const chips = dashTemps(statsRow, /^temp_chip(\d+)$/);
      if (chips.length > 0) reading.chipTempMaxC = Math.max(...chips);
    }
    if (reading.boardTempsC.length === 0) reading.boardTempsC = dashTemps(statsRow, /^temp_pcb(\d+)$/);
    const profiles = extra.profiles === undefined ? [] : parseProfiles(extra.profiles);
    // one shared list per distinct set of profiles: the summary-only reads carry it at every poll
    const watts = sharedNumbers([...new Set(profiles.map((p) => p.watts))].sort((a, b) => a - b));
    applyProfiles(reading, watts);
    if (ctx.memo) ctx.memo[PROFILES_MEMO] = watts;
    return reading;
  } catch (err) {
    return readingForError(err, ctx.now());
  }
}

/**
 * For confirming a write: one exchange of `summary+power+config` (hashrate,
 * uptime, measured watts, curtail mode) instead of the full read's two.
 */
async function confirmRead(ctx: DialectContext): Promise<MinerReading> {
  const client = new CgminerClient(ctx.endpoint, ctx.exchange);
  try {
    const base = await client.poll(["summary", "power", "config"], { signal: ctx.signal, now: ctx.now });
    if (!base.ok) return base.reading;
    applyPowerAndCurtail(base.reading, base.replies);
    return base.reading;
  } catch (err) {
    return readingForError(err, ctx.now());
  }
}

/** Whether the red LED blinks (the locate), from `config`'s RedLed. */
async function readLed(ctx: DialectContext): Promise<boolean> {
  const sent = await send(ctx, "config", { signal: ctx.signal });
  if (failed(sent.status)) {
    throw new DriverError("WK_LUXOS_REFUSED", `config: ${describeStatus(sent.status)}`, true);
  }
  const red = rows(sent.reply, "CONFIG")[0]?.RedLed;
  if (typeof red !== "string") {
    throw new DriverError(
      "WK_LUXOS_NO_LED_STATE",
      "config has no RedLed: this LuxOS does not report its LED state",
      false,
    );
  }
  return /^(blink|on)$/i.test(red.trim());
}

const locate: LocateSpec<DialectContext> = {
  set: async (ctx, seconds) => {
    await withSession(ctx, (sid) => privileged(ctx, sid, ["ledset", "red", seconds > 0 ? "blink" : "auto"]));
    return undefined;
  },
  read: readLed,
  endsAfter: null,
};

export const luxosDialect: DialectSpec = {
  name: "luxos",
  capabilities: () => [...CAPABILITIES],
  read,
  confirmRead,
  confirmCapabilities,
  locate,
  async write(ctx, action, value) {
    switch (action) {
      case "sleep":
        await withSession(ctx, (sid) => privileged(ctx, sid, ["curtail", "sleep"]));
        return;
      case "wake":
        await withSession(ctx, (sid) => privileged(ctx, sid, ["curtail", "wakeup"]));
        return;
      case "reboot":
        // `reboot` restarts one hashboard in LuxOS; `rebootdevice` restarts the unit
        await withSession(ctx, (sid) => privileged(ctx, sid, ["rebootdevice"]));
        return;
      case "setPowerLimit":
        if (value === undefined || !(value > 0)) {
          throw new DriverError("WK_LUXOS_BAD_VALUE", "setPowerLimit needs a positive wattage", false);
        }
        await setPowerLimit(ctx, value);
        return;
    }
  },
  close: closeSessions,
};
