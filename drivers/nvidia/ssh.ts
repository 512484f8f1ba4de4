// One persistent SSH connection to one GPU node (node-ssh over ssh2), with what
// node-ssh leaves out: a pinned host key (hostVerifier, refused with both
// fingerprints in the message), keepalive, an `error` listener that stays on the
// connection after connect (node-ssh drops its own, so a later ECONNRESET would
// kill the process), reconnect with exponential backoff and jitter, at most N
// channels at once, and an exec timeout that really closes the channel.

import { NodeSSH } from "node-ssh";
import type { Client, ClientChannel } from "ssh2";
import { raceSignal, unhook, whenAborted } from "../abort.ts";
import { backoffDelayMs } from "../backoff.ts";
import { DriverError } from "../types.ts";
import { fingerprintSha256 } from "./hostkey.ts";
import { Slots } from "./slots.ts";
import type { ExecResult, GpuLogger, HostKeyPin } from "./types.ts";

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** Private key text (OpenSSH or PEM). */
  privateKey: string;
  passphrase?: string;
  pin: HostKeyPin;
}

export interface SshLinkOptions {
  connectTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Channels open at once on the connection (sshd's MaxSessions is 10). */
  maxChannels?: number;
  /** How long a closed channel may take to be confirmed before the connection is rebuilt. */
  closeGraceMs?: number;
  backoff?: { baseMs: number; maxMs: number };
  random?: () => number;
  now?: () => number;
  logger?: GpuLogger | null;
}

interface Conn {
  ssh: NodeSSH;
  /** node-ssh's own ssh2 client (its public `connection`); null only if node-ssh made none. */
  client: Client | null;
  slots: Slots;
  dead: boolean;
}

export class SshLink {
  readonly target: SshTarget;
  private readonly o: Required<Omit<SshLinkOptions, "logger">> & { logger: GpuLogger | null };
  private conn: Conn | null = null;
  private connecting: Promise<Conn> | null = null;
  private pendingClient: Client | null = null;
  private failures = 0;
  private nextAttemptAt = 0;
  private lastError: DriverError | null = null;
  private closed = false;
  /** Connections made so far (the first one included): a rising count means reconnects. */
  connects = 0;

  constructor(target: SshTarget, opts: SshLinkOptions = {}) {
    this.target = target;
    this.o = {
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      keepaliveIntervalMs: opts.keepaliveIntervalMs ?? 10_000,
      keepaliveCountMax: opts.keepaliveCountMax ?? 3,
      maxChannels: opts.maxChannels ?? 2,
      closeGraceMs: opts.closeGraceMs ?? 1_000,
      backoff: opts.backoff ?? { baseMs: 1_000, maxMs: 60_000 },
      random: opts.random ?? Math.random,
      now: opts.now ?? Date.now,
      logger: opts.logger ?? null,
    };
  }

  get address(): string {
    return `${this.target.host}:${this.target.port}`;
  }

  /** Channels this side holds open now (released only when the channel is really closed). */
  openChannels(): number {
    return this.conn?.slots.inUse ?? 0;
  }

  isConnected(): boolean {
    return this.conn !== null && !this.conn.dead;
  }

  /**
   * Runs one command. Resolves with its result, or `timedOut: true` at the
   * deadline (the channel is closed then; its slot is freed when the close is
   * confirmed, or the connection is rebuilt). Rejects with a DriverError when
   * there is no connection (refused key, auth, network, backoff).
   */
  async exec(command: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<ExecResult> {
    if (this.closed) throw new DriverError("WK_SSH_CLOSED", `${this.address}: link closed`, false);
    const started = this.o.now();
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DriverError("WK_SSH_TIMEOUT", `no result within ${opts.timeoutMs} ms`, true)),
      opts.timeoutMs,
    );
    const onOuter = () => deadline.abort(opts.signal?.reason);
    if (opts.signal) whenAborted(opts.signal, onOuter);
    if (opts.signal?.aborted) onOuter();
    try {
      // a connection that died under us (node rebooted, sshd restarted) is rebuilt once, within the deadline
      for (let attempt = 0; ; attempt++) {
        const conn = await raceSignal(this.connection(), deadline.signal);
        await conn.slots.acquire(deadline.signal);
        try {
          return await this.run(conn, command, { signal: deadline.signal, started });
        } catch (err) {
          if (attempt > 0 || !(err instanceof DriverError) || err.code !== "WK_SSH_CHANNEL") throw err;
          this.teardown(conn, err.message);
        }
      }
    } catch (err) {
      if (deadline.signal.aborted && !(err instanceof DriverError && err.code !== "WK_SSH_TIMEOUT")) {
        return timedOut(this.o.now() - started);
      }
      throw err;
    } finally {
      clearTimeout(timer);
      if (opts.signal) unhook(opts.signal, onOuter);
    }
  }

