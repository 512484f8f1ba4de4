// Braiins OS (BOSminer / BOSer): cgminer-compatible reads on 4028 plus
// `pause` / `resume`, `tunerstatus` (ApproximateMinerPowerConsumption,
// PowerLimit), `temps` and `fans` (docs/research.md §2).
//
// Sleep is `pause`, wake is `resume`. A power target goes through the gRPC API
// (default port 50051, `grpcPort` to change): AuthenticationService/Login, then
// PerformanceService/SetPowerTarget with SAVE_AND_APPLY (client.ts, on
// @grpc/grpc-js with our description of bos.v1 in proto/, generated into gen/).
// setPowerLimit is declared only when a username and a password are configured
// (an empty password counts: it is the BOS factory default). The driver
// confirms it through the tuner's PowerLimit, read as powerLimitW; when
// `tunerstatus` has none, GetTunerState fills it in.
//
// Locate goes through the same gRPC API and login (declared with the same
// credentials): ActionsService/SetLocateDeviceStatus {enable}, read back with
// GetLocateDeviceStatus {enabled} (bos-plus-api's ActionsService;
// pyasic's BOSer backend uses both). Not documented to end by itself: the agent
// turns it off.
//
// Reply shapes read: TUNERSTATUS[0] {PowerLimit, ApproximateMinerPowerConsumption},
// TEMPS rows {Board, Chip}, FANS rows {RPM}. A paused unit hashes at zero and is
// read as sleeping by the normaliser.
import { DriverError, type MinerCapability, type MinerReading } from "../../../types.ts";
import { CgminerClient, keptFor, readingForError, summaryCommands, summaryFailure } from "../../client.ts";
import type { DialectContext, DialectSpec, MinerEndpoint } from "../../driver.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS } from "../../framing.ts";
import type { LocateSpec } from "../../locate.ts";
import { rows, toNumber } from "../../normalize.ts";
import type { Json } from "../../repair.ts";
import type { BraiinsClient } from "./client.ts";
import { BRAIINS_GRPC_PORT, braiinsClientKey } from "./client-key.ts";

const CAPABILITIES: MinerCapability[] = ["sleep", "wake"];

/** Username and password when both are configured (a gRPC login is possible), else null. */
function grpcCredentials(endpoint: MinerEndpoint): { username: string; password: string } | null {
  const c = endpoint.credentials;
  if (!c || typeof c.username !== "string" || c.username === "" || typeof c.password !== "string")
    return null;
  return { username: c.username, password: c.password };
}

/** One gRPC client (one HTTP/2 session) per miner and credentials; tokens are cached in client.ts. */
const grpcClients = new Map<string, BraiinsClient>();

/** The gRPC client module, loaded the first time a miner needs it (client-key.ts says why). */
let clientModule: Promise<typeof import("./client.ts")> | null = null;

async function grpcClient(ctx: DialectContext): Promise<BraiinsClient | null> {
  const creds = grpcCredentials(ctx.endpoint);
  if (!creds) return null;
  const port = ctx.endpoint.grpcPort ?? BRAIINS_GRPC_PORT;
  const key = braiinsClientKey({ host: ctx.endpoint.host, port }, creds);
  let client = grpcClients.get(key);
  if (!client) {
    clientModule ??= import("./client.ts");
    const { BraiinsClient } = await clientModule;
    // another read of the same miner may have made it while the module loaded
    client = grpcClients.get(key);
    if (client) return client;
    client = new BraiinsClient({
      host: ctx.endpoint.host,
      port,
      ...creds,
      // one call may connect and then wait for the reply, as one 4028 exchange does
      timeoutMs:
        (ctx.exchange.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) +
        (ctx.exchange.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS),
      now: ctx.now,
    });
    grpcClients.set(key, client);
  }
  return client;
}

const positive = (values: Array<number | null>) => values.filter((n): n is number => n !== null && n > 0);

