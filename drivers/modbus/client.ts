// One Modbus connection (TCP, RTU on a serial port, or RTU over TCP) with a
// timeout always set (modbus-serial's default is none), one transaction in
// flight at a time (RTU ports never advance the transaction id, so parallel
// requests orphan each other), a gap between frames, and a client rebuilt after
// any transport error (modbus-serial has no reconnect of its own). Rebuilds
// back off exponentially with jitter; while a backoff runs, requests fail at
// once with WK_MODBUS_BACKOFF (carrying the error that caused it) instead of
// hammering a dead gateway or serial bus.

import modbusSerial from "modbus-serial";
import { backoffDelayMs } from "../backoff.ts";
import { DriverError } from "../types.ts";

// modbus-serial is CommonJS: at runtime `default` is the class itself and it
// also re-exports itself as `.default`, which is what its typings describe.
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

export type ModbusEndpoint =
  | { kind: "tcp"; host: string; port: number }
  | { kind: "rtuOverTcp"; host: string; port: number }
  | {
      kind: "rtu";
      path: string;
      baudRate: number;
      parity: "none" | "even" | "odd";
      dataBits?: number;
      stopBits?: number;
    };

export interface ModbusClientOptions {
  timeoutMs: number;
  /** Pause between frames on a shared bus or gateway. */
  gapMs: number;
  /**
   * Wait before rebuilding the client after a transport error: `baseMs × 2^(n−1)`
   * for the n-th error in a row, capped at `maxMs`, with equal jitter (half fixed,
   * half random). Default 250 ms … 10 s: short enough that a meter back on the
   * wire is read again well within `control.meterStaleS`.
   */
  backoff?: { baseMs: number; maxMs: number };
  /** Clock and randomness (tests). */
  now?: () => number;
  random?: () => number;
}

export const DEFAULT_MODBUS_BACKOFF = { baseMs: 250, maxMs: 10_000 } as const;

/** Delay before the `failures`-th rebuild (1-based): exponential, capped, equal jitter. */
export function rebuildDelayMs(
  failures: number,
  backoff: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  return failures <= 0 ? 0 : backoffDelayMs(failures - 1, backoff, random);
}

export function describeEndpoint(e: ModbusEndpoint): string {
  return e.kind === "rtu" ? `rtu:${e.path}@${e.baudRate}` : `${e.kind}:${e.host}:${e.port}`;
}

/** `length` registers or bits of one table from `address` on. */
export interface ReadRange<Table extends string> {
  table: Table;
  address: number;
  length: number;
}

export class ModbusConnection {
  readonly endpoint: ModbusEndpoint;
  readonly options: ModbusClientOptions;
  private client: ModbusRTU | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private lastFrameAt = 0;
  private closed = false;
  /** Transport errors in a row (reset by a reply, even an exception reply). */
  private failures = 0;
  /** Timeouts in a row on this connection, whatever the unit (reset by any reply). */
  private timeouts = 0;
  /** No rebuild before this time (ms); requests until then fail fast. */
  private retryAt = 0;
  private lastError: DriverError | null = null;
  /** Clients built so far (tests, bench). */
  builds = 0;

