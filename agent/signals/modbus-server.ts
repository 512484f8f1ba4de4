// `signals.modbusServer`: the agent serves the setpoint register map
// (setpoint-registers.ts) to a QSE's RTU over Modbus TCP, on modbus-serial's
// own TCP server (no framing of ours). Only allowed client addresses may
// connect; every accepted or refused write is reported (events, audit); the
// setpoint is a budget source while enabled and its heartbeat moves.
import type { Socket } from "node:net";
import { type IServiceVector, ServerTCP } from "modbus-serial";
import type { Logger } from "../runtime/logger.ts";
import {
  HOLDING_COUNT,
  ILLEGAL_ADDRESS,
  INPUT_COUNT,
  type SetpointLimits,
  SetpointRegisters,
} from "./setpoint-registers.ts";
import type { SignalInput, SignalStatus, SiteReadback } from "./types.ts";

export interface ModbusServerOptions {
  name: string;
  host: string;
  port: number;
  unitId: number;
  /** Client addresses allowed to connect; others are closed at connect. Empty: loopback only. */
  allow: readonly string[];
  limits: SetpointLimits;
  readSite: () => SiteReadback;
  logger: Logger;
  /** A write the RTU made (applied or refused), for events and the audit log. */
  onWrite?: (w: { from: string; address: number; values: number[]; ok: boolean; why: string | null }) => void;
  now?: () => number;
}

/** A Modbus exception reply: modbus-serial turns `modbusErrorCode` into the exception frame. */
function exception(code: number, message: string): Error & { modbusErrorCode: number } {
  return Object.assign(new Error(message), { modbusErrorCode: code });
}

const LOOPBACK = ["127.0.0.1", "::1"];

/** "::ffff:10.0.0.20" (an IPv4 client on a dual-stack socket) → "10.0.0.20". */
function plainAddress(a: string | undefined): string {
  return (a ?? "").replace(/^::ffff:/, "");
}

export class ModbusServerSignal implements SignalInput {
  readonly kind = "modbus" as const;
  readonly name: string;
  private server: ServerTCP | null = null;
  private regs: SetpointRegisters;
  private readonly now: () => number;
  private last: SignalStatus;
  /** The client of the write in progress (the handler has no socket in its arguments). */
  private current = "";
  private readonly allowed: Set<string>;
  private bindError: string | null = null;

  constructor(private readonly opts: ModbusServerOptions) {
    this.name = opts.name;
    this.now = opts.now ?? Date.now;
    this.regs = new SetpointRegisters(opts.limits, this.now());
    this.allowed = new Set((opts.allow.length > 0 ? opts.allow : LOOPBACK).map(plainAddress));
    this.last = {
      name: this.name,
      kind: "modbus",
      state: "idle",
      budgetW: null,
      since: this.now(),
      reason: "no setpoint yet",
    };
  }

  async start(): Promise<void> {
    const o = this.opts;
    const vector: IServiceVector = {
      getHoldingRegister: (addr: number) => this.holding(addr),
      getMultipleHoldingRegisters: (addr: number, len: number) =>
        Array.from({ length: len }, (_, i) => this.holding(addr + i)),
      getInputRegister: (addr: number) => this.input(addr, 1)[0]!,
      getMultipleInputRegisters: (addr: number, len: number) => this.input(addr, len),
      setRegister: (addr: number, value: number) => this.write(addr, [value]),
      setRegisterArray: (addr: number, values: number[]) => this.write(addr, values),
    };
    const server = new ServerTCP(vector, { host: o.host, port: o.port, unitID: o.unitId });
    this.server = server;
    // modbus-serial has no hook for refusing a client; its net.Server is the only place to
    // close one before a byte is read (the allow-list test guards this against upgrades)
    const net = (server as unknown as { _server: import("node:net").Server })._server;
    net.prependListener("connection", (sock: Socket) => {
      const from = plainAddress(sock.remoteAddress);
      if (!this.allowed.has(from)) {
        o.logger.warn({ from }, "Modbus client not in signals.modbusServer.allow: closed");
        sock.destroy();
        return;
      }
      // requests are handled one at a time per socket: remember whose write is in progress
      sock.prependListener("data", () => {
        this.current = from;
      });
    });
    server.on("socketError", (err) => o.logger.debug({ err }, "Modbus client socket error"));
    await new Promise<void>((resolve, reject) => {
      server.once("initialized", () => resolve());
      server.once("serverError", (err: Error) => reject(err));
    }).catch((err: Error) => {
      this.bindError = `cannot listen on ${o.host}:${o.port}: ${err.message}`;
      throw new Error(this.bindError);
    });
    o.logger.info(
      { listen: `${o.host}:${o.port}`, unitId: o.unitId, allow: [...this.allowed] },
      "Modbus setpoint server listening",
    );
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  status(now: number): SignalStatus {
    if (this.bindError) return this.track({ state: "error", budgetW: null, reason: this.bindError }, now);
    const v = this.regs.view(now);
    return this.track(v, now);
  }

  private track(v: { state: SignalStatus["state"]; budgetW: number | null; reason: string }, now: number) {
    const same = v.state === this.last.state && v.budgetW === this.last.budgetW;
    this.last = { ...this.last, ...v, since: same ? this.last.since : now };
    return this.last;
  }

  private holding(addr: number): number {
    const v = this.regs.readHolding(addr);
    if (v === null)
      throw exception(
        ILLEGAL_ADDRESS,
        `holding register ${addr} is not in the map (0..${HOLDING_COUNT - 1})`,
      );
    return v;
  }

  private input(addr: number, len: number): number[] {
    if (addr < 0 || addr + len > INPUT_COUNT) {
      throw exception(
        ILLEGAL_ADDRESS,
        `input registers ${addr}..${addr + len - 1} are not in the map (0..${INPUT_COUNT - 1})`,
      );
    }
    return this.regs.inputs(this.opts.readSite(), this.now()).slice(addr, addr + len);
  }

  private write(addr: number, values: number[]): void {
    const before = [0, 1, 2].map((a) => this.regs.readHolding(a));
    const r = this.regs.write(addr, values, this.now());
    // a heartbeat every few seconds is not news: a changed setpoint or enable is, and every refusal
    const news = !r.ok || [0, 1, 2].some((a, i) => this.regs.readHolding(a) !== before[i]);
    if (news)
      this.opts.onWrite?.({ from: this.current, address: addr, values, ok: r.ok, why: r.ok ? null : r.why });
    if (!r.ok) throw exception(r.exception, r.why);
  }
}