async function read(ctx: DialectContext): Promise<MinerReading> {
  const client = new CgminerClient(ctx.endpoint, ctx.exchange);
  // poll tiers: a summary-only read asks summary and the tuner (power, limit) in one exchange;
  // temperatures, fans, pools and the version come from the last full read
  const kept = keptFor(ctx);
  try {
    const base = kept
      ? await client.poll([...summaryCommands(kept), "tunerstatus"], {
          signal: ctx.signal,
          now: ctx.now,
          tier: ctx,
        })
      : await client.poll(["version", "summary", "pools"], { signal: ctx.signal, now: ctx.now, tier: ctx });
    if (!base.ok) return base.reading;
    const { reading, replies } = base;
    let extra: Record<string, Json> = kept ? replies : {};
    if (!kept) {
      try {
        extra = (await client.command(["tunerstatus", "temps", "fans"], undefined, ctx.signal)).replies;
      } catch {
        // tuner, temperatures and fans are extras: the base reading stands without them
      }
    }
    const tuner = rows(extra.tunerstatus, "TUNERSTATUS")[0];
    const watts = toNumber(tuner?.ApproximateMinerPowerConsumption);
    if (watts !== null) {
      reading.powerW = watts;
      reading.powerEstimated = false;
    }
    const limit = toNumber(tuner?.PowerLimit);
    if (limit !== null && limit > 0) reading.powerLimitW = limit;
    else {
      const grpc = await grpcClient(ctx);
      if (grpc) {
        try {
          const target = (await grpc.getTunerState(ctx.signal)).powerTargetW;
          if (target !== null && target > 0) reading.powerLimitW = target;
        } catch {
          // the power target is an extra: the reading stands without it
        }
      }
    }
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
    return summaryFailure(readingForError(err, ctx.now()), kept);
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

/** gRPC answers that say the power-target path is not there, as opposed to no answer in time. */
function grpcDefiniteNo(err: unknown): err is DriverError {
  if (!(err instanceof DriverError)) return false;
  if (err.code === "WK_BRAIINS_UNREACHABLE") return /ECONNREFUSED/.test(err.message);
  return /^WK_BRAIINS_(LOGIN_FAILED|UNAUTHENTICATED|PERMISSION_DENIED|UNIMPLEMENTED|HTTP_STATUS|PROTOCOL|BAD_REPLY|NO_TOKEN)$/.test(
    err.code,
  );
}

/**
 * A power target goes through the gRPC API and its login: a miner whose gRPC
 * port refuses, or that refuses the credentials, cannot take one. (`pause` and
 * `resume` on 4028 stand as declared: whether BOSminer answers `check` for them
 * is not known from a capture.)
 */
async function confirmCapabilities(ctx: DialectContext, declared: MinerCapability[]) {
  const grpc = await grpcClient(ctx);
  const viaGrpc = declared.filter((c) => c === "setPowerLimit" || c === "locate");
  if (!grpc || viaGrpc.length === 0) return [];
  const out: Array<{ capability: MinerCapability; reason: string }> = [];
  if (viaGrpc.includes("setPowerLimit")) {
    try {
      await grpc.getTunerState(ctx.signal);
    } catch (err) {
      if (!grpcDefiniteNo(err)) throw err;
      // no gRPC at all (refused, login refused): neither of its capabilities
      const why = `${err.code}: ${err.message}`;
      if (!/UNIMPLEMENTED/.test(err.code)) {
        return viaGrpc.map((capability) => ({
          capability,
          reason: `the gRPC API (${capability === "locate" ? "locate" : "power target"}) fails: ${why}`,
        }));
      }
      out.push({ capability: "setPowerLimit", reason: `the gRPC API (power target) fails: ${why}` });
    }
  }
  if (viaGrpc.includes("locate")) {
    try {
      await grpc.getLocate(ctx.signal);
    } catch (err) {
      if (!grpcDefiniteNo(err)) throw err;
      out.push({ capability: "locate", reason: `the gRPC API (locate) fails: ${err.code}: ${err.message}` });
    }
  }
  return out;
}

async function needGrpc(ctx: DialectContext, what: string): Promise<BraiinsClient> {
  const grpc = await grpcClient(ctx);
  if (!grpc) {
    throw new DriverError(
      "WK_BRAIINS_NO_CREDENTIALS",
      `${what} needs a username and password for the gRPC API`,
      false,
    );
  }
  return grpc;
}

const locate: LocateSpec<DialectContext> = {
  set: async (ctx, seconds) => (await needGrpc(ctx, "locate")).setLocate(seconds > 0, ctx.signal),
  read: async (ctx) => (await needGrpc(ctx, "locate")).getLocate(ctx.signal),
  endsAfter: null,
};

export const braiinsDialect: DialectSpec = {
  name: "braiins",
  capabilities: (endpoint) =>
    grpcCredentials(endpoint) ? [...CAPABILITIES, "setPowerLimit", "locate"] : [...CAPABILITIES],
  read,
  confirmCapabilities,
  locate,
  async write(ctx, action, value) {
    switch (action) {
      case "sleep":
        return sendControl(ctx, "pause");
      case "wake":
        return sendControl(ctx, "resume");
      case "setPowerLimit": {
        const grpc = await needGrpc(ctx, "setPowerLimit");
        if (value === undefined || !(value > 0)) {
          throw new DriverError("WK_BRAIINS_INVALID_ARGUMENT", `bad power target: ${value}`, false);
        }
        await grpc.setPowerTarget(value, ctx.signal);
        return;
      }
      default:
        throw new DriverError("WK_BRAIINS_UNSUPPORTED", `braiins dialect cannot ${action}`, false);
    }
  },
  async close(ctx) {
    const creds = grpcCredentials(ctx.endpoint);
    if (!creds) return;
    const port = ctx.endpoint.grpcPort ?? BRAIINS_GRPC_PORT;
    const key = braiinsClientKey({ host: ctx.endpoint.host, port }, creds);
    const client = grpcClients.get(key);
    grpcClients.delete(key);
    await client?.close();
  },
};
