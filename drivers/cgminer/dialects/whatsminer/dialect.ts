// MicroBT Whatsminer (btminer). Two APIs:
// - v2 on the configured port (4028): plaintext reads, encrypted token writes
//   (whatsminer/v2.ts): power_off / power_on / adjust_power_limit (reboots) / reboot;
// - v3 on 4433 (firmware from about 2024-11, whatsminer/v3.ts):
//   set.miner.service stop|start, set.miner.power_limit, set.system.reboot.
// - locate: v2 `set_led` (red, blinking 200 ms / 100 ms on; param "auto" gives the LED
//   back to the firmware), read back as `get_miner_info` Msg.ledstat; v3
//   `set.system.led` (the same pattern as a list, or "auto"), read back as
//   `get.device.info` msg.system.ledstatus ("auto" = not locating). The firmware
//   keeps the pattern until told: the agent turns it off (pyasic btminer, asic-rs
//   whatsminer v2/v3 backends).
//
// Which API a miner gets (cached per host:port, in this process):
// - an endpoint configured on port 4433 speaks v3 only;
// - otherwise v2 first. v3 is tried, and on success remembered, when 4028
//   refuses connections (a read or a write), or when a v2 write answers that
//   the API is obsolete (Code 14 / "obsolete"/"not supported"/"v3" in Msg);
// - a remembered v3 whose 4433 refuses is forgotten, so the next poll
//   starts from v2 again (a downgrade, or a miner replaced on the same IP).
// A miner rebooting refuses both ports: that reads `unreachable`, caches nothing.
//
// Writes need a password (capabilities are empty without one); reads do not.
// The write token (v2) is reused for less than its 30 min life; a token error
// drops it and retries once. Code 45 (write API disabled, or the default
// password `admin` still set) is a refusal the driver does not retry.
import { printable } from "../../../printable.ts";
import { DriverError, type MinerCapability } from "../../../types.ts";
import { readingForError } from "../../client.ts";
import type { DialectContext, DialectSpec, MinerEndpoint, PowerWriteAction } from "../../driver.ts";
import type { LocateSpec } from "../../locate.ts";
import type { Json } from "../../repair.ts";
import { v3Msg } from "./normalize.ts";
import {
  fetchToken,
  newV2Session,
  TOKEN_REUSE_MS,
  type V2Session,
  v2Plain,
  v2Read,
  v2Write,
  WhatsminerObsoleteError,
} from "./v2.ts";
import { fetchSalt, type V3Session, v3Get, v3Read, v3Set } from "./v3.ts";
import { V3_PORT } from "./v3-framing.ts";

type WhatsminerApi = "v2" | "v3";

interface Session {
  /** The API chosen for this miner, or null while undecided. */
  mode: WhatsminerApi | null;
  v2: V2Session;
  v3: V3Session;
}

const sessions = new Map<string, Session>();
const keyOf = (e: MinerEndpoint) => `${e.host}:${e.port}`;

function session(e: MinerEndpoint): Session {
  const k = keyOf(e);
  let s = sessions.get(k);
  if (!s) {
    s = { mode: e.port === V3_PORT ? "v3" : null, v2: newV2Session(), v3: { salt: null } };
    sessions.set(k, s);
  }
  return s;
}

/** The API in use for an endpoint (null = not decided yet), and how many v2 tokens were fetched. */
export function whatsminerSessionInfo(e: MinerEndpoint): {
  mode: WhatsminerApi | null;
  tokensFetched: number;
} {
  const s = sessions.get(keyOf(e));
  return { mode: s?.mode ?? null, tokensFetched: s?.v2.tokensFetched ?? 0 };
}

const v2Target = (e: MinerEndpoint) => ({ host: e.host, port: e.port });
const v3Target = (e: MinerEndpoint) => ({ host: e.host, port: V3_PORT });
const refused = (err: unknown) => err instanceof DriverError && err.code === "WK_CGMINER_REFUSED";

