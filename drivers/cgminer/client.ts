// CGMiner API client for one miner: sends (multi-)commands over the framing,
// parses JSON or text replies (repairing known firmware bugs), and reads the
// normalised MinerReading. read() never throws: every failure becomes a state
// (`unreachable`, `faulted`) with a reason, so one bad miner cannot break a sweep.
import { codedReason } from "../errors.ts";
import { snippet } from "../printable.ts";
import { samePoolsKept } from "../shared.ts";
import { DriverError, type MinerReading, type MinerState } from "../types.ts";
import type { DialectMemo } from "./driver.ts";
import { type ExchangeOptions, encodeRequest, exchange } from "./framing.ts";
import type { ModelLookup } from "./models.ts";
import { rows, splitMulti, statusOf } from "./normalize.ts";
import { type NormalizeInput, normalizeMiner, type SummaryMemo, summaryMemoOf } from "./reading.ts";
import { type Json, parseReplyJson } from "./repair.ts";
import { parseTextReply } from "./text.ts";

export interface MinerTarget {
  host: string;
  port: number;
  nominalW?: number | null;
  /** The site's models, for the nameplate estimate (a config's nominalW wins). */
  models?: ModelLookup | null;
}

export interface CommandResult {
  /** One parsed reply per command asked. */
  replies: Record<string, Json>;
  /** Repairs applied to invalid JSON (empty when the reply was valid). */
  repairs: string[];
}

/** The commands of one poll, joined into one request (cgminer API ≥ 3.1). */
export const READ_COMMANDS = ["version", "summary", "pools", "stats"] as const;
/**
 * The stock poll adds `devs`: a miner whose hashboards are all disabled or dead,
 * or that detected none, is faulted — its `summary` alone can look alive (a
 * lifetime average decaying slowly) or asleep (zero hashrate).
 */
const STOCK_READ_COMMANDS = [...READ_COMMANDS, "devs"] as const;

/** A read's tier (DialectContext): `detail: false` with a memo from a full read asks the summary only. */
export interface ReadTier {
  detail?: boolean;
  memo?: DialectMemo;
}

/** How one poll runs: its abort signal, its clock and its read tier. */
export interface PollOptions {
  signal?: AbortSignal | undefined;
  now?: () => number;
  tier?: ReadTier | undefined;
}

const MEMO_KEY = "cgminer";

/** The memo of the last full read, when this read is a summary-only one; null = read in full. */
export function keptFor(tier: ReadTier | undefined): SummaryMemo | null {
  if (tier?.detail !== false) return null;
  return (tier.memo?.[MEMO_KEY] as SummaryMemo | undefined) ?? null;
}

/** The commands of a summary-only read: `summary`, with `stats` where only stats gives power or uptime. */
export function summaryCommands(kept: Pick<SummaryMemo, "needsStats">): readonly string[] {
  return kept.needsStats ? SUMMARY_STATS_COMMANDS : SUMMARY_COMMANDS;
}
const SUMMARY_COMMANDS = ["summary"] as const;
const SUMMARY_STATS_COMMANDS = ["summary", "stats"] as const;

export class CgminerClient {
  readonly target: MinerTarget;
  readonly options: ExchangeOptions;

  constructor(target: MinerTarget, options: ExchangeOptions = {}) {
    this.target = target;
    this.options = options;
  }

  /** Sends `a+b+c` (or one command with a parameter) and returns one reply per command. */
  async command(
    commands: readonly string[],
    parameter?: string,
    signal?: AbortSignal,
  ): Promise<CommandResult> {
    const raw = await exchange(this.target, requestFor(commands, parameter), { ...this.options, signal });
    // the reply is read in a plain function: this frame, kept while the miner answers, then
    // holds a few registers rather than every local of the parsing
    return commandResult(raw, commands);
  }

  /**
   * One base poll: `commands` (a subset of version, summary, pools, stats) in one
   * round trip, normalised. A summary the miner answers with an error comes back
   * as a faulted reading with `ok: false`; transport failures throw a DriverError,
   * so a dialect can add its own extras before mapping failures to a state.
   */
  async poll(
    commands: readonly string[],
    { signal, now = Date.now, tier }: PollOptions = {},
  ): Promise<{ ok: boolean; reading: MinerReading; replies: Record<string, Json>; repairs: string[] }> {
    const kept = keptFor(tier);
    const result = await this.command(commands, undefined, signal);
    // the rest without a suspension: in a function of its own, as command()'s
    return this.pollResult(result, now, tier, kept);
  }

