// A simulated power meter that serves a meter profile's register map — the
// same profile object the driver reads with, so the sim and the profile cannot
// drift — filled from the power model. Two wires:
// - Modbus TCP (modbus-serial's ServerTCP), one meter per listener;
// - RTU over TCP (a serial gateway: RTU frames with CRC on a raw TCP socket,
//   sim/modbus/rtu.ts), one meter or several behind one gateway
//   (`startModbusGatewaySim`), answered one frame at a time like a real bus.
// The map is served on both FC4 (input) and FC3 (holding): Eastron meters answer
// both with the same values, and some gateways only forward FC3.
// A unit id with no meter gets Modbus exception 0x0B ("gateway target device
// failed to respond"), which is what the Modbus TCP spec asks of a gateway whose
// RTU slave is absent; it fails fast instead of making every test wait out a
// timeout. `onUnitMismatch: "silent"` gives the cheap-gateway behaviour instead.
import { createServer, type Server, type Socket } from "node:net";
import { type FCallbackVal, ServerTCP } from "modbus-serial";
import { type Logger, pino } from "pino";
import {
  type Measurement,
  type MeterProfile,
  REGISTER_WORDS,
  type RegisterSpec,
} from "../../drivers/modbus/profile.ts";
import type { MeterRole, PowerModel } from "../power-model.ts";
import { exceptionReply, registersReply, takeRequests } from "./rtu.ts";

/**
 * `timeout`: no reply at all; `exception`: 0x04 server device failure; `nan`:
 * every value NaN; `frozen`: the meter keeps answering with the values of its
 * last read (a hung measuring core behind a live comms board); `crc`: replies
 * with a corrupted CRC (RTU framing only; on Modbus TCP there is no CRC, so it
 * acts like `timeout` there).
 */
export type MeterFault = "timeout" | "exception" | "nan" | "frozen" | "crc" | null;

type MeterFraming = "tcp" | "rtuOverTcp";

interface SimMeterUnit {
  unitId: number;
  profile: MeterProfile;
  /** What the meter measures: the whole site (default) or one load class. */
  role?: MeterRole;
}

export interface ModbusMeterSimOptions extends SimMeterUnit {
  host: string;
  /** Non-zero: modbus-serial's ServerTCP turns port 0 into 502. */
  port: number;
  model: PowerModel;
  /** Wire framing; default Modbus TCP. */
  framing?: MeterFraming;
  onUnitMismatch?: "exception" | "silent";
  /** Delay before each reply (ms): a slow meter or a serial line's transfer time. */
  replyDelayMs?: number;
  logger?: Logger;
}

export interface ModbusMeterSim {
  /** The power value (W) this meter last served, or null before the first read of it. */
  readonly lastPowerW: number | null;
  /** Register reads answered so far. */
  readonly reads: number;
  readonly fault: MeterFault;
  setFault(fault: MeterFault): void;
  stop(): Promise<void>;
}

const GATEWAY_TARGET_FAILED = 0x0b;
const SERVER_DEVICE_FAILURE = 0x04;
const ILLEGAL_FUNCTION = 0x01;

/** Nominal grid values the sim's meters read around. */
const GRID = { voltageV: 230, frequencyHz: 50, powerFactor: 0.99 };

/** One simulated meter's registers and faults, independent of the wire. */
interface MeterDevice {
  readonly unitId: number;
  readonly state: { lastPowerW: number | null; reads: number; fault: MeterFault };
  /** A fresh sample (or the frozen one), encoded into the requested window; unmapped registers read 0. */
  readWindow(addr: number, length: number): number[];
}

function createMeterDevice(unit: SimMeterUnit, model: PowerModel): MeterDevice {
  const { profile } = unit;
  const role = unit.role ?? "site";
  const specs = Object.entries(profile.registers) as Array<[Measurement, RegisterSpec]>;
  const powerSpec = profile.registers.powerW!;
  const state: MeterDevice["state"] = { lastPowerW: null, reads: 0, fault: null };
  let lastValues: Record<Measurement, number> | null = null;

  function measure(): Record<Measurement, number> {
    if (state.fault === "nan") {
      return Object.fromEntries(specs.map(([k]) => [k, Number.NaN])) as Record<Measurement, number>;
    }
    if (state.fault === "frozen" && lastValues) return lastValues;
    const powerW = model.meterW(role);
    // the brief's simple balanced three-phase split: I = P / 3 / 230 V
    const currentA = powerW / 3 / GRID.voltageV;
    lastValues = {
      powerW,
      energyKwh: model.energyKwh(role),
      voltageL1V: GRID.voltageV + model.noise(1.5),
      voltageL2V: GRID.voltageV + model.noise(1.5),
      voltageL3V: GRID.voltageV + model.noise(1.5),
      currentL1A: currentA,
      currentL2A: currentA,
      currentL3A: currentA,
      frequencyHz: GRID.frequencyHz + model.noise(0.02),
      powerFactor: GRID.powerFactor + model.noise(0.004),
    };
    return lastValues;
  }

  return {
    unitId: unit.unitId,
    state,
    readWindow(addr, length) {
      const out = new Array<number>(length).fill(0);
      const end = addr + length;
      const values = measure();
      for (const [key, spec] of specs) {
        const words = encodeRegister(values[key], spec);
        for (let i = 0; i < words.length; i++) {
          const a = spec.address + i;
          if (a >= addr && a < end) out[a - addr] = words[i]!;
        }
      }
      if (powerSpec.address >= addr && powerSpec.address + REGISTER_WORDS[powerSpec.type] <= end) {
        state.lastPowerW = values.powerW;
      }
      state.reads++;
      return out;
    },
  };
}

