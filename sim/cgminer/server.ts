// Simulated stock cgminer/bmminer API servers, one TCP listener per miner (a
// distinct loopback address or port each), answering from the power model.
// Framing follows cgminer's api.c: one request per connection, read from the
// first chunk(s) up to 4 KB; the reply ends with a NUL and the server closes.
// A faulted miner's listener is closed, so connects are refused as they are
// while a real unit reboots. Per-connection work is a parse and one render: the
// sim is benchmarked with thousands of miners polled at once.
import net from "node:net";
import { type Logger, pino } from "pino";
import { type FaultFollowing, FaultFollowingListeners, type FollowingEntry } from "../fault-listeners.ts";
import { bindListener } from "../listener.ts";
import type { PowerModel } from "../power-model.ts";
import { type AnsweringMiner, answerRequest, jsonBalanced, simDialect } from "./commands.ts";
import type { MinerProgram } from "./replies.ts";

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

/** Where each miner listens (`endpoints`: the real port when 0 was asked for), and more. */
export interface CgminerSim extends FaultFollowing {
  /**
   * A misbehaving miner (soak, fuzz, tests): replies this late, with garbage
   * bytes instead of its reply, closes every connection at once without a
   * word (what cgminer does to a host outside its `--api-allow` list), or is
   * an HTTP server rather than a miner; or reports every pool dead while it
   * hashes on. `{}` restores it.
   */
  setMisbehaviour(id: string, how: Misbehaviour): void;
}

interface Misbehaviour {
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

interface MinerEntry extends FollowingEntry, AnsweringMiner {
  replyDelayMs: number;
  /** Set at run time: added delay, garbage instead of the reply, silent close, HTTP. */
  misbehaviour: Required<Omit<Misbehaviour, "poolsDead">>;
}

export async function startCgminerSim(opts: CgminerSimOptions): Promise<CgminerSim> {
  const { model } = opts;
  const log = (opts.logger ?? pino({ level: "silent" })).child({ component: "sim-cgminer" });
  const requestTimeoutMs = opts.requestTimeoutMs ?? 1000;
  const lingerMs = opts.lingerMs ?? 5000;

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
        reply = answerRequest(model, m, { raw: buf, remoteAddress: sock.remoteAddress ?? "" });
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

  const listeners = new FaultFollowingListeners<MinerEntry>({
    label: "cgminer sim",
    model,
    log,
    listen: (m) =>
      bindListener(
        m,
        net.createServer({ allowHalfOpen: true }, (s) => onConnection(m, s)),
        { label: "cgminer sim: miner", log: log, backlog: 128 },
      ),
  });
  for (const cfg of opts.miners) {
    if (!model.hasMiner(cfg.id)) model.addMiner(cfg.id, cfg.model);
    listeners.add({
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
    });
  }
  await listeners.start();

  return {
    get endpoints() {
      return listeners.endpoints;
    },
    isListening: listeners.isListening,
    setMisbehaviour: (id, how) => {
      const m = listeners.get(id);
      m.misbehaviour = {
        replyDelayMs: how.replyDelayMs ?? 0,
        garbage: how.garbage ?? false,
        closeSilently: how.closeSilently ?? false,
        http: how.http ?? false,
      };
      m.flavour.poolsDead = how.poolsDead ?? false;
    },
    settled: listeners.settled,
    stop: listeners.stop,
  };
}