async function readAny(ctx: DialectContext) {
  const e = ctx.endpoint;
  const s = session(e);
  const opts = { ...ctx.exchange, signal: ctx.signal };
  if (s.mode === "v3") {
    try {
      return await v3Read(v3Target(e), opts, ctx.now);
    } catch (err) {
      if (refused(err) && e.port !== V3_PORT) s.mode = null;
      throw err;
    }
  }
  try {
    return await v2Read(v2Target(e), s.v2, { opts, now: ctx.now });
  } catch (err) {
    if (!refused(err)) throw err;
    try {
      const r = await v3Read(v3Target(e), opts, ctx.now);
      s.mode = "v3";
      return r;
    } catch {
      throw err;
    }
  }
}

/** One write in both APIs' words. */
interface Command {
  v2: { cmd: string; fields: Record<string, Json> };
  v3: { cmd: string; param: Json };
}

function v2Command(action: PowerWriteAction, value?: number): Command["v2"] {
  switch (action) {
    case "sleep":
      return { cmd: "power_off", fields: { respbefore: "true" } };
    case "wake":
      return { cmd: "power_on", fields: {} };
    case "setPowerLimit":
      return { cmd: "adjust_power_limit", fields: { power_limit: String(Math.round(value ?? 0)) } };
    case "reboot":
      return { cmd: "reboot", fields: {} };
  }
}

function v3Command(action: PowerWriteAction, value?: number): Command["v3"] {
  switch (action) {
    case "sleep":
      return { cmd: "set.miner.service", param: "stop" };
    case "wake":
      return { cmd: "set.miner.service", param: "start" };
    case "setPowerLimit":
      return { cmd: "set.miner.power_limit", param: Math.round(value ?? 0) };
    case "reboot":
      return { cmd: "set.system.reboot", param: "" };
  }
}

/** The locate pattern both APIs take (pyasic, asic-rs): red, a 200 ms cycle lit for 100 ms. */
const LOCATE_LED = { color: "red", period: 200, duration: 100, start: 0 };

function locateCommand(on: boolean): Command {
  return on
    ? { v2: { cmd: "set_led", fields: LOCATE_LED }, v3: { cmd: "set.system.led", param: [LOCATE_LED] } }
    : { v2: { cmd: "set_led", fields: { param: "auto" } }, v3: { cmd: "set.system.led", param: "auto" } };
}

/** One API v3 `set.*` command, signed with the unit's password. */
async function writeV3(
  ctx: DialectContext,
  s: Session,
  { password, cmd, param }: Command["v3"] & { password: string },
) {
  await v3Set(v3Target(ctx.endpoint), s.v3, {
    password,
    cmd,
    param,
    exchange: { ...ctx.exchange, signal: ctx.signal },
    now: ctx.now,
  });
}

/**
 * A read-only touch of the write path: API v2 hands out a write token
 * (`get_token`; refused when writes are off in WhatsMinerTool or the default
 * password is still set), API v3 a salt for its `set.*` tokens. The token is
 * kept for the writes that follow. A refusal withdraws every capability with
 * the miner's words; a miner that does not answer decides nothing.
 */
async function confirmCapabilities(ctx: DialectContext, declared: MinerCapability[]) {
  const password = ctx.endpoint.credentials?.password;
  if (!password) return [];
  const e = ctx.endpoint;
  const s = session(e);
  const opts = { ...ctx.exchange, signal: ctx.signal };
  const all = (reason: string) => declared.map((capability) => ({ capability, reason }));
  const refusal = (err: unknown): err is DriverError => err instanceof DriverError && !err.retryable;
  if (s.mode !== "v3") {
    if (s.v2.token && ctx.now() - s.v2.token.at < TOKEN_REUSE_MS) return [];
    try {
      s.v2.token = await fetchToken(v2Target(e), { password, opts, now: ctx.now });
      s.v2.tokensFetched++;
      return [];
    } catch (err) {
      // v2 gone (newer firmware): the v3 API below decides
      if (!(err instanceof WhatsminerObsoleteError) && !refused(err)) {
        if (refusal(err)) return all(`API v2 get_token refused: ${err.message}`);
        throw err;
      }
    }
  }
  try {
    s.v3.salt = await fetchSalt(v3Target(e), opts);
    return [];
  } catch (err) {
    if (refused(err))
      return all(`API v3 (port ${V3_PORT}) refuses connections and API v2 gives no write token`);
    if (refusal(err)) return all(`API v3 salt refused: ${err.message}`);
    throw err;
  }
}