type Answer = { words: number[] } | { exception: number } | { corrupt: number[] } | null;

/** What a device (or the gateway, for a missing unit) answers; null = silence. */
function answer(
  devices: ReadonlyMap<number, MeterDevice>,
  { unitId, addr, length }: { unitId: number; addr: number; length: number },
  onUnitMismatch: "exception" | "silent",
): Answer {
  const device = devices.get(unitId);
  if (!device) return onUnitMismatch === "silent" ? null : { exception: GATEWAY_TARGET_FAILED };
  const fault = device.state.fault;
  if (fault === "timeout") return null;
  if (fault === "exception") return { exception: SERVER_DEVICE_FAILURE };
  const words = device.readWindow(addr, length);
  return fault === "crc" ? { corrupt: words } : { words };
}

interface Listener {
  stop(): Promise<void>;
}

/** Where a meter (or gateway) listens and how it answers a read of `length` registers at `addr`. */
interface ListenOptions {
  host: string;
  port: number;
  respond: (unitId: number, addr: number, length: number) => Answer;
  replyDelayMs: number;
  log: Logger;
}

async function listenTcp({ host, port, respond, replyDelayMs, log }: ListenOptions): Promise<Listener> {
  // positional: modbus-serial's ServerTCP vector calls it with these four
  function serve(addr: number, length: number, unitID: number, cb: FCallbackVal<number[]>): void {
    const a = respond(unitID, addr, length);
    // no reply: never call back (modbus-serial then sends nothing)
    if (a === null || "corrupt" in a) return;
    const reply = () =>
      "exception" in a ? cb(modbusError(a.exception, "simulated"), []) : cb(null, a.words);
    if (replyDelayMs > 0) setTimeout(reply, replyDelayMs);
    else reply();
  }
  const single = (addr: number, unitID: number, cb: FCallbackVal<number>) =>
    serve(addr, 1, unitID, (err, values) => cb(err, values[0] ?? 0));
  const vector = {
    getInputRegister: single,
    getHoldingRegister: single,
    getMultipleInputRegisters: serve,
    getMultipleHoldingRegisters: serve,
  };
  // unitID 255: accept every unit on the wire so a foreign one can be answered with 0x0B
  const server = new ServerTCP(vector, { host, port, unitID: 255 });
  server.on("error", (err) => log.warn({ err }, "modbus server error"));
  server.on("socketError", (err) => log.trace({ err }, "modbus socket error"));
  await new Promise<void>((resolve, reject) => {
    server.once("initialized", () => resolve());
    server.once("serverError", (err: NodeJS.ErrnoException | null) => {
      server.close(() => undefined);
      reject(
        new Error(`meter sim: cannot listen on ${host}:${port}: ${err?.code ?? err?.message ?? "error"}`),
      );
    });
  });
  let stopping: Promise<void> | null = null;
  return {
    stop() {
      // ServerTCP.close destroys its open sockets and closes the listener
      stopping ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return stopping;
    },
  };
}

