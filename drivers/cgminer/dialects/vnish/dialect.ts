// VNish (aftermarket Antminer firmware): everything over its web API on the
// unit's web port (`webPort`, default 80), `/api/v1/*` (docs/research.md, VNish).
//
// HTTP only, though VNish keeps a CGMiner-compatible API on 4028: that API is
// read-only there, while every write needs the web API and its login anyway,
// and the web API alone carries what a reading needs — the unit's own power
// figure, the miner state (paused / stopped / failure with its description),
// the preset in force and the list of presets, uptime, temperatures, fans,
// pools (asic-rs's VNish backends read nothing else). One protocol, one
// deadline, one login per unit; 4028 serves detection and other tools.
//
// - Reads: GET /info (no login: version, model, uptime, hashrate unit),
//   /summary (login: state, hashrate, watts, chains, fans, pools) and
//   /perf-summary (no login: the preset in force) in parallel; the preset list
//   (/autotune/presets, login) is kept 10 minutes per unit and refreshed by
//   every power-limit write.
// - Sleep: POST /mining/pause. Wake: POST /mining/resume, or /mining/start when
//   /status says the unit was stopped (mining/stop by someone else), since a
//   stopped unit is not paused.
// - Power limit: presets are steps named by their watts ("3250"); the highest
//   one at or below the target is set with POST /settings
//   {miner:{overclock:{preset}}}. That write answers the same whether or not it
//   took (pyasic), so the preset in force is read back at once: one left
//   unchanged is WK_VNISH_PRESET_IGNORED. The reading reports the steps
//   (powerLimitStepsW), so the driver confirms a target between steps by the step
//   it lands on. Presets needing a modified PSU are never picked.
// - Reboot: POST /system/reboot; confirmed by /info's uptime starting again.
// - Locate: POST /find-miner (login) toggles the LED and answers {"on"}; /status
//   (no login) reports `find_miner`. A toggle is sent only when /status shows the
//   other state (a resend after a lost reply must not undo it), with the state
//   wanted in the body too (asic-rs sends {"on"}; pyasic nothing), and read back
//   from /status. Not documented to end by itself: the agent turns it off.
//
// Credentials: writes are declared only with a password configured — the
// gateway does not change a miner's state on a factory password nobody told
// it. Reads log in with the configured password, else with VNish's factory
// password "admin" (what pyasic and asic-rs use by default), since /summary
// sits behind the login. A refused password is WK_VNISH_AUTH (not retryable).

import { codedReason } from "../../../errors.ts";
import { sharedNumbers } from "../../../shared.ts";
import { DriverError, type MinerCapability, type MinerReading } from "../../../types.ts";
import { failedReading } from "../../client.ts";
import type { DetectProbe, DialectContext, DialectSpec, MinerEndpoint, Withdrawn } from "../../driver.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS } from "../../framing.ts";
import { isHttpTransportError } from "../../http-client.ts";
import type { LocateSpec } from "../../locate.ts";
import {
  VNISH_DEFAULT_PASSWORD,
  VNISH_LABEL,
  VNISH_WEB_PORT,
  VnishClient,
  type VnishTimeouts,
} from "./client.ts";
import {
  drawW,
  FIRMWARE_CHANGED,
  firmwareChanged,
  InfoSchema,
  isVnishInfo,
  PerfSummarySchema,
  type PowerStep,
  parsePresets,
  parseReply,
  parseUptimeS,
  pickStep,
  poolStatus,
  powerSteps,
  presetWatts,
  SaveSettingsSchema,
  StatusSchema,
  SummarySchema,
  stateOf,
  thsPerUnit,
  type VnishInfo,
  type VnishPreset,
  type VnishSummary,
} from "./schemas.ts";

const WRITES: MinerCapability[] = ["sleep", "wake", "setPowerLimit", "reboot", "locate"];
const API = "/api/v1";
/** The preset list changes only with firmware or tuning: asked again this often. */
const VNISH_PRESETS_TTL_MS = 10 * 60_000;