  /** Runs `command` on `conn` until `signal` (the deadline) aborts; `started` times a timed-out result. */
  private run(
    conn: Conn,
    command: string,
    { signal, started }: { signal: AbortSignal; started: number },
  ): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      let channel: ClientChannel | null = null;
      let settled = false;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        conn.slots.release();
      };
      const close = (ch: ClientChannel) => {
        try {
          ch.signal("KILL");
        } catch {
          // not every server takes signals; closing is what counts
        }
        try {
          ch.close();
        } catch {
          // already closing
        }
        // a server that never confirms the close would pin the slot: rebuild the connection
        setTimeout(() => {
          if (!released) this.teardown(conn, "a timed-out channel was not closed by the server");
        }, this.o.closeGraceMs).unref();
      };
      const onAbort = () => {
        if (settled) return;
        settled = true;
        if (channel) close(channel);
        resolve(timedOut(this.o.now() - started));
      };
      if (signal.aborted) {
        release();
        resolve(timedOut(this.o.now() - started));
        return;
      }
      signal.addEventListener("abort", onAbort, { once: true });
      conn.ssh
        .execCommand(command, {
          onChannel: (ch) => {
            channel = ch;
            if (settled) close(channel);
          },
        })
        .then(
          (r) => {
            release();
            signal.removeEventListener("abort", onAbort);
            if (settled) return;
            settled = true;
            resolve({
              code: r.code,
              signal: r.signal,
              stdout: r.stdout,
              stderr: r.stderr,
              timedOut: false,
              durationMs: this.o.now() - started,
            });
          },
          (err: Error) => {
            release();
            signal.removeEventListener("abort", onAbort);
            if (settled) return;
            settled = true;
            reject(
              new DriverError("WK_SSH_CHANNEL", `${this.address}: ${err.message}`, true, { cause: err }),
            );
          },
        );
    });
  }

  private connection(): Promise<Conn> {
    if (this.conn && !this.conn.dead) return Promise.resolve(this.conn);
    if (this.connecting) return this.connecting;
    const now = this.o.now();
    if (now < this.nextAttemptAt && this.lastError) {
      const e = this.lastError;
      const inS = Math.ceil((this.nextAttemptAt - now) / 1000);
      return Promise.reject(new DriverError(e.code, `${e.message} (next attempt in ${inS} s)`, e.retryable));
    }
    this.connecting = this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<Conn> {
    const t = this.target;
    const ssh = new NodeSSH();
    let presented: string | null = null;
    let accepted = false;
    const promise = ssh.connect({
      host: t.host,
      port: t.port,
      username: t.username,
      privateKey: t.privateKey,
      passphrase: t.passphrase,
      readyTimeout: this.o.connectTimeoutMs,
      keepaliveInterval: this.o.keepaliveIntervalMs,
      keepaliveCountMax: this.o.keepaliveCountMax,
      tryKeyboard: false,
      hostVerifier: (key: Buffer) => {
        presented = fingerprintSha256(key);
        accepted = t.pin.fingerprints.includes(presented);
        return accepted;
      },
    });
    // node-ssh creates the ssh2 client synchronously (no key file to read): our
    // listeners go on before any event can fire and stay for the connection's life
    const client = ssh.connection;
    const conn: Conn = {
      ssh,
      client,
      slots: new Slots(this.o.maxChannels),
      dead: false,
    };
    if (client) {
      this.pendingClient = client;
      client.on("error", (err) => {
        if (this.conn === conn)
          this.o.logger?.warn({ host: this.address, err: err.message }, "ssh connection error");
        this.markDead(conn, err.message);
      });
      client.on("close", () => this.markDead(conn, "connection closed"));
    }
    try {
      await promise;
    } catch (err) {
      this.pendingClient = null;
      conn.dead = true;
      try {
        client?.end();
      } catch {
        // already gone
      }
      throw this.failed(this.describeConnectError(err as Error, presented, accepted));
    }
    this.pendingClient = null;
    if (this.closed) {
      client?.end();
      throw new DriverError("WK_SSH_CLOSED", `${this.address}: link closed`, false);
    }
    this.failures = 0;
    this.lastError = null;
    this.nextAttemptAt = 0;
    this.connects++;
    this.conn = conn;
    return conn;
  }

  private describeConnectError(err: Error, presented: string | null, accepted: boolean): DriverError {
    const t = this.target;
    if (presented !== null && !accepted) {
      const expected = t.pin.fingerprints.length > 0 ? t.pin.fingerprints.join(" or ") : "none pinned";
      const what = t.pin.fingerprints.length > 0 ? "changed" : "unknown";
      return new DriverError(
        "WK_SSH_HOST_KEY",
        `${this.address}: host key refused (${what}): presented ${presented}, expected ${expected} (${t.pin.source})`,
        false,
        { cause: err },
      );
    }
    const msg = err.message ?? String(err);
    if (/authentication methods failed/i.test(msg))
      return new DriverError(
        "WK_SSH_AUTH",
        `${this.address}: authentication refused for ${t.username}: ${msg}`,
        false,
        { cause: err },
      );
    if (/timed out|ETIMEDOUT|No response/i.test(msg))
      return new DriverError("WK_SSH_TIMEOUT", `${this.address}: ${msg}`, true, { cause: err });
    return new DriverError("WK_SSH_CONNECT", `${this.address}: ${msg}`, true, { cause: err });
  }

  /** Books a failed connect: exponential backoff with equal jitter before the next one. */
  private failed(err: DriverError): DriverError {
    this.failures++;
    this.nextAttemptAt = this.o.now() + backoffDelayMs(this.failures - 1, this.o.backoff, this.o.random);
    this.lastError = err;
    return err;
  }

  private markDead(conn: Conn, why: string): void {
    if (conn.dead) return;
    conn.dead = true;
    conn.slots.failAll(new DriverError("WK_SSH_CONNECT", `${this.address}: ${why}`, true));
    if (this.conn === conn) {
      this.conn = null;
      if (!this.closed) this.o.logger?.info({ host: this.address, why }, "ssh connection lost");
    }
  }

  private teardown(conn: Conn, why: string): void {
    this.o.logger?.warn({ host: this.address, why }, "rebuilding ssh connection");
    this.markDead(conn, why);
    try {
      conn.client?.destroy();
    } catch {
      // already gone
    }
  }

  /** Ends the connection (and one being made); the link cannot be used again. */
  async close(): Promise<void> {
    this.closed = true;
    const conn = this.conn;
    this.conn = null;
    try {
      this.pendingClient?.end();
    } catch {
      // not connected yet
    }
    if (!conn) return;
    const client = conn.client;
    await new Promise<void>((resolve) => {
      if (conn.dead || !client) {
        try {
          client?.destroy();
        } catch {
          // gone
        }
        return resolve();
      }
      const t = setTimeout(() => {
        client.destroy();
        resolve();
      }, 1000);
      client.on("close", () => {
        clearTimeout(t);
        resolve();
      });
      conn.dead = true;
      conn.slots.failAll(new DriverError("WK_SSH_CLOSED", `${this.address}: link closed`, false));
      client.end();
    });
  }
}

/** The result of a run that passed its deadline. */
function timedOut(durationMs: number): ExecResult {
  return { code: null, signal: null, stdout: "", stderr: "", timedOut: true, durationMs };
}