  private pollResult(
    { replies, repairs }: CommandResult,
    now: () => number,
    tier: ReadTier | undefined,
    kept: SummaryMemo | null,
  ): { ok: boolean; reading: MinerReading; replies: Record<string, Json>; repairs: string[] } {
    const summaryStatus = statusOf(replies.summary);
    if (!summaryStatus || summaryStatus.letter === "E" || summaryStatus.letter === "F") {
      const reason = `summary failed: ${summaryStatus?.msg ?? "missing from reply"}`;
      const failed = failedReading(now(), "faulted", reason);
      return { ok: false, reading: kept ? { ...failed, detailAt: null } : failed, replies, repairs };
    }
    const input: NormalizeInput = {
      at: now(),
      version: replies.version,
      summary: replies.summary,
      pools: replies.pools,
      stats: replies.stats,
      devs: replies.devs,
      nominalW: this.target.nominalW ?? null,
      models: this.target.models ?? null,
      kept,
    };
    const reading = normalizeMiner(input);
    if (kept) {
      // the driver fills the detail fields from the last full read
      reading.detailAt = null;
    } else if (tier?.memo) {
      // the memo holds its pools a detail period too (the driver's tiers keep theirs, for every
      // dialect, after this): the earlier objects when they are the same, in both
      const before = tier.memo[MEMO_KEY] as SummaryMemo | undefined;
      reading.pools = samePoolsKept(before?.pools, reading.pools);
      tier.memo[MEMO_KEY] = summaryMemoOf(input, reading);
    }
    return { ok: true, reading, replies, repairs };
  }

  /**
   * The stock poll: version, summary, pools, stats and devs in one round trip.
   * A firmware that refuses `devs` in a join (the whole request answered with
   * an error) is read without it, and asked again with it after a while.
   * Never throws.
   */
  async read(
    signal?: AbortSignal,
    now: () => number = Date.now,
    tier?: ReadTier,
  ): Promise<MinerReading & { repairs: string[] }> {
    const { reading, repairs } = await this.readWithRepairs(signal, now, tier);
    return Object.assign(reading, { repairs });
  }

  /** read() with the repairs beside the reading rather than on it (no copy of the reading to drop them). */
  async readWithRepairs(
    signal?: AbortSignal,
    now: () => number = Date.now,
    tier?: ReadTier,
  ): Promise<{ reading: MinerReading; repairs: string[] }> {
    const kept = keptFor(tier);
    const key = kept ? "" : `${this.target.host}:${this.target.port}`;
    const withDevs = !kept && (noDevsJoinUntil.get(key) ?? 0) <= now();
    const commands = kept ? summaryCommands(kept) : withDevs ? STOCK_READ_COMMANDS : READ_COMMANDS;
    try {
      // poll() without its frame and command()'s: one suspension for the whole read (a read in
      // flight holds each async frame of its path while the miner answers)
      const raw = await exchange(this.target, requestFor(commands, undefined), { ...this.options, signal });
      const { reading, repairs } = this.pollResult(commandResult(raw, commands), now, tier, kept);
      return { reading, repairs };
    } catch (err) {
      if (withDevs && err instanceof DriverError && err.code === "WK_CGMINER_ERROR_STATUS") {
        noDevsJoinUntil.set(key, now() + NO_DEVS_RETRY_MS);
        return this.readWithRepairs(signal, now, tier);
      }
      return { reading: summaryFailure(readingForError(err, now()), kept), repairs: [] };
    }
  }
}

/**
 * `check|<command>`: whether the firmware knows a command and lets this client
 * use it. Null when the firmware has no `check` itself (then nothing is known).
 */
export async function checkCommand(
  client: CgminerClient,
  command: string,
  signal?: AbortSignal,
): Promise<{ exists: boolean; access: boolean } | null> {
  let replies: Record<string, Json>;
  try {
    ({ replies } = await client.command(["check"], command, signal));
  } catch (err) {
    if (err instanceof DriverError && err.code === "WK_CGMINER_ERROR_STATUS") return null;
    throw err;
  }
  const row = rows(replies.check, "CHECK")[0];
  if (!row) return null;
  const yes = (v: Json | undefined) => typeof v === "string" && v.trim().toUpperCase() === "Y";
  return { exists: yes(row.Exists), access: yes(row.Access) };
}

/**
 * A summary-only read that failed short of unreachable: marked as such, so the driver reads in
 * full at once when the state changed (an unreachable miner is read in full when it is back).
 */
export function summaryFailure(reading: MinerReading, kept: SummaryMemo | null): MinerReading {
  if (kept && reading.state !== "unreachable") reading.detailAt = null;
  return reading;
}

/**
 * The request bytes of a command set without a parameter, built once: every poll of every
 * miner sends one of a handful (the tiers' summary, the full read…).
 */
const requestCache = new Map<string, Buffer>();
const REQUEST_CACHE_MAX = 64;

