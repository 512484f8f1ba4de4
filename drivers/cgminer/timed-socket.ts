// One request on a TCP connection of its own, under a connect and a read
// deadline: the skeleton both socket framings of the miner APIs share (the
// CGMiner JSON API on 4028, Whatsminer's length-prefixed v3 frames on 4433).
// Connect, one write, then the framing reads chunks until it has the reply;
// abortable; whatever ends the exchange, the socket is destroyed and its late
// errors are swallowed. It runs once per miner per poll, so it stays lean:
// no extra promise, one timer at a time.
import { Socket } from "node:net";
import { unhook, whenAborted } from "../abort.ts";
import { DriverError } from "../types.ts";

/** Ends the exchange: with a reply, or with the error that stopped it. Later calls are ignored. */
type Finish<T> = (err: DriverError | null, value?: T) => void;

export interface TimedRequest {
  host: string;
  port: number;
  /** The request's bytes, sent in one write as soon as the connection is up. */
  request: Buffer;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  signal?: AbortSignal | undefined;
  /** What the read deadline waits for, in its message: "reply", "v3 reply". */
  replyName: string;
  /** The channel named in socket errors ("API v3"); none for the plain API. */
  via?: string;
}

/** The framing: reads each chunk and says when the reply is complete (or broken). */
export interface Framing<T> {
  onData(chunk: Buffer, finish: Finish<T>): void;
  /** The peer closed its side. */
  onEnd(finish: Finish<T>): void;
}

export function timedExchange<T>(req: TimedRequest, framing: Framing<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const socket = new Socket();
    let settled = false;
    let connected = false;
    const finish: Finish<T> = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (req.signal) unhook(req.signal, onAbort);
      socket.removeAllListeners();
      socket.on("error", () => {}); // late errors after destroy must not crash the process
      socket.destroy();
      if (err) reject(err);
      else resolve(value as T);
    };
    const onAbort = () => finish(new DriverError("WK_CGMINER_ABORTED", "request aborted", false));
    const readLate = () =>
      new DriverError(
        "WK_CGMINER_TIMEOUT",
        `no complete ${req.replyName} within ${req.readTimeoutMs} ms`,
        true,
      );
    let timer = setTimeout(() => {
      finish(
        connected
          ? readLate()
          : new DriverError("WK_CGMINER_TIMEOUT", `connect timed out after ${req.connectTimeoutMs} ms`, true),
      );
    }, req.connectTimeoutMs);

    if (req.signal?.aborted) return onAbort();
    if (req.signal) whenAborted(req.signal, onAbort);

    // no setNoDelay: the request is one write on a fresh connection, which Nagle never
    // holds back (nothing is unacknowledged yet), so it would be a system call per poll for nothing
    socket.on("connect", () => {
      connected = true;
      clearTimeout(timer);
      timer = setTimeout(() => finish(readLate()), req.readTimeoutMs);
      socket.write(req.request);
    });
    socket.on("data", (chunk: Buffer) => framing.onData(chunk, finish));
    socket.on("end", () => framing.onEnd(finish));
    socket.on("error", (err: NodeJS.ErrnoException) => finish(classifySocketError(err, req.via)));
    socket.connect({ host: req.host, port: req.port });
  });
}

/** Maps a socket error to a classified DriverError; `via` names the channel in the message (e.g. "API v3"). */
function classifySocketError(err: NodeJS.ErrnoException, via?: string): DriverError {
  const on = via ? ` (${via})` : "";
  switch (err.code) {
    case "ECONNREFUSED":
      return new DriverError("WK_CGMINER_REFUSED", `connection refused${on}`, true, { cause: err });
    case "ECONNRESET":
    case "EPIPE":
      return new DriverError("WK_CGMINER_RESET", `connection reset by peer${on}`, true, { cause: err });
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new DriverError("WK_CGMINER_UNREACHABLE", `host unreachable (${err.code})`, true, {
        cause: err,
      });
    case "ETIMEDOUT":
      return new DriverError("WK_CGMINER_TIMEOUT", `connect timed out${on}`, true, { cause: err });
    default:
      return new DriverError("WK_CGMINER_IO", `${err.code ?? "socket error"}: ${err.message}`, true, {
        cause: err,
      });
  }
}
