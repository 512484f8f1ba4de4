// Simulated stock cgminer/bmminer API servers, one TCP listener per miner (a
// distinct loopback address or port each), answering from the power model.
// Framing follows cgminer's api.c: one request per connection, read from the
// first chunk(s) up to 4 KB; the reply ends with a NUL and the server closes.
// A faulted miner's listener is closed, so connects are refused as they are
// while a real unit reboots. Per-connection work is a parse and one render: the
// sim is benchmarked with thousands of miners polled at once.
import net from "node:net";
import { type Logger, pino } from "pino";
import { bindListener, closeListener } from "../listener.ts";
import type { MinerState, PowerModel } from "../power-model.ts";
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
  type MinerProgram,
  poolsReply,
  type Reply,
  renderJoined,
  renderJson,
  renderText,
  statsReply,
  summaryReply,
  versionReply,
} from "./replies.ts";

export interface CgminerSimMiner {
  id: string;
  host: string;
  port: number;
  /** Model key (sim/models.ts); only used when the miner is not yet in the power model. */
  model?: string;
  /** Antminer's `}{` in `stats` JSON; default on (the bmminer flavour). */
  statsQuirk?: boolean;
  /** A vendor dialect listed in sim/cgminer/dialects/index.ts; default stock cgminer. */
  dialect?: string;
  /** Answer this late (ms): a busy or wedged miner process. */
  replyDelayMs?: number;
  /** The program answering (stock dialect only): bmminer (default), cgminer 4.11, bfgminer 5.5. */
  program?: MinerProgram;
}

export interface CgminerSimOptions {
  miners: CgminerSimMiner[];
  model: PowerModel;
  logger?: Logger;
  /** How long to wait for the rest of an incomplete JSON request before answering Code 23. */
  requestTimeoutMs?: number;
  /** A client that never closes its side is cut off this long after the reply. */
  lingerMs?: number;
}

