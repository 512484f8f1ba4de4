// A grid signal: an instruction from outside the site (a QSE's RTU over
// Modbus, a dry contact, an aggregator's MQTT target, an OpenADR event) turned
// into one more budget source. Each has a state, a value while it constrains
// the budget, since when, and why — what /api/site, /metrics, events and the
// audit log show.
const SIGNAL_KINDS = ["modbus", "contact", "target", "openadr"] as const;
type SignalKind = (typeof SIGNAL_KINDS)[number];

export const SIGNAL_STATES = ["active", "idle", "stale", "error"] as const;
/**
 * active: it constrains the budget now; idle: reachable, nothing asked;
 * stale: its feed stopped (what it does then is its onStale/failPolicy);
 * error: it cannot work (a port it cannot bind, a VTN refusing the login).
 */
type SignalState = (typeof SIGNAL_STATES)[number];

/** What happens when a signal's feed goes quiet. */
export type OnStale = "release" | "hold" | "failsafe";

export interface SignalStatus {
  name: string;
  kind: SignalKind;
  state: SignalState;
  /** The budget (W) it asks for while it constrains the site; null when it does not. */
  budgetW: number | null;
  /**
   * Or, for a target: the share (0..1) of the flexible load to keep running,
   * which the site turns into a budget against the flexible load of the moment.
   */
  keepFraction?: number | null;
  /** Epoch ms the state last changed. */
  since: number;
  reason: string;
}

/** A signal input: started and stopped with the site, asked for its status every tick. */
export interface SignalInput {
  readonly name: string;
  readonly kind: SignalKind;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(now: number): SignalStatus;
}

/** What a signal may read of the site (the Modbus server reports it back to the RTU). */
export interface SiteReadback {
  /** Measured (or estimated) site power, W; null when unknown. */
  powerW: number | null;
  budgetW: number | null;
  /** Mining power that could be shed now, W. */
  flexibleW: number;
  loopHealthy: boolean;
  meterOk: boolean;
  failsafe: boolean;
}