function requestFor(commands: readonly string[], parameter: string | undefined): Buffer {
  const command = commands.join("+");
  if (parameter !== undefined && parameter !== "") return encodeRequest(command, parameter);
  let request = requestCache.get(command);
  if (!request) {
    request = encodeRequest(command);
    if (requestCache.size < REQUEST_CACHE_MAX) requestCache.set(command, request);
  }
  return request;
}

/** The replies of one exchange, one per command asked; a firmware's refusal or a non-API peer throws. */
function commandResult(raw: Buffer, commands: readonly string[]): CommandResult {
  const text = raw.toString("utf8");
  const first = text[firstNonSpace(text)];
  let parsed: Json;
  let repairs: string[] = [];
  if (first === "{" || first === "[" || first === ",") {
    const r = parseReplyJson(text);
    parsed = r.value;
    repairs = r.repairs;
  } else if (/^(CMD=|STATUS=)/.test(text)) {
    parsed = parseTextReply(text);
  } else if (/^Socket connect failed/i.test(text)) {
    // a restarting miner's API proxy, before the miner process listens behind it
    throw new DriverError("WK_CGMINER_NOT_READY", `miner API not ready: ${snippet(text.trim(), 80)}`, true);
  } else {
    // an HTTP server, an SSH banner, a printer: something answers on this port, not a miner
    throw new DriverError(
      "WK_CGMINER_NOT_CGMINER_API",
      `not-a-cgminer-api: the host answers with "${snippet(raw)}", not the CGMiner API`,
      false,
    );
  }
  // a multi-command request refused as a whole comes back as one plain STATUS reply
  const whole = commands.length > 1 ? statusOf(parsed) : null;
  if (whole?.code === 45) {
    throw new DriverError("WK_CGMINER_ACCESS_DENIED", `access denied: ${whole.msg} (Code 45)`, false);
  }
  if (whole && (whole.letter === "E" || whole.letter === "F")) {
    throw new DriverError(
      "WK_CGMINER_ERROR_STATUS",
      `${commands.join("+")}: ${whole.msg} (Code ${whole.code ?? "?"})`,
      false,
    );
  }
  const replies = splitMulti(parsed, commands);
  for (const cmd of commands) {
    const st = statusOf(replies[cmd]);
    if (st?.code === 45) {
      throw new DriverError("WK_CGMINER_ACCESS_DENIED", `access denied to '${cmd}' (Code 45)`, false);
    }
    if (st && (st.letter === "E" || st.letter === "F") && commands.length === 1) {
      throw new DriverError("WK_CGMINER_ERROR_STATUS", `${cmd}: ${st.msg} (Code ${st.code ?? "?"})`, false);
    }
  }
  return { replies, repairs };
}

/** Index of the first character that is not white space (a reply's kind is its first), without trimStart's copy. */
function firstNonSpace(text: string): number {
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    // beyond ASCII (a BOM, a no-break space): String.prototype.trimStart's own idea of space
    if (c >= 0x80) return text.length - text.trimStart().length;
    if (c !== 0x20 && (c < 0x09 || c > 0x0d)) break;
    i++;
  }
  return i;
}

/** Miners (host:port) whose firmware refused `devs` in a joined request, until when. */
const noDevsJoinUntil = new Map<string, number>();
const NO_DEVS_RETRY_MS = 10 * 60_000;

/** Maps a failure to the state the site should see. */
export function readingForError(err: unknown, at: number): MinerReading {
  if (err instanceof DriverError) {
    switch (err.code) {
      case "WK_CGMINER_REFUSED":
      case "WK_CGMINER_TIMEOUT":
      case "WK_CGMINER_RESET":
      case "WK_CGMINER_UNREACHABLE":
      case "WK_CGMINER_IO":
      case "WK_CGMINER_EMPTY_REPLY":
      case "WK_CGMINER_ABORTED":
        return failedReading(at, "unreachable", `${err.code}: ${err.message}`);
      case "WK_CGMINER_NOT_READY":
        return failedReading(at, "starting", `${err.code}: ${err.message}`);
      default:
        return failedReading(at, "faulted", `${err.code}: ${err.message}`);
    }
  }
  return failedReading(
    at,
    "faulted",
    codedReason("WK_CGMINER_INTERNAL", `${(err as Error)?.message ?? String(err)}`),
  );
}

export function failedReading(at: number, state: MinerState, reason: string): MinerReading {
  return {
    at,
    state,
    reason,
    hashrateThs: null,
    powerW: null,
    powerEstimated: false,
    powerLimitW: null,
    boardTempsC: [],
    chipTempMaxC: null,
    fanRpm: [],
    pools: [],
    uptimeS: null,
    firmware: null,
    model: null,
  };
}
