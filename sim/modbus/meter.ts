// A simulated Modbus TCP power meter (modbus-serial's ServerTCP) that serves a
// meter profile's register map — the same profile object the driver reads with,
// so the sim and the profile cannot drift — filled from the power model.
// The map is served on both FC4 (input) and FC3 (holding): Eastron meters answer
// both with the same values, and some gateways only forward FC3.
// A unit id other than ours gets Modbus exception 0x0B ("gateway target device
// failed to respond"), which is what the Modbus TCP spec asks of a gateway whose
// RTU slave is absent; it fails fast instead of making every test wait out a
// timeout. `onUnitMismatch: "silent"` gives the cheap-gateway behaviour instead.
import { type FCallbackVal, ServerTCP } from "modbus-serial";
import { type Logger, pino } from "pino";
import {
  type Measurement,
  type MeterProfile,
  REGISTER_WORDS,
  type RegisterSpec,
} from "../../drivers/modbus/profile.ts";
import type { MeterRole, PowerModel } from "../power-model.ts";

/** `timeout`: no reply at all; `exception`: 0x04 server device failure; `nan`: every value NaN. */
export type MeterFault = "timeout" | "exception" | "nan" | null;

export interface ModbusMeterSimOptions {
  host: string;
  /** Non-zero: modbus-serial's ServerTCP turns port 0 into 502. */
  port: number;
  unitId: number;
  profile: MeterProfile;
  model: PowerModel;
  /** What the meter measures: the whole site (default) or one load class. */
  role?: MeterRole;
  onUnitMismatch?: "exception" | "silent";
  logger?: Logger;
}

export interface ModbusMeterSim {
  /** The power value (W) this meter last served, or null before the first read of it. */
  readonly lastPowerW: number | null;
  /** Register reads answered so far. */
  readonly reads: number;
  setFault(fault: MeterFault): void;
  stop(): Promise<void>;
}

const GATEWAY_TARGET_FAILED = 0x0b;
const SERVER_DEVICE_FAILURE = 0x04;

/** Nominal grid values the sim's meters read around. */
const GRID = { voltageV: 230, frequencyHz: 50, powerFactor: 0.99 };

export async function startModbusMeterSim(opts: ModbusMeterSimOptions): Promise<ModbusMeterSim> {
  const { model, profile } = opts;
  const role = opts.role ?? "site";
  const log = (opts.logger ?? pino({ level: "silent" })).child({ component: "sim-meter", role });
  if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535) {
    throw new Error(`meter sim: port must be 1..65535 (got ${opts.port})`);
  }
  const specs = Object.entries(profile.registers) as Array<[Measurement, RegisterSpec]>;
  const powerSpec = profile.registers.powerW!;
  let fault: MeterFault = null;
  let lastPowerW: number | null = null;
  let reads = 0;

  function measure(): Record<Measurement, number> {
    if (fault === "nan") {
      return Object.fromEntries(specs.map(([k]) => [k, Number.NaN])) as Record<Measurement, number>;
    }
    const powerW = model.meterW(role);
    // the brief's simple balanced three-phase split: I = P / 3 / 230 V
    const currentA = powerW / 3 / GRID.voltageV;
    return {
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
  }

  /** One read: a fresh sample, encoded into the requested window; unmapped registers read 0. */
  function readWindow(addr: number, length: number): number[] {
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
      lastPowerW = values.powerW;
    }
    reads++;
    return out;
  }

  /** Either answers, raises a Modbus exception, or (timeout fault, foreign unit when silent) never calls back. */
  function serve(addr: number, length: number, unitID: number, cb: FCallbackVal<number[]>): void {
    if (unitID !== opts.unitId) {
      if (opts.onUnitMismatch === "silent") return;
      cb(modbusError(GATEWAY_TARGET_FAILED, `no unit ${unitID}`), []);
      return;
    }
    if (fault === "timeout") return;
    if (fault === "exception") {
      cb(modbusError(SERVER_DEVICE_FAILURE, "simulated device failure"), []);
      return;
    }
    cb(null, readWindow(addr, length));
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
  const server = new ServerTCP(vector, { host: opts.host, port: opts.port, unitID: 255 });
  server.on("error", (err) => log.warn({ err }, "modbus server error"));
  server.on("socketError", (err) => log.trace({ err }, "modbus socket error"));
  await new Promise<void>((resolve, reject) => {
    server.once("initialized", () => resolve());
    server.once("serverError", (err: NodeJS.ErrnoException | null) => {
      server.close(() => undefined);
      reject(
        new Error(
          `meter sim: cannot listen on ${opts.host}:${opts.port}: ${err?.code ?? err?.message ?? "error"}`,
        ),
      );
    });
  });
  log.info(
    { host: opts.host, port: opts.port, unitId: opts.unitId, profile: profile.name },
    "meter listening",
  );

  let stopping: Promise<void> | null = null;
  return {
    get lastPowerW() {
      return lastPowerW;
    },
    get reads() {
      return reads;
    },
    setFault(f) {
      fault = f;
    },
    stop() {
      // ServerTCP.close destroys its open sockets and closes the listener
      stopping ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return stopping;
    },
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
  switch (spec.type) {
    case "u16":
      dv.setUint16(0, Math.min(0xffff, Math.max(0, int)));
      break;
    case "s16":
      dv.setInt16(0, Math.min(0x7fff, Math.max(-0x8000, int)));
      break;
    case "u32":
      dv.setUint32(0, Math.min(0xffffffff, Math.max(0, int)));
      break;
    case "s32":
      dv.setInt32(0, Math.min(0x7fffffff, Math.max(-0x80000000, int)));
      break;
    case "u64":
      dv.setBigUint64(0, BigInt(Math.max(0, int)));
      break;
    case "f32":
      dv.setFloat32(0, raw);
      break;
    case "f64":
      dv.setFloat64(0, raw);
      break;
  }
  const words: number[] = [];
  for (let i = 0; i < n; i++) words.push(dv.getUint16(i * 2));
  return spec.wordOrder === "little" ? words.reverse() : words;
}