function configuredPassword(ep: MinerEndpoint): string | null {
  const pw = ep.credentials?.password;
  return typeof pw === "string" && pw !== "" ? pw : null;
}

function timeouts(ctx: DialectContext): VnishTimeouts {
  const connectTimeoutMs = ctx.exchange.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return {
    connectTimeoutMs,
    timeoutMs: connectTimeoutMs + (ctx.exchange.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS),
    recent: ctx.recent,
  };
}

function clientFor(ctx: DialectContext): VnishClient {
  const pw = configuredPassword(ctx.endpoint);
  return new VnishClient({
    target: { host: ctx.endpoint.host, port: ctx.endpoint.webPort ?? VNISH_WEB_PORT },
    password: pw ?? VNISH_DEFAULT_PASSWORD,
    timeouts: timeouts(ctx),
    signal: ctx.signal,
    defaulted: pw === null,
  });
}

// --- presets --------------------------------------------------------------------------------

const presetCache = new Map<string, { at: number; steps: PowerStep[] }>();

async function stepsFor(ctx: DialectContext, client: VnishClient, fresh = false): Promise<PowerStep[]> {
  const key = `${client.target.host}:${client.target.port}`;
  const cached = presetCache.get(key);
  if (!fresh && cached && ctx.now() - cached.at < VNISH_PRESETS_TTL_MS) return cached.steps;
  const steps = powerSteps(parsePresets(await client.get(`${API}/autotune/presets`, true), client.fw));
  presetCache.set(key, { at: ctx.now(), steps });
  return steps;
}

// --- reading --------------------------------------------------------------------------------

function readInfo(client: VnishClient, raw: unknown): VnishInfo {
  const info = parseReply(InfoSchema, raw, { fw: client.fw, endpoint: `${API}/info` });
  client.fw = `vnish ${info.fw_version}`;
  return info;
}

const PERF = `${API}/perf-summary`;

function presetOf(client: VnishClient, raw: unknown): VnishPreset | null {
  return parseReply(PerfSummarySchema, raw, { fw: client.fw, endpoint: PERF }).current_preset ?? null;
}

/** What one read fetched: the unit's info and summary, its preset in force and its power steps. */
interface VnishReplies {
  info: VnishInfo;
  summary: VnishSummary;
  preset: VnishPreset | null;
  steps: PowerStep[];
}

function buildReading(
  at: number,
  client: VnishClient,
  { info, summary, preset, steps }: VnishReplies,
): MinerReading {
  const fw = client.fw;
  const m = summary.miner;
  const perUnit = thsPerUnit(info.hr_measure);
  if (perUnit === null)
    throw firmwareChanged(fw, `${API}/info hr_measure: unknown unit "${info.hr_measure}"`);
  const uptimeS = parseUptimeS(info.system.uptime);
  if (uptimeS === null) {
    throw firmwareChanged(fw, `${API}/info system.uptime: unrecognised "${info.system.uptime}"`);
  }
  const word = m.miner_status.miner_state;
  const state = stateOf(word, fw, `${API}/summary miner.miner_status`);
  const description = m.miner_status.description?.trim();
  const positive = (xs: Array<number | null>) => xs.filter((x): x is number => x !== null && x > 0);
  const chips = positive(m.chains.map((c) => c.chip_temp.max));
  return {
    at,
    state,
    reason: state === "hashing" ? null : `miner_state ${word}${description ? `: ${description}` : ""}`,
    hashrateThs: m.hr_realtime * perUnit,
    powerW: drawW(summary),
    powerEstimated: false,
    powerLimitW: preset ? presetWatts(preset) : null,
    minPowerLimitW: steps.length > 0 ? steps[0]!.watts : null,
    maxPowerLimitW: steps.length > 0 ? steps[steps.length - 1]!.watts : null,
    powerLimitStepsW: sharedNumbers(steps.map((s) => s.watts)),
    boardTempsC: positive(m.chains.map((c) => c.pcb_temp.max)),
    chipTempMaxC: chips.length > 0 ? Math.max(...chips) : null,
    fanRpm: positive(m.cooling.fans.map((f) => f.rpm)),
    // the firmware's fee pool is not the operator's: its state says nothing about theirs
    pools: m.pools
      .filter((p) => !/devfee/i.test(p.pool_type ?? "") && p.url !== "DevFee")
      .map((p) => ({ url: p.url, user: p.user, status: poolStatus(p.status) })),
    uptimeS,
    firmware: fw,
    model: info.miner,
  };
}

