// Bitmain stock firmware (bmminer): reads over the CGMiner API on 4028, which
// is read-only there; control through the web CGI (antminer/web-client.ts,
// Digest auth) with a username and password configured:
//
// - sleep: miner-mode 1; wake: back to the mode the unit was in before (normal
//   0, low power 3, or the S19k Pro's high-efficiency 2), else normal.
// - setPowerLimit as power steps: stock firmware takes no watt target, only
//   normal or low-power mode, whose draws are the model's data (`nominalW`,
//   `lowPowerW` in config/models). A target lands on the highest step at or
//   below it (antminer/modes.ts); one below the low-power step is refused. The
//   reading reports the steps (powerLimitStepsW) and the step in force, so the
//   planner knows what a target really gives. A model without a low-power
//   figure offers no power step (withdrawn at first contact, with why).
// - reboot: GET reboot.cgi, confirmed by the uptime starting again.
// - locate: blink.cgi on or off (LocateSpec), read back from get_blink_status;
//   it blinks until stopped, so the agent ends it when the time is up.
// Every mode write is read back from get_miner_conf; one that does not read
// back is WK_ANTMINER_MODE_IGNORED.
//
// Reads stay one 4028 round trip while the unit hashes and its work mode is
// known. The mode is learnt from the capability probe at first contact, from
// every write, and from get_miner_conf whenever a reading shows the unit not
// hashing: work mode 1 then means asleep (so it reads `sleeping` rather than
// faulted, starting or, while bmminer restarts after a config write, refused).
// A hashing unit whose mode is not known (bmminer restarted under someone
// else's hand, the first read) is asked at most once a minute.
import { DriverError, type MinerCapability, type MinerReading } from "../../../types.ts";
import { CgminerClient } from "../../client.ts";
import type { DialectContext, DialectMemo, DialectSpec, MinerEndpoint, Withdrawn } from "../../driver.ts";
import type { LocateSpec } from "../../locate.ts";
import { modeForTarget, type PowerSteps, powerStepsOf, stepOfMode } from "./modes.ts";
import {
  AntminerWebClient,
  DEFAULT_WEB_PORT,
  type DigestCredentials,
  type WebTimeouts,
  WORK_MODE,
  workModeOf,
} from "./web-client.ts";

interface AntminerDialectOptions {
  /** Deadlines of the web CGI (defaults: connect 3 s, read 10 s, write 30 s). */
  web?: Partial<WebTimeouts>;
}

const WRITES: MinerCapability[] = ["sleep", "wake", "setPowerLimit", "reboot", "locate"];

/** A hashing unit whose work mode is not known is asked at most this often (a broken CGI costs a request a minute, not one a poll). */
const MODE_REASK_MS = 60_000;
/** An uptime going back this soon after our own mode write is that write restarting bmminer, not someone else's change. */
const OWN_RESTART_MS = 5 * 60_000;

function webCredentials(endpoint: MinerEndpoint): DigestCredentials | null {
  const c = endpoint.credentials;
  if (!c?.username || !c.password) return null;
  return { username: c.username, password: c.password };
}

/** 4028 failures after which the web server may still answer (bmminer restarting, not a dead host). */
const WEB_WORTH_ASKING = /^WK_CGMINER_(REFUSED|RESET|EMPTY_REPLY|NOT_READY)\b/;

/** Web CGI answers that say the write path is not there (as opposed to a miner that did not answer in time). */
const WEB_DEFINITE_NO = /^WK_ANTMINER_(REFUSED|NO_CGI|AUTH|AUTH_UNSUPPORTED|BAD_REPLY|HTTP)$/;
const WEB_NO_WORDS: Record<string, string> = {
  WK_ANTMINER_REFUSED: "is not there (nothing listens): not stock Antminer firmware?",
  WK_ANTMINER_NO_CGI: "is missing (404): not stock Antminer firmware?",
  WK_ANTMINER_AUTH: "refuses the configured username and password",
  WK_ANTMINER_AUTH_UNSUPPORTED: "asks for an authentication we do not speak",
};

