// How a simulated cgminer answers one request, apart from the socket: the
// request parsed (JSON `{"command","parameter"}` or the plain `cmd|param`
// form), `+`-joined commands split, each command answered by the miner's
// vendor dialect when it has a handler, else by the stock read-only API
// (privileged commands known but denied), and the reply rendered back in the
// request's own form. sim/cgminer/server.ts owns the connections.
import type { PowerModel } from "../power-model.ts";
import { SIM_DIALECTS } from "./dialects/index.ts";
import type { SimDialect } from "./dialects/types.ts";
import {
  CODE,
  configReply,
  DESCRIPTION,
  devdetailsReply,
  devsReply,
  errorReply,
  type MinerFlavour,
  poolsReply,
  type Reply,
  renderJoined,
  renderJson,
  renderText,
  statsReply,
  summaryReply,
  versionReply,
} from "./replies.ts";

/** What answering needs of one simulated miner. */
export interface AnsweringMiner {
  id: string;
  flavour: MinerFlavour;
  dialect: SimDialect | null;
  /** The dialect's per-miner state (sessions, tokens…). */
  dialectState: Map<string, unknown>;
}

/** The dialect a miner spec names; null for the stock API. */
export function simDialect(name: string | undefined): SimDialect | null {
  // stock Antminers (bmminer) answer the stock API; their web CGI is sim/antminer-web's
  if (name === undefined || name === "cgminer" || name === "antminer") return null;
  const d = SIM_DIALECTS[name];
  if (!d)
    throw new Error(
      `cgminer sim: unknown dialect "${name}" (known: cgminer, ${Object.keys(SIM_DIALECTS).join(", ")})`,
    );
  return d;
}

type Handler = (model: PowerModel, m: AnsweringMiner) => Reply;

const view = (model: PowerModel, m: AnsweringMiner) => model.minerView(m.id);
const HANDLERS: Record<string, Handler> = {
  version: (model, m) => versionReply(view(model, m), m.flavour),
  summary: (model, m) => summaryReply(view(model, m), m.flavour),
  pools: (model, m) => poolsReply(view(model, m), m.flavour),
  devs: (model, m) => devsReply(view(model, m), m.flavour),
  stats: (model, m) => statsReply(view(model, m), m.flavour),
  devdetails: (model, m) => devdetailsReply(view(model, m)),
  config: (model, m) => configReply(view(model, m)),
};

/** Privileged commands of stock cgminer: known, but denied on a read-only API. */
const PRIVILEGED = new Set([
  "privileged",
  "switchpool",
  "enablepool",
  "disablepool",
  "addpool",
  "removepool",
  "poolpriority",
  "poolquota",
  "save",
  "quit",
  "restart",
  "ascenable",
  "ascdisable",
  "ascidentify",
  "ascset",
  "pgaenable",
  "pgadisable",
  "pgaset",
  "debug",
  "zero",
  "hotplug",
  "setconfig",
  "lockstats",
]);

function checkReply(m: AnsweringMiner, param: string): Reply {
  if (param === "") return errorReply(CODE.MISCHK, "Missing check cmd");
  // a vendor dialect's own commands (LuxOS curtail, Avalon ascset) are its to grant
  const own = m.dialect?.handlers[param] !== undefined;
  const exists = own || HANDLERS[param] !== undefined || param === "check" || PRIVILEGED.has(param);
  const access = own || (exists && !PRIVILEGED.has(param));
  return {
    severity: "S",
    code: CODE.CHECK,
    msg: "Check command",
    section: {
      name: "CHECK",
      textPrefix: true,
      items: [{ Exists: exists ? "Y" : "N", Access: access ? "Y" : "N" }],
    },
  };
}

function answerOne(
  model: PowerModel,
  m: AnsweringMiner,
  call: { cmd: string; param: string; remoteAddress: string },
): Reply {
  const { cmd, param } = call;
  const custom = m.dialect?.handlers[cmd];
  if (custom) {
    return custom({
      id: m.id,
      view: view(model, m),
      model,
      command: cmd,
      param,
      state: m.dialectState,
      remoteAddress: call.remoteAddress,
    });
  }
  const h = HANDLERS[cmd];
  if (h) return h(model, m);
  if (cmd === "check") return checkReply(m, param);
  // stock firmware: the API is read-only; control goes through the vendor's own means
  if (PRIVILEGED.has(cmd)) return errorReply(CODE.ACCDENY, `Access denied to '${cmd}' command`);
  return errorReply(CODE.INVCMD, "Invalid command");
}

/** The reply text to one whole request `raw` from `remoteAddress`. */
export function answerRequest(
  model: PowerModel,
  m: AnsweringMiner,
  { raw, remoteAddress }: { raw: Buffer; remoteAddress: string },
): string {
  const ctx = { when: Math.floor(model.now() / 1000), description: m.dialect?.description ?? DESCRIPTION };
  const takeover = m.dialect?.answerRaw?.(
    { id: m.id, view: view(model, m), model, state: m.dialectState, remoteAddress },
    raw,
  );
  if (takeover != null) return takeover;
  const isJson = raw[0] === 0x7b;
  let cmd: string;
  let param = "";
  if (isJson) {
    let req: unknown;
    try {
      req = JSON.parse(stripTrailer(raw.toString("utf8")));
    } catch {
      return renderJson(errorReply(CODE.INVJSON, "Invalid JSON"), ctx);
    }
    const command = (req as { command?: unknown } | null)?.command;
    if (typeof command !== "string") {
      return renderJson(errorReply(CODE.MISCMD, "Missing JSON 'command'"), ctx);
    }
    cmd = command;
    const p = (req as { parameter?: unknown }).parameter;
    if (typeof p === "string" || typeof p === "number") param = String(p);
  } else {
    const text = stripTrailer(raw.toString("latin1"));
    const bar = text.indexOf("|");
    cmd = bar < 0 ? text : text.slice(0, bar);
    param = bar < 0 ? "" : text.slice(bar + 1);
  }
  if (cmd.includes("+")) {
    // duplicates collapse; each member gets its own reply, a bad one its own E
    const names = [...new Set(cmd.split("+").filter((c) => c !== ""))];
    const parts = names.map((c) => ({
      cmd: c,
      reply: answerOne(model, m, { cmd: c, param: "", remoteAddress }),
    }));
    return renderJoined(parts, ctx, isJson);
  }
  const reply = answerOne(model, m, { cmd, param, remoteAddress });
  return isJson ? renderJson(reply, ctx) : renderText(reply, ctx);
}

/** Trailing NULs, newlines and spaces some clients send after the request. */
function stripTrailer(s: string): string {
  return s.replace(/[\s\0]+$/, "");
}

/** Whether a JSON request's outer object has closed (strings and escapes respected). */
export function jsonBalanced(buf: Buffer): boolean {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return true;
    }
  }
  return false;
}
