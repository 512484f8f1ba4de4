// The contract between a dialect and the MinerDriver around it (driver.ts): the
// endpoint, the context a dialect's functions get, and the DialectSpec each
// dialect exports. Types and two constants only; driver.ts re-exports them for
// the dialects that import them from there.
import type { Dialect, MinerCapability, MinerReading, OnSent } from "../types.ts";
import type { ExchangeOptions } from "./framing.ts";
import type { HttpReply } from "./http-client.ts";
import type { LocateSpec } from "./locate.ts";
import type { ModelLookup } from "./models.ts";
import type { RecentReplies } from "./recent-replies.ts";

/** A firmware API the drivers speak: every dialect a config may name, less `auto`. */
export type DialectName = Exclude<Dialect, "auto">;

export interface MinerCredentials {
  username: string | null;
  password: string | null;
}

export interface MinerEndpoint {
  host: string;
  port: number;
  nominalW?: number | null;
  credentials?: MinerCredentials | null;
  /** Web/REST API port (stock Antminer CGI, VNish, AxeOS, Proto…); absent = the dialect's default. */
  webPort?: number;
  grpcPort?: number; // Braiins OS gRPC API (power target) port; default 50051
  /**
   * The models the site knows (config/models), looked up by the model the miner reports:
   * its nameplate for estimates, and its power-limit range (a limit outside it is refused
   * before it is sent).
   */
  models?: ModelLookup | null;
}

/** What a dialect's functions get: where the miner is and how to talk to it. */
export interface DialectContext {
  endpoint: MinerEndpoint;
  exchange: ExchangeOptions;
  signal?: AbortSignal;
  now: () => number;
  /**
   * Reads: false asks for the essentials only (state, hashrate, power, limits: what control
   * needs), true or absent for everything. A dialect that honours false returns its reading
   * with `detailAt: null`, and the driver fills the detail fields from the last full read; one
   * that cannot split its read ignores it (see MinerDriver.read).
   */
  detail?: boolean;
  /**
   * What the dialect keeps of this miner between reads (one object per driver): what a
   * summary-only read needs from the last full read (the model, the ideal hashrate…).
   */
  memo?: DialectMemo;
  /** First contact only: GET replies got moments ago, reused (recent-replies.ts). */
  recent?: RecentReplies<HttpReply> | undefined;
  /**
   * Writes: the dialect calls this as soon as the command itself has been
   * answered, before any clean-up exchange (LuxOS logoff), so the caller can
   * send the next command. The driver calls it again after the write and waits
   * for what it returns before reading back: in a fleet-wide shed the caller
   * holds read-backs until every command is out.
   */
  onSent?: OnSent;
}

/** A dialect's own notes on one miner, by the dialect's key (DialectContext.memo). */
export type DialectMemo = Record<string, unknown>;

/**
 * One write. `value`: the wattage of setPowerLimit; for locate, the seconds the
 * LED blinks (0 turns it off).
 */
export type WriteAction = MinerCapability;
/** The writes a dialect's `write` sends; `locate` goes through its `locate` spec. */
export type PowerWriteAction = Exclude<WriteAction, "locate">;

export interface DialectSpec {
  name: DialectName;
  /** Capabilities for this endpoint (some depend on credentials being configured). */
  capabilities(endpoint: MinerEndpoint): MinerCapability[];
  read(ctx: DialectContext): Promise<MinerReading>;
  /**
   * A lighter read for confirming a write (state, power, limit, uptime are
   * enough): a fleet-wide shed reads every miner back, so this is one short
   * exchange where the dialect allows. Default: read().
   */
  confirmRead?(ctx: DialectContext): Promise<MinerReading>;
  /** Sends one write; throws a DriverError when the miner refuses it. Confirmation is the driver's job. */
  write(ctx: DialectContext, action: PowerWriteAction, value?: number): Promise<void>;
  /**
   * How the firmware blinks its locate LED (locate.ts), where it can; a dialect that has it
   * declares the `locate` capability.
   */
  locate?: LocateSpec<DialectContext>;
  /** Releases sessions or tokens the dialect keeps (LuxOS logoff). */
  close?(ctx: DialectContext): Promise<void>;
  /**
   * A read-only touch of the write path at first contact (LuxOS logon/logoff,
   * the Antminer web CGI answering, `check|ascset`…): which of `declared` the
   * miner really offers. Returns the capabilities it does not, each with why.
   * Throws when the answer is not known yet (the miner did not answer): the
   * driver asks again at the next read.
   */
  confirmCapabilities?(ctx: DialectContext, declared: MinerCapability[]): Promise<Withdrawn[]>;
  /**
   * `dialect: auto` and `scan` for firmwares the CGMiner API does not name (an HTTP API, a
   * vendor's own port): a read-only request that tells this firmware from the others. Probes
   * are asked at once after the CGMiner JSON probe on the API port; the first in the
   * registry's order that recognises its firmware wins.
   */
  detectProbe?: DetectProbe;
}

/** One read-only detection probe of a dialect (see DialectSpec.detectProbe). */
export interface DetectProbe {
  /** The port the probe asks on (usually the endpoint's webPort, else the firmware's default). */
  port(endpoint: MinerEndpoint): number;
  /**
   * The firmware also keeps a CGMiner API that names no vendor (VNish on an Antminer): the probe
   * is asked after a plain CGMiner answer too. Others are asked only when the API port gave no
   * CGMiner answer, so a scan of stock miners does not pay for every firmware's probe.
   */
  behindPlainCgminer?: boolean;
  /** Evidence text when the host speaks this firmware (e.g. "GET /api/v1/info: VNish 1.2.6"), else null. Throws only on transport failure. */
  probe(ctx: DialectContext): Promise<string | null>;
}

/** A capability the dialect declares but the miner turned out not to offer. */
export interface Withdrawn {
  capability: MinerCapability;
  reason: string;
}

/** Withdrawn capabilities are asked again this often: a firmware update may bring them. */
export const RECONFIRM_WITHDRAWN_MS = 10 * 60_000;
/** A probe the miner did not answer is asked again after this long, not at every read. */
export const REPROBE_UNANSWERED_MS = 30_000;
