// Braiins OS (BOSminer / BOSer): cgminer-compatible reads on 4028 plus
// `pause` / `resume`, `tunerstatus` (ApproximateMinerPowerConsumption,
// PowerLimit), `temps` and `fans` (research/asic.md §2).
//
// Sleep is `pause`, wake is `resume`. A power target goes through the gRPC API
// on 50051 (PerformanceService/SetPowerTarget, protobuf over HTTP/2 with a login
// token); that wire protocol is not implemented, so this dialect does not claim
// setPowerLimit. It reports the tuner's PowerLimit as powerLimitW.
//
// Reply shapes read: TUNERSTATUS[0] {PowerLimit, ApproximateMinerPowerConsumption},
// TEMPS rows {Board, Chip}, FANS rows {RPM}. A paused unit hashes at zero and is
// read as sleeping by the normaliser.
import { DriverError, type MinerCapability, type MinerReading } from "../../types.ts";
import { CgminerClient, failedReading, readingForError } from "../client.ts";
import type { DialectContext, DialectSpec } from "../driver.ts";
import { normalizeMiner, rows, statusOf, toNumber } from "../normalize.ts";
import type { Json } from "../repair.ts";

const CAPABILITIES: MinerCapability[] = ["sleep", "wake"];

const positive = (values: Array<number | null>) => values.filter((n): n is number => n !== null && n > 0);

async function read(ctx: DialectContext): Promise<MinerReading> {
  const client = new CgminerClient(ctx.endpoint, ctx.exchange);
  try {
    const { replies } = await client.command(["version", "summary", "pools"], undefined, ctx.signal);
    const summaryStatus = statusOf(replies.summary);
    if (!summaryStatus || summaryStatus.letter === "E" || summaryStatus.letter === "F") {
      return failedReading(ctx.now(), "faulted", `summary failed: ${summaryStatus?.msg ?? "missing"}`);
    }
    const reading = normalizeMiner({
      at: ctx.now(),
      version: replies.version,
      summary: replies.summary,
      pools: replies.pools,
      nominalW: ctx.endpoint.nominalW ?? null,
    });
    let extra: Record<string, Json> = {};
    try {
      extra = (await client.command(["tunerstatus", "temps", "fans"], undefined, ctx.signal)).replies;
    } catch {
      // tuner, temperatures and fans are extras: the base reading stands without them
    }
    const tuner = rows(extra.tunerstatus, "TUNERSTATUS")[0];
    const watts = toNumber(tuner?.ApproximateMinerPowerConsumption);
    if (watts !== null) {
      reading.powerW = watts;
      reading.powerEstimated = false;
    }
    const limit = toNumber(tuner?.PowerLimit);
    if (limit !== null && limit > 0) reading.powerLimitW = limit;
    const temps = rows(extra.temps, "TEMPS");
    const boards = positive(temps.map((t) => toNumber(t.Board)));
    const chips = positive(temps.map((t) => toNumber(t.Chip)));
    if (boards.length > 0) reading.boardTempsC = boards;
    if (chips.length > 0) reading.chipTempMaxC = Math.max(...chips);
    const fans = positive(rows(extra.fans, "FANS").map((f) => toNumber(f.RPM)));
    if (fans.length > 0) reading.fanRpm = fans;
    if (reading.firmware === null) {
      const v = rows(replies.version, "VERSION")[0]?.BOSer;
      if (typeof v === "string" && v !== "") reading.firmware = `boser ${v}`;
    }
    return reading;
  } catch (err) {
    return readingForError(err, ctx.now());
  }
}

async function sendControl(ctx: DialectContext, command: "pause" | "resume"): Promise<void> {
  const client = new CgminerClient(ctx.endpoint, ctx.exchange);
  try {
    await client.command([command], undefined, ctx.signal);
  } catch (err) {
    if (err instanceof DriverError && err.code === "WK_CGMINER_ACCESS_DENIED") {
      throw new DriverError("WK_BRAIINS_ACCESS_DENIED", `${command}: ${err.message}`, false, { cause: err });
    }
    if (err instanceof DriverError && err.code === "WK_CGMINER_ERROR_STATUS") {
      throw new DriverError(
        "WK_BRAIINS_REFUSED",
        `${err.message.replace(/^\w+: /, `${command} refused: `)}`,
        false,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
}

export const braiinsDialect: DialectSpec = {
  name: "braiins",
  capabilities: () => [...CAPABILITIES],
  read,
  async write(ctx, action) {
    switch (action) {
      case "sleep":
        return sendControl(ctx, "pause");
      case "wake":
        return sendControl(ctx, "resume");
      default:
        throw new DriverError(
          "WK_BRAIINS_UNSUPPORTED",
          `braiins dialect cannot ${action} (power targets need the gRPC API on 50051)`,
          false,
        );
    }
  },
};