/** Sends one write in the API the miner speaks (v2 first, v3 when v2 is gone). */
async function sendWrite(ctx: DialectContext, c: Command): Promise<void> {
  const password = ctx.endpoint.credentials?.password;
  if (!password) {
    throw new DriverError("WK_WHATSMINER_NO_CREDENTIALS", "Whatsminer writes need the API password", false);
  }
  const s = session(ctx.endpoint);
  if (s.mode === "v3") {
    await writeV3(ctx, s, { ...c.v3, password });
    return;
  }
  try {
    await v2Write(v2Target(ctx.endpoint), s.v2, {
      password,
      cmd: c.v2.cmd,
      fields: c.v2.fields,
      exchange: { ...ctx.exchange, signal: ctx.signal },
      now: ctx.now,
    });
    s.mode = "v2";
  } catch (err) {
    if (!(err instanceof WhatsminerObsoleteError) && !refused(err)) throw err;
    try {
      await writeV3(ctx, s, { ...c.v3, password });
    } catch (err3) {
      // 4433 not there either: report the v2 failure (a reboot in progress is retryable)
      if (refused(err3)) throw err;
      throw err3;
    }
    s.mode = "v3";
  }
}

/** "auto" = the firmware drives the LED (not locating); any pattern set through the API = locating. */
function ledStatus(v: Json | undefined, where: string): boolean {
  if (typeof v !== "string" || v.trim() === "") {
    throw new DriverError(
      "WK_WHATSMINER_NO_LED_STATE",
      `${where}: no LED state in the reply (got ${JSON.stringify(v ?? null).slice(0, 40)})`,
      true,
    );
  }
  return v.trim().toLowerCase() !== "auto";
}

const isObj = (v: Json | undefined): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

async function readLed(ctx: DialectContext): Promise<boolean> {
  const e = ctx.endpoint;
  const opts = { ...ctx.exchange, signal: ctx.signal };
  if (session(e).mode === "v3") {
    const msg = v3Msg(await v3Get(v3Target(e), { cmd: "get.device.info" }, opts));
    const system = msg?.system;
    return ledStatus(isObj(system) ? system.ledstatus : undefined, "get.device.info system.ledstatus");
  }
  const reply = await v2Plain(v2Target(e), { cmd: "get_miner_info", info: "ledstat" }, opts);
  const msg = isObj(reply) ? reply.Msg : undefined;
  return ledStatus(isObj(msg) ? msg.ledstat : undefined, "get_miner_info Msg.ledstat");
}

const locate: LocateSpec<DialectContext> = {
  set: async (ctx, seconds) => {
    await sendWrite(ctx, locateCommand(seconds > 0));
    return undefined;
  },
  read: readLed,
  endsAfter: null,
};

export const whatsminerDialect: DialectSpec = {
  name: "whatsminer",
  capabilities(endpoint): MinerCapability[] {
    return endpoint.credentials?.password ? ["sleep", "wake", "setPowerLimit", "reboot", "locate"] : [];
  },
  confirmCapabilities,
  // a unit whose 4028 is closed (v3-only firmware) is still found: a read-only get.device.info on 4433
  detectProbe: {
    port: () => V3_PORT,
    async probe(ctx) {
      const reply = await v3Get(
        v3Target(ctx.endpoint),
        { cmd: "get.device.info" },
        {
          ...ctx.exchange,
          signal: ctx.signal,
        },
      );
      const msg = v3Msg(reply);
      if (msg === null) return null;
      return `${V3_PORT} get.device.info: ${printable(JSON.stringify(msg).slice(0, 80))}`;
    },
  },
  async read(ctx) {
    try {
      return await readAny(ctx);
    } catch (err) {
      return readingForError(err, ctx.now());
    }
  },
  write(ctx, action, value) {
    return sendWrite(ctx, { v2: v2Command(action, value), v3: v3Command(action, value) });
  },
  locate,
  async close(ctx) {
    sessions.delete(keyOf(ctx.endpoint));
  },
};
