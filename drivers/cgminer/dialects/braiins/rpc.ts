// One gRPC channel (@grpc/grpc-js, plaintext HTTP/2) to one Braiins OS API
// endpoint, and unary calls on it with messages from the generated bos.v1
// schemas (gen/, @bufbuild/protobuf).
//
// Messages cross grpc-js as raw bytes (identity serializers): encoding and
// decoding stay here, so an undecodable reply is our WK_BRAIINS_BAD_REPLY
// rather than grpc-js's INTERNAL. Every call carries a deadline (grpc-js sends
// it as `grpc-timeout`); a call that runs past it retires the channel, so a
// hung peer does not hold the next call, which opens a fresh one.
//
// What reaches the caller: the reply, or the gRPC status the server sent
// ({ ok: false }); problems below gRPC throw DriverErrors: UNREACHABLE (no
// answer: refused, reset, dropped), TIMEOUT, ABORTED, HTTP_STATUS (not a gRPC
// server), PROTOCOL (a reply without grpc-status), BAD_REPLY (undecodable).
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { unhook, whenAborted } from "../../../abort.ts";
import { DriverError } from "../../../types.ts";

/** The channel is closed after this long without a call (grpc-js idles it). */
const CHANNEL_IDLE_MS = 60_000;

const CHANNEL_OPTIONS = {
  // this channel owns its connection: closing it closes the socket (the shared
  // pool would keep it open for a while for other channels)
  "grpc.use_local_subchannel_pool": 1,
  "grpc.client_idle_timeout_ms": CHANNEL_IDLE_MS,
  // a write is never sent twice behind the driver's back: its confirm loop owns retries
  "grpc.enable_retries": 0,
};

const passBytes = (b: Buffer): Buffer => b;

type UnaryResult<O extends DescMessage> =
  | { ok: true; reply: MessageShape<O>; headers: Metadata | null }
  | { ok: false; code: number; details: string };

type RawResult =
  | { ok: true; bytes: Buffer; headers: Metadata | null }
  | { ok: false; code: number; details: string };

/** "Service/Method", as errors name a call. */
export const methodName = (m: DescMethodUnary): string => `${m.parent.name}/${m.name}`;

interface CallOptions {
  token: string | null;
  signal?: AbortSignal | undefined;
}

export class GrpcChannel {
  readonly where: string;
  private client: Client | null = null;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly timeoutMs: number,
  ) {
    this.where = `${host}:${port}`;
  }

  close(): void {
    const c = this.client;
    this.client = null;
    c?.close();
  }

  /** One call; `token` (null before login) rides in its `authorization` metadata. */
  async unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    input: MessageInitShape<I>,
    how: CallOptions,
  ): Promise<UnaryResult<O>> {
    const { signal } = how;
    const name = methodName(method);
    if (signal?.aborted) throw new DriverError("WK_BRAIINS_ABORTED", `${name} aborted`, false);
    const body = Buffer.from(toBinary(method.input, create(method.input, input)));
    const raw = await this.send({ method, name, body }, how);
    if (!raw.ok) return raw;
    try {
      return { ok: true, reply: fromBinary(method.output, raw.bytes), headers: raw.headers };
    } catch (err) {
      throw new DriverError("WK_BRAIINS_BAD_REPLY", `${name}: ${(err as Error).message}`, false, {
        cause: err,
      });
    }
  }

  private connect(): Client {
    if (this.client === null) {
      const host = this.host.includes(":") ? `[${this.host}]` : this.host;
      this.client = new Client(`${host}:${this.port}`, credentials.createInsecure(), CHANNEL_OPTIONS);
    }
    return this.client;
  }

  /** A hung peer: this channel takes no more calls (those still on it run to their own deadlines). */
  private retire(client: Client): void {
    if (this.client === client) this.client = null;
    client.close();
  }

  private send(
    { method, name, body }: { method: DescMethodUnary; name: string; body: Buffer },
    { token, signal }: CallOptions,
  ): Promise<RawResult> {
    const client = this.connect();
    const metadata = new Metadata();
    // bos-plus-api: the session token rides in the `authorization` metadata of every call
    if (token !== null) metadata.set("authorization", token);
    const path = `/${method.parent.typeName}/${method.name}`;
    return new Promise((resolve, reject) => {
      let headers: Metadata | null = null;
      const onAbort = () => call.cancel();
      const call = client.makeUnaryRequest(
        path,
        passBytes,
        passBytes,
        body,
        metadata,
        { deadline: Date.now() + this.timeoutMs },
        (err, bytes) => {
          if (signal) unhook(signal, onAbort);
          if (!err) {
            resolve({ ok: true, bytes: bytes ?? Buffer.alloc(0), headers });
            return;
          }
          const failure = this.classify(err, name, { sawHeaders: headers !== null, signal });
          if (failure === null) resolve({ ok: false, code: err.code, details: err.details });
          else {
            if (failure.code === "WK_BRAIINS_TIMEOUT") this.retire(client);
            reject(failure);
          }
        },
      );
      call.on("metadata", (m: Metadata) => {
        headers = m;
      });
      if (signal) whenAborted(signal, onAbort);
    });
  }

  /** A DriverError for what went wrong below gRPC, or null for a status the server sent. */
  private classify(
    err: ServiceError,
    name: string,
    { sawHeaders, signal }: { sawHeaders: boolean; signal?: AbortSignal | undefined },
  ): DriverError | null {
    const at = `${name} to ${this.where}`;
    if (signal?.aborted) return new DriverError("WK_BRAIINS_ABORTED", `${name} aborted`, false);
    if (err.code === status.DEADLINE_EXCEEDED) {
      return new DriverError("WK_BRAIINS_TIMEOUT", `${at}: no reply within ${this.timeoutMs} ms`, true);
    }
    const http = /^Received HTTP status code (\d+)/.exec(err.details);
    if (http) {
      const code = Number(http[1]);
      return new DriverError(
        "WK_BRAIINS_HTTP_STATUS",
        `${at}: HTTP ${code} (is this the Braiins gRPC port?)`,
        code >= 500,
      );
    }
    if (/without gRPC status/i.test(err.details)) {
      return new DriverError("WK_BRAIINS_PROTOCOL", `${at}: reply without grpc-status`, true);
    }
    // a status the server sent arrives with metadata (a trailers-only reply carries
    // at least content-type); one grpc-js made up locally (refused, reset) has none
    const answered = sawHeaders || Object.keys(err.metadata?.getMap() ?? {}).length > 0;
    if (!answered) {
      // grpc-js appends an empty "Resolution note:" to a failed connect
      const why = err.details.replace(/\.?\s*Resolution note:\s*$/, "");
      return new DriverError("WK_BRAIINS_UNREACHABLE", `${at}: ${why}`, true);
    }
    return null;
  }
}