  constructor(endpoint: ModbusEndpoint, options: ModbusClientOptions) {
    this.endpoint = endpoint;
    this.options = options;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Transport errors in a row, and when the next rebuild may happen (ms epoch; 0 = now). */
  get health(): { failures: number; retryAt: number; lastError: string | null } {
    return {
      failures: this.failures,
      retryAt: this.retryAt,
      lastError: this.lastError ? `${this.lastError.code}: ${this.lastError.message}` : null,
    };
  }

  /** Reads `length` registers; serialised with every other request on this connection. */
  readRegisters(
    unitId: number,
    { table, address, length }: ReadRange<"input" | "holding">,
  ): Promise<number[]> {
    return this.transact(unitId, (client) =>
      table === "input"
        ? client.readInputRegisters(address, length)
        : client.readHoldingRegisters(address, length),
    );
  }

  /** Reads `length` discrete inputs (FC02) or coils (FC01): a dry contact on an I/O module. */
  readBits(unitId: number, { table, address, length }: ReadRange<"discrete" | "coil">): Promise<boolean[]> {
    return this.transact(unitId, (client) =>
      table === "discrete" ? client.readDiscreteInputs(address, length) : client.readCoils(address, length),
    ).then((bits) => bits.slice(0, length));
  }

  /** One transaction: serialised, timed out, and rebuilt after a transport error (see the header). */
  private transact<T>(unitId: number, request: (client: ModbusRTU) => Promise<{ data: T }>): Promise<T> {
    const run = async () => {
      if (this.closed) throw new DriverError("WK_MODBUS_CLOSED", "connection closed", false);
      const client = await this.connect();
      const wait = this.lastFrameAt + this.options.gapMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        client.setID(unitId);
        const res = await request(client);
        this.failures = 0;
        this.timeouts = 0;
        this.lastError = null;
        return res.data;
      } catch (err) {
        const classified = classifyModbusError(err);
        if (classified.code === "WK_MODBUS_EXCEPTION") {
          // the device answered: the transport is healthy
          this.failures = 0;
          this.timeouts = 0;
        } else if (classified.code === "WK_MODBUS_TIMEOUT" && client.isOpen && ++this.timeouts < 2) {
          // One silent unit on a shared gateway or bus is that unit's problem: keep the
          // link (modbus-serial matches replies by transaction id / unit and function,
          // so a late reply is dropped). A second timeout in a row, with no reply from
          // anyone in between, means the link itself is gone: rebuild it.
        } else {
          this.transportFailed(classified);
        }
        throw classified;
      } finally {
        this.lastFrameAt = Date.now();
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private transportFailed(err: DriverError): void {
    this.drop();
    this.timeouts = 0;
    this.failures++;
    this.lastError = err;
    const backoff = this.options.backoff ?? DEFAULT_MODBUS_BACKOFF;
    this.retryAt = this.now() + rebuildDelayMs(this.failures, backoff, this.options.random);
  }

  private async connect(): Promise<ModbusRTU> {
    if (this.client?.isOpen) return this.client;
    this.drop();
    const waitMs = this.retryAt - this.now();
    if (waitMs > 0) {
      const cause = this.lastError;
      throw new DriverError(
        "WK_MODBUS_BACKOFF",
        `not reconnecting for ${waitMs} ms after ${this.failures} transport error(s); last: ${cause?.code ?? "?"}: ${cause?.message ?? "?"}`,
        true,
        { cause },
      );
    }
    const client = new ModbusRTU();
    client.setTimeout(this.options.timeoutMs);
    const e = this.endpoint;
    this.builds++;
    try {
      await withTimeout(
        e.kind === "tcp"
          ? client.connectTCP(e.host, { port: e.port, timeout: this.options.timeoutMs })
          : e.kind === "rtuOverTcp"
            ? // RTU frames with CRC on a raw TCP socket (serial gateways): modbus-serial's
              // "Telnet" port. Its "TcpRTUBuffered" port, despite the name, speaks
              // Modbus TCP (MBAP headers) on the wire.
              client.connectTelnet(e.host, { port: e.port, timeout: this.options.timeoutMs })
            : client.connectRTUBuffered(e.path, {
                baudRate: e.baudRate,
                parity: e.parity,
                dataBits: e.dataBits ?? 8,
                stopBits: e.stopBits ?? 1,
              }),
        this.options.timeoutMs,
      );
    } catch (err) {
      safeClose(client);
      const classified = classifyModbusError(err);
      this.transportFailed(classified);
      throw classified;
    }
    this.client = client;
    return client;
  }

  private drop(): void {
    if (this.client) safeClose(this.client);
    this.client = null;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    this.drop();
  }
}

function safeClose(client: ModbusRTU): void {
  // destroy() cancels pending transactions and frees a TCP/Telnet socket at once,
  // but is a no-op on the serial ports (they have no destroy): close() frees those.
  try {
    client.destroy(() => {});
  } catch {
    // already gone
  }
  try {
    if (client.isOpen) client.close(() => {});
  } catch {
    // already closed
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error("Timed out"), { errno: "ETIMEDOUT" })), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export function classifyModbusError(err: unknown): DriverError {
  if (err instanceof DriverError) return err;
  const e = err as { message?: string; errno?: string; code?: string; modbusCode?: number; name?: string };
  const msg = e?.message ?? String(err);
  if (typeof e?.modbusCode === "number") {
    return new DriverError("WK_MODBUS_EXCEPTION", `device exception ${e.modbusCode}: ${msg}`, true);
  }
  if (/CRC/i.test(msg)) return new DriverError("WK_MODBUS_CRC", "CRC error in reply", true);
  if (e?.errno === "ETIMEDOUT" || e?.code === "ETIMEDOUT" || /timed out/i.test(msg)) {
    return new DriverError("WK_MODBUS_TIMEOUT", "no reply before the timeout", true);
  }
  if (e?.code === "ECONNREFUSED" || /Port Not Open|ECONNREFUSED/i.test(msg)) {
    return new DriverError("WK_MODBUS_REFUSED", "connection refused / port not open", true);
  }
  return new DriverError("WK_MODBUS_IO", msg, true);
}
