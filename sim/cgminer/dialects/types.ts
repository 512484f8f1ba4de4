// Extension point for vendor dialects served on the CGMiner API port: a dialect
// adds or overrides command handlers (LuxOS `curtail`, Braiins `pause`, Avalon
// `ascset`…) and may take over a raw request entirely (Whatsminer's encrypted
// envelope). Each dialect lives in its own module and exports its SimDialect;
// ./index.ts lists them by name.
import type { MinerView, PowerModel } from "../../power-model.ts";
import type { Reply } from "../replies.ts";

/** One command addressed to one simulated miner. */
export interface SimCall {
  id: string;
  view: MinerView;
  model: PowerModel;
  command: string;
  param: string;
  /** Per-miner scratch state the dialect keeps between connections (sessions, tokens, work level). */
  state: Map<string, unknown>;
  /** Address of the client (dialects with per-client rules, e.g. token limits). */
  remoteAddress: string;
}

export interface SimDialect {
  name: string;
  /** STATUS `Description` of replies (e.g. "LUXminer 2024.6.0"); default the stock one. */
  description?: string;
  /** Handlers by command name; they take precedence over the stock ones. */
  handlers: Record<string, (call: SimCall) => Reply>;
  /**
   * Takes over a whole request before the stock parsing (return null to fall
   * through): for dialects whose envelope is not cgminer's.
   */
  answerRaw?: (call: Omit<SimCall, "command" | "param">, raw: Buffer) => string | null;
}