/** What the dialect remembers of one unit (by host and web port). */
interface Unit {
  /** The work mode last known (learnt from get_miner_conf or written), null = unknown. */
  mode: number | null;
  /** The mode the unit was in when we slept it (normal, low or high), restored on wake. */
  beforeSleep: number | null;
  /** The uptime 4028 last reported: one going back means bmminer restarted. */
  uptimeS: number | null;
  /** When a hashing read last asked for the mode. */
  askedAt: number | null;
  /** When we last wrote a mode (or rebooted): the restart that follows is ours. */
  wroteAt: number | null;
  /** The model the unit last reported (its power steps). */
  model: string | null;
}

export function createAntminerDialect(opts: AntminerDialectOptions = {}): DialectSpec {
  const units = new Map<string, Unit>();
  const unitOf = (ep: MinerEndpoint, memo?: DialectMemo): Unit => {
    // the driver's memo holds the unit after the first look-up: no key built at every poll
    const mine = memo?.antminerUnit as Unit | undefined;
    if (mine) return mine;
    const key = `${ep.host}:${ep.webPort ?? DEFAULT_WEB_PORT}`;
    let u = units.get(key);
    if (!u) {
      u = { mode: null, beforeSleep: null, uptimeS: null, askedAt: null, wroteAt: null, model: null };
      units.set(key, u);
    }
    if (memo) memo.antminerUnit = u;
    return u;
  };
  const webClient = (ctx: DialectContext, creds: DigestCredentials) =>
    new AntminerWebClient({ host: ctx.endpoint.host, webPort: ctx.endpoint.webPort }, creds, opts.web);
  const stepsOf = (ep: MinerEndpoint, model: string | null): PowerSteps | null =>
    powerStepsOf(ep.models?.find(model) ?? null);

  /** The 4028 read, as a promise of its own (the poll's path awaits it without another async frame). */
  const from4028 = (ctx: DialectContext) =>
    new CgminerClient(ctx.endpoint, ctx.exchange).readWithRepairs(ctx.signal, ctx.now, ctx);

  /** Notes the model a 4028 reading reports (the unit's power steps). */
  function modelSeen(ctx: DialectContext, reading: MinerReading): MinerReading {
    const u = unitOf(ctx.endpoint, ctx.memo);
    if (reading.model) u.model = reading.model;
    return reading;
  }

  async function read4028(ctx: DialectContext): Promise<MinerReading> {
    return modelSeen(ctx, (await from4028(ctx)).reading);
  }

  /** Forgets the mode when bmminer restarted and the restart was not ours (someone may have changed it). */
  function noteUptime(u: Unit, reading: MinerReading, now: number): void {
    if (reading.uptimeS === null) return;
    const ours = u.wroteAt !== null && now - u.wroteAt < OWN_RESTART_MS;
    if (u.uptimeS !== null && reading.uptimeS < u.uptimeS && !ours) {
      u.mode = null;
      u.askedAt = null;
    }
    u.uptimeS = reading.uptimeS;
  }

  /** Adds what the web config says to a reading that shows no hashing (asked with `web`'s credentials). */
  async function withWorkMode(
    web: { ctx: DialectContext; creds: DigestCredentials },
    u: Unit,
    reading: MinerReading,
  ): Promise<MinerReading> {
    const { ctx, creds } = web;
    let mode: number | null;
    try {
      mode = workModeOf(await webClient(ctx, creds).getMinerConf(ctx.signal));
    } catch (err) {
      const why = err instanceof DriverError ? err.code : "web error";
      return { ...reading, reason: `${reading.reason ?? "not hashing"}; work mode unknown (${why})` };
    }
    u.mode = mode;
    if (mode === WORK_MODE.sleep) {
      return {
        ...reading,
        state: "sleeping",
        reason: "sleep mode (bitmain-work-mode 1)",
        hashrateThs: reading.hashrateThs ?? 0,
      };
    }
    if (mode !== null && reading.state === "sleeping") {
      // not asleep by configuration, yet not hashing: the boards are coming up (or stuck)
      return { ...reading, state: "starting", reason: `work mode ${mode}, not hashing yet` };
    }
    return reading;
  }

  /** The power steps of the unit's model, and the step its mode runs at. */
  function withSteps(ctx: DialectContext, u: Unit, reading: MinerReading): MinerReading {
    const steps = stepsOf(ctx.endpoint, reading.model ?? u.model);
    if (!steps) return reading;
    const stepW = stepOfMode(steps, u.mode);
    // a nameplate × hashrate estimate overshoots in low-power mode (hashrate falls less than power)
    if (
      reading.powerEstimated &&
      reading.powerW !== null &&
      u.mode === WORK_MODE.low &&
      reading.powerW > steps[0]
    )
      reading.powerW = steps[0];
    // the read's own reading, set in place, with the model's shared steps: this runs at every
    // poll of every hashing unit, where a copy of the reading and of the steps lived one poll
    // period each (long enough to be promoted to the old generation)
    reading.powerLimitW = stepW ?? reading.powerLimitW;
    reading.minPowerLimitW = steps[0];
    reading.maxPowerLimitW = steps[1];
    reading.powerLimitStepsW = steps;
    return reading;
  }

  async function read(ctx: DialectContext): Promise<MinerReading> {
    const reading = modelSeen(ctx, (await from4028(ctx)).reading);
    const creds = webCredentials(ctx.endpoint);
    if (!creds) return reading;
    const u = unitOf(ctx.endpoint, ctx.memo);
    const now = ctx.now();
    noteUptime(u, reading, now);
    if (reading.state === "hashing" || (reading.hashrateThs ?? 0) > 0) {
      // the hot path: a hashing miner whose mode is known costs one 4028 round trip
      if (u.mode === null && (u.askedAt === null || now - u.askedAt >= MODE_REASK_MS)) {
        u.askedAt = now;
        try {
          u.mode = workModeOf(await webClient(ctx, creds).getMinerConf(ctx.signal));
        } catch {
          // not known: the reading stands without its step, asked again later
        }
      }
      return withSteps(ctx, u, reading);
    }
    if (reading.state === "unreachable" && !WEB_WORTH_ASKING.test(reading.reason ?? "")) return reading;
    const out = await withWorkMode({ ctx, creds }, u, reading);
    return withSteps(ctx, u, { ...out, at: ctx.now() });
  }

  /** The unit's steps for a write: from the model it reports (read from 4028 when not seen yet). */
  async function stepsForWrite(
    ctx: DialectContext,
    u: Unit,
  ): Promise<{ steps: PowerSteps | null; model: string | null }> {
    if (u.model === null) await read4028(ctx);
    return { steps: stepsOf(ctx.endpoint, u.model), model: u.model };
  }

  /** Why a unit has no power steps. */
  const noSteps = (ep: MinerEndpoint, model: string | null) => {
    const tail = "stock firmware takes no watt target, only its modes";
    if (!model) return `the miner reports no model, so its low-power step is not known: ${tail}`;
    const known = ep.models?.find(model);
    if (!known) return `the ${model} is not among the known models (config/models): ${tail}`;
    return `no low-power draw known for the ${known.name} (lowPowerW, ${known.origin}): ${tail}`;
  };

  /** The power step at or below `targetW`, written through `web.client`. */
  async function setPowerLimit(
    web: { ctx: DialectContext; client: AntminerWebClient },
    u: Unit,
    targetW: number,
  ) {
    const { ctx, client } = web;
    const { steps, model } = await stepsForWrite(ctx, u);
    if (!steps) throw new DriverError("WK_ANTMINER_NO_POWER_STEPS", noSteps(ctx.endpoint, model), false);
    const pick = modeForTarget(steps, targetW);
    if (!pick) {
      throw new DriverError(
        "WK_ANTMINER_TARGET_TOO_LOW",
        `no power step at or below ${Math.round(targetW)} W: low-power mode draws about ${steps[0]} W (normal ${steps[1]} W)`,
        false,
      );
    }
    const { previous } = await client.changeWorkMode((prev) => {
      // a mode write would wake it: a limit is for a hashing unit
      if (prev === WORK_MODE.sleep)
        throw new DriverError(
          "WK_ANTMINER_ASLEEP",
          "the unit is asleep (work mode 1): a power step would wake it; wake it first",
          false,
        );
      return pick.mode;
    }, ctx.signal);
    if (previous !== pick.mode) u.wroteAt = ctx.now();
    u.mode = pick.mode;
  }

  async function confirmCapabilities(ctx: DialectContext, declared: MinerCapability[]): Promise<Withdrawn[]> {
    const creds = webCredentials(ctx.endpoint);
    if (!creds) return [];
    const client = webClient(ctx, creds);
    const u = unitOf(ctx.endpoint, ctx.memo);
    try {
      u.mode = workModeOf(await client.getMinerConf(ctx.signal));
    } catch (err) {
      if (!(err instanceof DriverError) || !WEB_DEFINITE_NO.test(err.code)) throw err;
      const reason = `the Antminer web CGI (port ${ctx.endpoint.webPort ?? DEFAULT_WEB_PORT}) ${WEB_NO_WORDS[err.code] ?? "fails"}: ${err.message}`;
      return declared.map((capability) => ({ capability, reason }));
    }
    const withdrawn: Withdrawn[] = [];
    if (declared.includes("setPowerLimit")) {
      const { steps, model } = await stepsForWrite(ctx, u);
      if (!steps) withdrawn.push({ capability: "setPowerLimit", reason: noSteps(ctx.endpoint, model) });
    }
    if (declared.includes("locate")) {
      try {
        await client.getBlink(ctx.signal);
      } catch (err) {
        if (!(err instanceof DriverError) || !WEB_DEFINITE_NO.test(err.code)) throw err;
        withdrawn.push({ capability: "locate", reason: `get_blink_status.cgi: ${err.code}: ${err.message}` });
      }
    }
    return withdrawn;
  }

  function clientFor(ctx: DialectContext, action: MinerCapability): AntminerWebClient {
    const creds = webCredentials(ctx.endpoint);
    if (!creds) {
      throw new DriverError(
        "WK_ANTMINER_NO_CREDENTIALS",
        `stock Antminer cannot ${action} without web credentials (username and password)`,
        false,
      );
    }
    return webClient(ctx, creds);
  }

  const locate: LocateSpec<DialectContext> = {
    async set(ctx, seconds) {
      await clientFor(ctx, "locate").setBlink(seconds > 0, ctx.signal);
      return undefined;
    },
    read: (ctx) => clientFor(ctx, "locate").getBlink(ctx.signal),
    endsAfter: null,
  };

  return {
    name: "antminer",
    capabilities: (endpoint) => (webCredentials(endpoint) ? [...WRITES] : []),
    read,
    confirmCapabilities,
    locate,
    async write(ctx, action, value) {
      const client = clientFor(ctx, action);
      const u = unitOf(ctx.endpoint, ctx.memo);
      switch (action) {
        case "sleep": {
          const { previous } = await client.changeWorkMode(() => WORK_MODE.sleep, ctx.signal);
          if (previous === WORK_MODE.low || previous === WORK_MODE.high) u.beforeSleep = previous;
          else if (previous !== WORK_MODE.sleep) u.beforeSleep = null;
          if (previous !== WORK_MODE.sleep) u.wroteAt = ctx.now();
          u.mode = WORK_MODE.sleep;
          return;
        }
        case "wake": {
          const target = u.beforeSleep ?? WORK_MODE.normal;
          // an awake unit (in whatever mode) is left as it is: a wake only leaves sleep
          const { previous, mode } = await client.changeWorkMode(
            (prev) => (prev === null || prev === WORK_MODE.sleep ? target : null),
            ctx.signal,
          );
          if (mode !== previous) u.wroteAt = ctx.now();
          u.beforeSleep = null;
          u.mode = mode;
          return;
        }
        case "setPowerLimit":
          if (value === undefined || !(value > 0)) {
            throw new DriverError("WK_ANTMINER_BAD_VALUE", "setPowerLimit needs a positive wattage", false);
          }
          return setPowerLimit({ ctx, client }, u, value);
        case "reboot":
          await client.reboot(ctx.signal);
          u.wroteAt = ctx.now();
          return;
      }
    },
  };
}

export const antminerDialect: DialectSpec = createAntminerDialect();