/** A failure as the state the site sees: no answer → unreachable; anything else → faulted with the code. */
function readingForError(err: unknown, at: number, client: VnishClient): MinerReading {
  if (isHttpTransportError(err, VNISH_LABEL))
    return failedReading(at, "unreachable", `${err.code}: ${err.message}`);
  const known = !client.fw.includes("unknown");
  const reason =
    err instanceof DriverError
      ? `${err.code}: ${err.message}`
      : codedReason("WK_VNISH_INTERNAL", `${(err as Error)?.message ?? String(err)}`);
  return { ...failedReading(at, "faulted", reason), firmware: known ? client.fw : null };
}

async function read(ctx: DialectContext): Promise<MinerReading> {
  const client = clientFor(ctx);
  try {
    // one round trip's time: the three asks go out together, and are judged in order
    const asked = await Promise.allSettled([
      client.get(`${API}/info`, false),
      client.get(`${API}/summary`, true),
      client.get(PERF, false),
    ]);
    const value = (i: number) => {
      const r = asked[i]!;
      if (r.status === "rejected") throw r.reason;
      return r.value;
    };
    const info = readInfo(client, value(0));
    const summary = parseReply(SummarySchema, value(1), { fw: client.fw, endpoint: `${API}/summary` });
    const current = presetOf(client, value(2));
    const steps = await stepsFor(ctx, client);
    return buildReading(ctx.now(), client, { info, summary, preset: current, steps });
  } catch (err) {
    return readingForError(err, ctx.now(), client);
  }
}

// --- writes ---------------------------------------------------------------------------------

/** A mining control POST; VNish answers nothing on success and {"err": …} when refused. */
async function control(client: VnishClient, what: string): Promise<void> {
  await client.post(`${API}/${what}`, undefined, true);
}

async function wake(client: VnishClient): Promise<void> {
  const raw = await client.get(`${API}/status`, false);
  const word = parseReply(StatusSchema, raw, { fw: client.fw, endpoint: `${API}/status` })
    .miner_state.trim()
    .toLowerCase();
  // a unit stopped with mining/stop does not take mining/resume
  await control(client, word === "stopped" ? "mining/start" : "mining/resume");
}

async function setPowerLimit(ctx: DialectContext, client: VnishClient, targetW: number): Promise<void> {
  readInfo(client, await client.get(`${API}/info`, false));
  const steps = await stepsFor(ctx, client, true);
  if (steps.length === 0) {
    throw new DriverError("WK_VNISH_NO_PRESETS", "the unit lists no autotune presets with a wattage", false);
  }
  const step = pickStep(steps, targetW);
  if (!step) {
    throw new DriverError(
      "WK_VNISH_TARGET_TOO_LOW",
      `no preset at or below ${Math.round(targetW)} W (lowest is ${steps[0]!.watts} W)`,
      false,
    );
  }
  const saved = await client.post(`${API}/settings`, { miner: { overclock: { preset: step.name } } }, true);
  const flags = parseReply(SaveSettingsSchema, saved ?? {}, {
    fw: client.fw,
    endpoint: `POST ${API}/settings`,
  });
  // the preset is saved but runs only once the miner restarts
  if (flags.restart_required === true) await control(client, "mining/restart");
  void ctx.onSent?.();
  const now = presetOf(client, await client.get(PERF, false));
  if (now?.name.trim() !== step.name) {
    throw new DriverError(
      "WK_VNISH_PRESET_IGNORED",
      `${client.fw} answered the settings write but kept preset "${now?.name ?? "none"}" (asked "${step.name}" for a ${Math.round(targetW)} W target)`,
      false,
    );
  }
}