async function listenRtuOverTcp({
  host,
  port,
  respond,
  replyDelayMs,
  log,
}: ListenOptions): Promise<Listener> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    // one frame at a time, like a half-duplex RS-485 bus behind the gateway
    let bus: Promise<void> = Promise.resolve();
    socket.on("data", (chunk: Buffer) => {
      const { frames, rest, crcErrors } = takeRequests(Buffer.concat([pending, chunk]));
      pending = rest;
      if (crcErrors > 0) log.debug({ crcErrors }, "rtu request CRC errors");
      for (const f of frames) {
        bus = bus.then(async () => {
          let reply: Buffer | null;
          if (f.fc !== 3 && f.fc !== 4) {
            reply = exceptionReply(f.unitId, f.fc, ILLEGAL_FUNCTION);
          } else {
            const a = respond(f.unitId, f.address!, f.quantity!);
            if (a === null) reply = null;
            else if ("exception" in a) reply = exceptionReply(f.unitId, f.fc, a.exception);
            else if ("corrupt" in a) {
              reply = registersReply(f.unitId, f.fc, a.corrupt);
              reply.writeUInt8(reply.readUInt8(reply.length - 1) ^ 0xff, reply.length - 1);
            } else reply = registersReply(f.unitId, f.fc, a.words);
          }
          if (replyDelayMs > 0) await new Promise((r) => setTimeout(r, replyDelayMs));
          if (reply && !socket.destroyed) socket.write(reply);
        });
      }
    });
    socket.on("error", (err) => log.trace({ err }, "rtu socket error"));
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new Error(`meter sim: cannot listen on ${host}:${port}: ${err.code ?? err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
      return stopping;
    },
  };
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`meter sim: port must be 1..65535 (got ${port})`);
  }
}

function simHandle(device: MeterDevice, stop: () => Promise<void>): ModbusMeterSim {
  return {
    get lastPowerW() {
      return device.state.lastPowerW;
    },
    get reads() {
      return device.state.reads;
    },
    get fault() {
      return device.state.fault;
    },
    setFault(f) {
      device.state.fault = f;
    },
    stop,
  };
}

/** One meter on its own listener (Modbus TCP, or RTU over TCP with `framing`). */
export async function startModbusMeterSim(opts: ModbusMeterSimOptions): Promise<ModbusMeterSim> {
  const role = opts.role ?? "site";
  const log = (opts.logger ?? pino({ level: "silent" })).child({ component: "sim-meter", role });
  checkPort(opts.port);
  const device = createMeterDevice(opts, opts.model);
  const devices = new Map([[opts.unitId, device]]);
  const framing = opts.framing ?? "tcp";
  const listener = await listenFor(devices, { ...opts, framing }, log);
  log.info(
    { host: opts.host, port: opts.port, unitId: opts.unitId, profile: opts.profile.name, framing },
    "meter listening",
  );
  return simHandle(device, () => listener.stop());
}

/** One listener answering `devices` by unit id, in the framing asked. */
function listenFor(
  devices: Map<number, MeterDevice>,
  opts: {
    host: string;
    port: number;
    framing: MeterFraming;
    onUnitMismatch?: "exception" | "silent";
    replyDelayMs?: number;
  },
  log: Logger,
) {
  const mismatch = opts.onUnitMismatch ?? "exception";
  const listen = opts.framing === "tcp" ? listenTcp : listenRtuOverTcp;
  return listen({
    host: opts.host,
    port: opts.port,
    respond: (unitId: number, addr: number, length: number) =>
      answer(devices, { unitId, addr, length }, mismatch),
    replyDelayMs: opts.replyDelayMs ?? 0,
    log,
  });
}

export interface ModbusGatewaySimOptions {
  host: string;
  port: number;
  model: PowerModel;
  framing?: MeterFraming;
  meters: SimMeterUnit[];
  onUnitMismatch?: "exception" | "silent";
  replyDelayMs?: number;
  logger?: Logger;
}

export interface ModbusGatewaySim {
  /** Each meter behind the gateway, by unit id. */
  readonly meters: ReadonlyMap<number, ModbusMeterSim>;
  stop(): Promise<void>;
}

/** Several meters behind one gateway (one listener), answered one frame at a time on RTU. */
export async function startModbusGatewaySim(opts: ModbusGatewaySimOptions): Promise<ModbusGatewaySim> {
  const log = (opts.logger ?? pino({ level: "silent" })).child({ component: "sim-gateway" });
  checkPort(opts.port);
  const devices = new Map<number, MeterDevice>();
  for (const m of opts.meters) {
    if (devices.has(m.unitId)) throw new Error(`gateway sim: unit ${m.unitId} given twice`);
    devices.set(m.unitId, createMeterDevice(m, opts.model));
  }
  const listener = await listenFor(devices, { ...opts, framing: opts.framing ?? "rtuOverTcp" }, log);
  const stop = () => listener.stop();
  return {
    meters: new Map([...devices].map(([id, d]) => [id, simHandle(d, stop)])),
    stop,
  };
}

function modbusError(code: number, message: string): Error & { modbusErrorCode: number } {
  return Object.assign(new Error(message), { modbusErrorCode: code });
}

/**
 * Encodes an engineering value into 16-bit words as the profile says the meter
 * stores it: raw = value / scale, big-endian bytes within a word, words high
 * first (`big`) or all reversed (`little`).
 */
export function encodeRegister(value: number, spec: RegisterSpec): number[] {
  const n = REGISTER_WORDS[spec.type];
  const dv = new DataView(new ArrayBuffer(n * 2));
  let raw = value / (spec.scale ?? 1);
  if (Number.isNaN(raw) && spec.nanSentinel !== undefined) raw = spec.nanSentinel;
  const int = Number.isFinite(raw) ? Math.round(raw) : 0;
  const clamp = (lo: number, hi: number) => Math.min(hi, Math.max(lo, int));
  const put: Record<RegisterSpec["type"], () => void> = {
    u16: () => dv.setUint16(0, clamp(0, 0xffff)),
    s16: () => dv.setInt16(0, clamp(-0x8000, 0x7fff)),
    u32: () => dv.setUint32(0, clamp(0, 0xffffffff)),
    s32: () => dv.setInt32(0, clamp(-0x80000000, 0x7fffffff)),
    u64: () => dv.setBigUint64(0, BigInt(Math.max(0, int))),
    f32: () => dv.setFloat32(0, raw),
    f64: () => dv.setFloat64(0, raw),
  };
  put[spec.type]();
  const words: number[] = [];
  for (let i = 0; i < n; i++) words.push(dv.getUint16(i * 2));
  return spec.wordOrder === "little" ? words.reverse() : words;
}
