// ESP-Miner / AxeOS (Bitaxe and kin): HTTP on port 80 (the endpoint's webPort
// otherwise), no CGMiner API, no login.
// - read: GET /api/system/info (hashRate GH/s → TH/s, power W, temp, fans,
//   stratum pool, uptime, miningPaused), validated: a reply of another shape is
//   WK_FIRMWARE_CHANGED (espminer/info.ts);
// - sleep / wake: POST /api/system/pause / resume, from ESP-Miner v2.14.0;
// - reboot: POST /api/system/restart, every release;
// - locate: POST /api/system/identify, from v2.12.0: a toggle (the unit says "Hi!"
//   on its screen for 30 s, then stops by itself), confirmed by the reply's own
//   words (nothing reads it back); a reply saying the other way is toggled back.
// Capabilities are data per version (espminer/facts.ts): all of them are declared
// and the first answer withdraws what the unit's version lacks, with why. No
// setPowerLimit: AxeOS has no watt target, only frequency/voltage settings.
// Every write is confirmed by the driver reading back (power falls, uptime
// restarts); a transport failure reads as `unreachable`.
import { codedReason } from "../../../errors.ts";
import { printable } from "../../../printable.ts";
import { DriverError, type MinerCapability, type MinerReading } from "../../../types.ts";
import { failedReading } from "../../client.ts";
import type { DialectContext, DialectSpec, MinerEndpoint, Withdrawn } from "../../driver.ts";
import { isHttpTransportError } from "../../http-client.ts";
import type { LocateSpec } from "../../locate.ts";
import { getInfo, getInfoRaw, IDENTIFY_S, LABEL, postCommand, postIdentify, postRestart } from "./client.ts";
import { type AxeosFlavour, DECLARED, withdrawnFor } from "./facts.ts";
import { flavourOf, looksLikeAxeos, readingFromInfo } from "./info.ts";

/** What the last answer of a unit said about its firmware (host:webPort → version, flavour). */
const known = new Map<string, { version: string; flavour: AxeosFlavour }>();
const keyOf = (e: MinerEndpoint) => `${e.host}:${e.webPort ?? 80}`;

function errorReading(err: unknown, at: number): MinerReading {
  if (isHttpTransportError(err, LABEL))
    return failedReading(at, "unreachable", `${err.code}: ${err.message}`);
  if (err instanceof DriverError) return failedReading(at, "faulted", `${err.code}: ${err.message}`);
  return failedReading(
    at,
    "faulted",
    codedReason("WK_ESPMINER_INTERNAL", `${(err as Error)?.message ?? String(err)}`),
  );
}

async function read(ctx: DialectContext): Promise<MinerReading> {
  try {
    const info = await getInfo(ctx);
    known.set(keyOf(ctx.endpoint), { version: info.version, flavour: flavourOf(info) });
    return readingFromInfo(info, ctx.now());
  } catch (err) {
    return errorReading(err, ctx.now());
  }
}

/**
 * Reads the info once: the version decides which writes exist. A reply of an
 * unknown shape, or a unit that refuses us (401), withdraws every write with
 * the reason; a unit that does not answer decides nothing (asked again later).
 */
async function confirmCapabilities(ctx: DialectContext, declared: MinerCapability[]): Promise<Withdrawn[]> {
  try {
    const info = await getInfo(ctx);
    const flavour = flavourOf(info);
    known.set(keyOf(ctx.endpoint), { version: info.version, flavour });
    return withdrawnFor(flavour, info.version, declared);
  } catch (err) {
    if (err instanceof DriverError && !err.retryable) {
      return declared.map((capability) => ({ capability, reason: `${err.code}: ${err.message}` }));
    }
    throw err;
  }
}

/** The version last read, after refusing a write the unit is known to lack. */
function versionFor(ctx: DialectContext, action: MinerCapability): string | null {
  const unit = known.get(keyOf(ctx.endpoint)) ?? null;
  if (unit && action !== "setPowerLimit") {
    // a unit known to lack the route is not sent it (the driver refuses first; this guards direct use)
    const missing = withdrawnFor(unit.flavour, unit.version, [action])[0];
    if (missing) throw new DriverError("WK_ESPMINER_UNSUPPORTED", missing.reason, false);
  }
  return unit?.version ?? null;
}

/** Identify is a toggle whose reply says which way it went: a reply the wrong way is toggled once more. */
const locate: LocateSpec<DialectContext> = {
  async set(ctx, seconds) {
    const version = versionFor(ctx, "locate");
    const want = seconds > 0;
    const now = await postIdentify(ctx, version);
    return now === want ? now : postIdentify(ctx, version);
  },
  endsAfter: IDENTIFY_S,
};

async function write(ctx: DialectContext, action: MinerCapability): Promise<void> {
  const version = versionFor(ctx, action);
  switch (action) {
    case "sleep":
      return postCommand(ctx, "/api/system/pause", version);
    case "wake":
      return postCommand(ctx, "/api/system/resume", version);
    case "reboot":
      return postRestart(ctx, version);
    case "setPowerLimit":
      throw new DriverError(
        "WK_ESPMINER_UNSUPPORTED",
        "AxeOS has no power target (only frequency/voltage settings): no power control",
        false,
      );
  }
}

export const espminerDialect: DialectSpec = {
  name: "espminer",
  capabilities: () => [...DECLARED],
  confirmCapabilities,
  read,
  write,
  locate,
  async close(ctx) {
    known.delete(keyOf(ctx.endpoint));
  },
  detectProbe: {
    port: (endpoint) => endpoint.webPort ?? 80,
    /** GET /api/system/info (read-only): AxeOS when it answers 200 with its info's keys. */
    async probe(ctx) {
      const { status, json } = await getInfoRaw(ctx);
      if (status !== 200 || !looksLikeAxeos(json)) return null;
      const fork = typeof json.deviceModel === "string" && json.deviceModel ? `, ${json.deviceModel}` : "";
      return printable(
        `GET /api/system/info: AxeOS ${String(json.version).slice(0, 40)} (${String(json.ASICModel).slice(0, 20)}${fork})`,
      );
    },
  },
};
