// One Modbus connection (TCP, RTU on a serial port, or RTU over TCP) with a
// timeout always set (modbus-serial's default is none), one transaction in
// flight at a time (RTU ports never advance the transaction id, so parallel
// requests orphan each other), a gap between frames, and a client rebuilt after
// any transport error (modbus-serial has no reconnect of its own).
import modbusSerial from "modbus-serial";
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
}

export function describeEndpoint(e: ModbusEndpoint): string {
  return e.kind === "rtu" ? `rtu:${e.path}@${e.baudRate}` : `${e.kind}:${e.host}:${e.port}`;
}

export class ModbusConnection {
  readonly endpoint: ModbusEndpoint;
  readonly options: ModbusClientOptions;
  private client: ModbusRTU | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private lastFrameAt = 0;
  private closed = false;

  constructor(endpoint: ModbusEndpoint, options: ModbusClientOptions) {
    this.endpoint = endpoint;
    this.options = options;
  }

  /** Reads `length` registers; serialised with every other request on this connection. */
  readRegisters(unitId: number, fn: "input" | "holding", address: number, length: number): Promise<number[]> {
    const run = async () => {
      if (this.closed) throw new DriverError("WK_MODBUS_CLOSED", "connection closed", false);
      const wait = this.lastFrameAt + this.options.gapMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const client = await this.connect();
      try {
        client.setID(unitId);
        const res =
          fn === "input"
            ? await client.readInputRegisters(address, length)
            : await client.readHoldingRegisters(address, length);
        return res.data;
      } catch (err) {
        const classified = classifyModbusError(err);
        // a device exception leaves the transport healthy; anything else rebuilds it
        if (classified.code !== "WK_MODBUS_EXCEPTION") this.drop();
        throw classified;
      } finally {
        this.lastFrameAt = Date.now();
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async connect(): Promise<ModbusRTU> {
    if (this.client?.isOpen) return this.client;
    this.drop();
    const client = new ModbusRTU();
    client.setTimeout(this.options.timeoutMs);
    const e = this.endpoint;
    try {
      await withTimeout(
        e.kind === "tcp"
          ? client.connectTCP(e.host, { port: e.port, timeout: this.options.timeoutMs })
          : e.kind === "rtuOverTcp"
            ? client.connectTcpRTUBuffered(e.host, { port: e.port })
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
      throw classifyModbusError(err);
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
  try {
    // close() on a TCP port ends the socket; destroy() frees a half-open one
    client.destroy(() => {});
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
