// Stock cgminer / bmminer: the API on 4028 is read-only (privileged commands
// are denied with Code 45 on stock firmware). Stock Antminers are controlled
// through their web CGI instead (antminer-web.ts): with a username and password
// configured, this dialect can sleep (`miner-mode` 1) and wake (`miner-mode` 0,
// or the low/high power mode the unit was in before it was slept).
//
// Reads stay one 4028 round trip. Only when a reading shows the unit not hashing
// (and credentials exist) does the dialect also ask get_miner_conf: work mode 1
// means the unit was put to sleep, so it reads `sleeping` rather than faulted,
// starting or (while bmminer restarts after a config write) refused.
import { DriverError, type MinerReading } from "../../types.ts";
import {
  AntminerWebClient,
  type DigestCredentials,
  type WebTimeouts,
  WORK_MODE,
  workModeOf,
} from "../antminer-web.ts";
import { CgminerClient } from "../client.ts";
import type { DialectContext, DialectSpec, MinerEndpoint } from "../driver.ts";

export interface CgminerDialectOptions {
  /** Deadlines of the web CGI (defaults: connect 3 s, read 10 s, write 30 s). */
  web?: Partial<WebTimeouts>;
}

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

/** The mode a unit was in before we slept it (low/high power), to restore it on wake. */
const modeBeforeSleep = new Map<string, number>();

export function createCgminerDialect(opts: CgminerDialectOptions = {}): DialectSpec {
  const webClient = (ctx: DialectContext, creds: DigestCredentials) =>
    new AntminerWebClient({ host: ctx.endpoint.host, webPort: ctx.endpoint.webPort }, creds, opts.web);
  const unitKey = (ep: MinerEndpoint) => `${ep.host}:${ep.webPort ?? 80}`;

  /** Adds what the web config says to a reading that shows no hashing. */
  async function withWorkMode(
    ctx: DialectContext,
    creds: DigestCredentials,
    reading: MinerReading,
  ): Promise<MinerReading> {
    let mode: number | null;
    try {
      mode = workModeOf(await webClient(ctx, creds).getMinerConf(ctx.signal));
    } catch (err) {
      const why = err instanceof DriverError ? err.code : "web error";
      return { ...reading, reason: `${reading.reason ?? "not hashing"}; work mode unknown (${why})` };
    }
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

  return {
    name: "cgminer",
    capabilities: (endpoint) => (webCredentials(endpoint) ? ["sleep", "wake"] : []),
    // sleep and wake go through the web CGI: a miner that speaks the CGMiner API but has
    // no Antminer web server (bfgminer, cgminer on a PC, a locked-down unit) cannot do them
    async confirmCapabilities(ctx, declared) {
      const creds = webCredentials(ctx.endpoint);
      if (!creds) return [];
      try {
        await webClient(ctx, creds).getMinerConf(ctx.signal);
        return [];
      } catch (err) {
        if (!(err instanceof DriverError) || !WEB_DEFINITE_NO.test(err.code)) throw err;
        const reason = `the Antminer web CGI (port ${ctx.endpoint.webPort ?? 80}) ${WEB_NO_WORDS[err.code] ?? "fails"}: ${err.message}`;
        return declared.map((capability) => ({ capability, reason }));
      }
    },
    async read(ctx) {
      const client = new CgminerClient(ctx.endpoint, ctx.exchange);
      const { repairs: _repairs, ...reading } = await client.read(ctx.signal, ctx.now);
      const creds = webCredentials(ctx.endpoint);
      // the hot path: a hashing miner costs one 4028 round trip, nothing more
      if (!creds || reading.state === "hashing" || (reading.hashrateThs ?? 0) > 0) return reading;
      if (reading.state === "unreachable" && !WEB_WORTH_ASKING.test(reading.reason ?? "")) return reading;
      const out = await withWorkMode(ctx, creds, reading);
      return { ...out, at: ctx.now() };
    },
    async write(ctx, action) {
      const creds = webCredentials(ctx.endpoint);
      if (!creds || (action !== "sleep" && action !== "wake")) {
        throw new DriverError(
          "WK_CGMINER_UNSUPPORTED",
          creds ? `stock cgminer cannot ${action}` : `stock cgminer cannot ${action} without web credentials`,
          false,
        );
      }
      const client = webClient(ctx, creds);
      const key = unitKey(ctx.endpoint);
      if (action === "sleep") {
        const previous = await client.setWorkMode(WORK_MODE.sleep, ctx.signal);
        if (previous === WORK_MODE.low || previous === WORK_MODE.high) modeBeforeSleep.set(key, previous);
        else if (previous !== WORK_MODE.sleep) modeBeforeSleep.delete(key);
      } else {
        await client.setWorkMode(modeBeforeSleep.get(key) ?? WORK_MODE.normal, ctx.signal);
        modeBeforeSleep.delete(key);
      }
    },
  };
}

export const cgminerDialect: DialectSpec = createCgminerDialect();