/** Whether the locate LED blinks, as /status says. */
async function findMinerOn(client: VnishClient): Promise<boolean> {
  const st = parseReply(StatusSchema, await client.get(`${API}/status`, false), {
    fw: client.fw,
    endpoint: `${API}/status`,
  });
  if (st.find_miner === undefined) {
    throw new DriverError(
      "WK_VNISH_NO_LED_STATE",
      `${client.fw}: ${API}/status has no find_miner, so the LED state cannot be read back`,
      false,
    );
  }
  return st.find_miner;
}

const locate: LocateSpec<DialectContext> = {
  async set(ctx, seconds) {
    const client = clientFor(ctx);
    const want = seconds > 0;
    // a toggle: sent only when the LED is in the other state
    const now = await findMinerOn(client).catch((err: unknown) => {
      if (err instanceof DriverError && err.code === "WK_VNISH_NO_LED_STATE") return null;
      throw err;
    });
    if (now === want) return undefined;
    const reply = await client.post(`${API}/find-miner`, { on: want }, true);
    const on = (reply as { on?: unknown } | null)?.on;
    // the state the toggle left, as the unit answers it (used where /status does not say)
    return typeof on === "boolean" ? on : undefined;
  },
  read: (ctx) => findMinerOn(clientFor(ctx)),
  endsAfter: null,
};

// --- capabilities and detection ------------------------------------------------------------

/**
 * At first contact: the login (a refused password withdraws every write) and
 * the preset list (none with a wattage withdraws setPowerLimit). No answer:
 * throws, and the driver asks again later.
 */
async function confirmCapabilities(ctx: DialectContext, declared: MinerCapability[]): Promise<Withdrawn[]> {
  const client = clientFor(ctx);
  try {
    readInfo(client, await client.get(`${API}/info`, false));
    await client.token();
    if (!declared.includes("setPowerLimit")) return [];
    const steps = await stepsFor(ctx, client, true);
    if (steps.length > 0) return [];
    return [
      {
        capability: "setPowerLimit",
        reason: `${client.fw} lists no autotune presets with a wattage (only "disabled" or presets needing a modified PSU)`,
      },
    ];
  } catch (err) {
    if (err instanceof DriverError && (err.code === "WK_VNISH_AUTH" || err.code === FIRMWARE_CHANGED)) {
      const reason = `${err.code}: ${err.message}`;
      return declared.map((capability) => ({ capability, reason }));
    }
    throw err;
  }
}

/** `dialect: auto`: GET /api/v1/info (no login, read-only); VNish's own reply names it. */
const detectProbe: DetectProbe = {
  port: (ep) => ep.webPort ?? VNISH_WEB_PORT,
  // VNish keeps the Antminer's CGMiner API, which names no vendor
  behindPlainCgminer: true,
  async probe(ctx) {
    const client = clientFor(ctx);
    let raw: unknown;
    try {
      raw = await client.get(`${API}/info`, false);
    } catch (err) {
      if (isHttpTransportError(err, VNISH_LABEL)) throw err;
      return null; // a 401 challenge, a 404, an HTML page: some other web server
    }
    const info = InfoSchema.safeParse(raw);
    if (!info.success || !isVnishInfo(info.data)) return null;
    return `GET ${API}/info: ${info.data.fw_name ?? "VNish"} ${info.data.fw_version} (${info.data.miner})`;
  },
};

export const vnishDialect: DialectSpec = {
  name: "vnish",
  capabilities: (ep) => (configuredPassword(ep) ? [...WRITES] : []),
  read,
  confirmCapabilities,
  detectProbe,
  locate,
  async write(ctx, action, value) {
    const client = clientFor(ctx);
    switch (action) {
      case "sleep":
        return control(client, "mining/pause");
      case "wake":
        return wake(client);
      case "reboot":
        return control(client, "system/reboot");
      case "setPowerLimit":
        if (value === undefined || !(value > 0)) {
          throw new DriverError("WK_VNISH_BAD_VALUE", "setPowerLimit needs a positive wattage", false);
        }
        return setPowerLimit(ctx, client, value);
    }
  },
};