export interface CgminerSim {
  /** Where each miner listens (the real port when 0 was asked for). */
  readonly endpoints: ReadonlyArray<{ id: string; host: string; port: number }>;
  /** Whether a miner's listener is open (false while faulted). */
  isListening(id: string): boolean;
  /**
   * A misbehaving miner (soak, fuzz, tests): replies this late, with garbage
   * bytes instead of its reply, closes every connection at once without a
   * word (what cgminer does to a host outside its `--api-allow` list), or is
   * an HTTP server rather than a miner; or reports every pool dead while it
   * hashes on. `{}` restores it.
   */
  setMisbehaviour(id: string, how: Misbehaviour): void;
  /** Resolves once listeners closed/reopened by fault changes have settled. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export interface Misbehaviour {
  replyDelayMs?: number;
  garbage?: boolean;
  closeSilently?: boolean;
  http?: boolean;
  poolsDead?: boolean;
}

/** What a web server says to a CGMiner request (our own bytes, as a small embedded server answers). */
const HTTP_REPLY = Buffer.from(
  "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 50\r\nConnection: close\r\n\r\n<html><body><h1>400 Bad Request</h1></body></html>",
  "latin1",
);

/** A reply cut short and with bytes flipped: what a miner with a failing controller sends. */
function garbageLike(reply: string): Buffer {
  const b = Buffer.from(reply.slice(0, Math.max(1, Math.floor(reply.length * Math.random()))), "utf8");
  for (let i = 0; i < 4 && b.length > 0; i++)
    b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
  return b;
}

/** cgminer reads a request with a single recv of about 4 KB. */
const MAX_REQUEST = 4096;
const NUL = Buffer.from([0]);

type Handler = (m: MinerEntry) => Reply;

interface MinerEntry {
  id: string;
  host: string;
  port: number;
  flavour: MinerFlavour;
  dialect: SimDialect | null;
  replyDelayMs: number;
  /** Set at run time: added delay, garbage instead of the reply, silent close, HTTP. */
  misbehaviour: Required<Omit<Misbehaviour, "poolsDead">>;
  /** The dialect's per-miner state (sessions, tokens…). */
  dialectState: Map<string, unknown>;
  server: net.Server | null;
  sockets: Set<net.Socket>;
  /** Serialises listener close/reopen when faults toggle quickly. */
  ops: Promise<void>;
}

function simDialect(name: string | undefined): SimDialect | null {
  // stock Antminers (bmminer) answer the stock API; their web CGI is sim/antminer-web's
  if (name === undefined || name === "cgminer" || name === "antminer") return null;
  const d = SIM_DIALECTS[name];
  if (!d)
    throw new Error(
      `cgminer sim: unknown dialect "${name}" (known: cgminer, ${Object.keys(SIM_DIALECTS).join(", ")})`,
    );
  return d;
}

export async function startCgminerSim(opts: CgminerSimOptions): Promise<CgminerSim> {
  const { model } = opts;
  const log = (opts.logger ?? pino({ level: "silent" })).child({ component: "sim-cgminer" });
  const requestTimeoutMs = opts.requestTimeoutMs ?? 1000;
  const lingerMs = opts.lingerMs ?? 5000;
  const entries = new Map<string, MinerEntry>();
  const inflight = new Set<Promise<void>>();
  let stopped = false;

  const view = (m: MinerEntry) => model.minerView(m.id);
  const handlers: Record<string, Handler> = {
    version: (m) => versionReply(view(m), m.flavour),
    summary: (m) => summaryReply(view(m), m.flavour),
    pools: (m) => poolsReply(view(m), m.flavour),
    devs: (m) => devsReply(view(m), m.flavour),
    stats: (m) => statsReply(view(m), m.flavour),
    devdetails: (m) => devdetailsReply(view(m)),
    config: (m) => configReply(view(m)),
  };

  function answerOne(m: MinerEntry, cmd: string, param: string, remoteAddress: string): Reply {
    const custom = m.dialect?.handlers[cmd];
    if (custom) {
      return custom({
        id: m.id,
        view: view(m),
        model,
        command: cmd,
        param,
        state: m.dialectState,
        remoteAddress,
      });
    }
    const h = handlers[cmd];
    if (h) return h(m);
    if (cmd === "check") {
      if (param === "") return errorReply(CODE.MISCHK, "Missing check cmd");
      // a vendor dialect's own commands (LuxOS curtail, Avalon ascset) are its to grant
      const own = m.dialect?.handlers[param] !== undefined;
      const exists = own || handlers[param] !== undefined || param === "check" || PRIVILEGED.has(param);
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
    // stock firmware: the API is read-only; control goes through the vendor's own means
    if (PRIVILEGED.has(cmd)) return errorReply(CODE.ACCDENY, `Access denied to '${cmd}' command`);
    return errorReply(CODE.INVCMD, "Invalid command");
  }

  function answer(m: MinerEntry, raw: Buffer, remoteAddress: string): string {
    const ctx = { when: Math.floor(model.now() / 1000), description: m.dialect?.description ?? DESCRIPTION };
    const takeover = m.dialect?.answerRaw?.(
      { id: m.id, view: view(m), model, state: m.dialectState, remoteAddress },
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
      const parts = names.map((c) => ({ cmd: c, reply: answerOne(m, c, "", remoteAddress) }));
      return renderJoined(parts, ctx, isJson);
    }
    const reply = answerOne(m, cmd, param, remoteAddress);
    return isJson ? renderJson(reply, ctx) : renderText(reply, ctx);
  }

  function onConnection(m: MinerEntry, sock: net.Socket): void {
    m.sockets.add(sock);
    sock.on("close", () => m.sockets.delete(sock));
    if (m.misbehaviour.closeSilently) {
      // cgminer accepts, sees the peer is not allowed, and closes: no byte sent
      sock.on("error", () => {});
      sock.destroySoon();
      return;
    }
    let buf: Buffer | null = null;
    let answered = false;
    sock.setNoDelay(true);
    sock.setTimeout(requestTimeoutMs);

    const respond = () => {
      if (answered) return;
      answered = true;
      sock.setTimeout(lingerMs);
      if (!buf || buf.length === 0) {
        sock.end();
        return;
      }
      let reply: string;
      try {
        reply = answer(m, buf, sock.remoteAddress ?? "");
      } catch (err) {
        // a miner removed from the model mid-flight: behave like a crashed process
        log.debug({ miner: m.id, err }, "reply failed");
        sock.destroy();
        return;
      }
      buf = null;
      const bytes = m.misbehaviour.http
        ? HTTP_REPLY
        : m.misbehaviour.garbage
          ? garbageLike(reply)
          : Buffer.concat([Buffer.from(reply, "utf8"), NUL]);
      const delayMs = m.replyDelayMs + m.misbehaviour.replyDelayMs;
      if (delayMs > 0) {
        // a slow miner: the socket's own linger timeout still ends a client that gave up
        const t = setTimeout(() => sock.end(bytes), delayMs);
        sock.once("close", () => clearTimeout(t));
      } else sock.end(bytes);
    };

    sock.on("data", (chunk: Buffer) => {
      if (answered) return;
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      if (buf.length >= MAX_REQUEST) {
        buf = buf.subarray(0, MAX_REQUEST);
        respond();
      } else if (buf[0] !== 0x7b || jsonBalanced(buf)) {
        respond();
      }
    });
    // the client half-closed: answer what arrived (or just close when nothing did)
    sock.on("end", respond);
    sock.on("timeout", () => {
      if (answered) sock.destroy();
      else respond();
    });
    sock.on("error", (err) => log.trace({ miner: m.id, err }, "socket error"));
  }

  function listen(m: MinerEntry): Promise<void> {
    const server = net.createServer({ allowHalfOpen: true }, (s) => onConnection(m, s));
    return bindListener(m, server, "cgminer sim: miner", log, 128);
  }

  // close() drops the listening socket at once: new connects are refused from here on
  const close = closeListener;

  function enqueue(m: MinerEntry, op: () => Promise<void>): void {
    const p = m.ops.then(op).catch((err) => log.warn({ miner: m.id, err }, "listener change failed"));
    m.ops = p;
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }

  // Makes a listener match the model: open unless faulted (or stopped). Queued per
  // miner, so a fault toggled while a reopen is still binding ends up right.
  const reconcile = async (m: MinerEntry) => {
    const want = !stopped && model.state(m.id) !== "faulted";
    if (want && !m.server) await listen(m);
    else if (!want && m.server) await close(m);
  };

  const onState = (id: string, state: MinerState, prev: MinerState) => {
    const m = entries.get(id);
    if (!m || stopped || (state !== "faulted" && prev !== "faulted")) return;
    // close at once so a connect right after setFaulted() is already refused
    if (state === "faulted" && m.server) void close(m);
    enqueue(m, () => reconcile(m));
  };

  for (const cfg of opts.miners) {
    if (entries.has(cfg.id)) throw new Error(`cgminer sim: duplicate miner id "${cfg.id}"`);
    if (!model.hasMiner(cfg.id)) model.addMiner(cfg.id, cfg.model);
    entries.set(cfg.id, {
      id: cfg.id,
      host: cfg.host,
      port: cfg.port,
      flavour: {
        statsQuirk: cfg.statsQuirk ?? true,
        poolUser: `wattkeeper.${cfg.id}`,
        program: cfg.program ?? "bmminer",
        poolsDead: false,
      },
      dialect: simDialect(cfg.dialect),
      replyDelayMs: cfg.replyDelayMs ?? 0,
      misbehaviour: { replyDelayMs: 0, garbage: false, closeSilently: false, http: false },
      dialectState: new Map(),
      server: null,
      sockets: new Set(),
      ops: Promise.resolve(),
    });
  }
  const unsubscribe = model.onStateChange(onState);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    await Promise.all([...inflight]);
    await Promise.all([...entries.values()].map(close));
  };

  const results = await Promise.allSettled(
    [...entries.values()].filter((m) => model.state(m.id) !== "faulted").map(listen),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  log.info({ miners: entries.size }, "cgminer sim listening");

  return {
    get endpoints() {
      return [...entries.values()].map((m) => ({ id: m.id, host: m.host, port: m.port }));
    },
    isListening: (id) => entries.get(id)?.server?.listening === true,
    setMisbehaviour: (id, how) => {
      const m = entries.get(id);
      if (!m) throw new Error(`cgminer sim: no miner "${id}"`);
      m.misbehaviour = {
        replyDelayMs: how.replyDelayMs ?? 0,
        garbage: how.garbage ?? false,
        closeSilently: how.closeSilently ?? false,
        http: how.http ?? false,
      };
      m.flavour.poolsDead = how.poolsDead ?? false;
    },
    settled: async () => {
      while (inflight.size > 0) await Promise.all([...inflight]);
    },
    stop,
  };
}

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

/** Trailing NULs, newlines and spaces some clients send after the request. */
function stripTrailer(s: string): string {
  return s.replace(/[\s\0]+$/, "");
}

/** Whether a JSON request's outer object has closed (strings and escapes respected). */
function jsonBalanced(buf: Buffer): boolean {
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
