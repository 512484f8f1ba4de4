// The simulated Braiins OS API's own wire code: gRPC message framing and the
// few bos.v1 protobuf messages it reads and writes, by hand from the proto3
// wire format. It shares nothing with the driver (which uses @grpc/grpc-js and
// code generated from its own .proto), so the two sides check each other.
//
// Field numbers (bos-plus-api, package braiins.bos.v1):
//   LoginRequest { string username = 1; string password = 2; }
//   LoginResponse { string token = 1; uint32 timeout_s = 2; }
//   Power { uint64 watt = 1; }
//   SetPowerTargetRequest { SaveAction save_action = 1; Power power_target = 2; }
//   SetPowerTargetResponse { Power power_target = 1; }
//   GetTunerStateResponse { TunerState overall_tuner_state = 1;
//     oneof mode_state { PowerTargetModeState power_target_mode_state = 2; ... } }
//   PowerTargetModeState { PowerTargetProfile profile = 1; Power current_target = 2; }
//   SetLocateDeviceStatusRequest { bool enable = 1; }  LocateDeviceStatusResponse { bool enabled = 1; }
// Enums: SaveAction UNSPECIFIED 0, SAVE 1, SAVE_AND_APPLY 2, SAVE_AND_FORCE_APPLY 3;
// TunerState UNSPECIFIED 0, DISABLED 1, STABLE 2, TUNING 3, ERROR 4.

export class WireError extends Error {
  override readonly name = "WireError";
}

export const SaveAction = { UNSPECIFIED: 0, SAVE: 1, SAVE_AND_APPLY: 2, SAVE_AND_FORCE_APPLY: 3 } as const;
export const TunerState = { UNSPECIFIED: 0, DISABLED: 1, STABLE: 2, TUNING: 3, ERROR: 4 } as const;

/** Largest request body the sim accepts. */
const MAX_MESSAGE = 4 * 1024 * 1024;

// --- gRPC framing: flag byte (0: not compressed), 4-byte big-endian length, payload

export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

export function unframe(body: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5) throw new WireError("truncated gRPC message prefix");
    if (body[at] !== 0) throw new WireError(`compressed gRPC message (flag ${body[at]}) not negotiated`);
    const len = body.readUInt32BE(at + 1);
    if (len > MAX_MESSAGE) throw new WireError(`gRPC message of ${len} bytes is too large`);
    if (at + 5 + len > body.length) throw new WireError("truncated gRPC message");
    out.push(body.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  return out;
}

// --- protobuf

export function varint(value: number | bigint): number[] {
  let v = BigInt(value);
  if (v < 0n || v >= 1n << 64n) throw new WireError(`varint out of range: ${value}`);
  const out: number[] = [];
  for (; v > 0x7fn; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
  out.push(Number(v));
  return out;
}

/** Reads a varint at `at`: its value and the offset after it. */
export function readVarint(buf: Uint8Array, at: number): [bigint, number] {
  let v = 0n;
  for (let i = 0; i < 10 && at + i < buf.length; i++) {
    const b = buf[at + i]!;
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) return [v & ((1n << 64n) - 1n), at + i + 1];
  }
  throw new WireError(`truncated or overlong varint at byte ${at}`);
}

/** A field of a decoded message: varints as bigint, length-delimited fields as bytes. */
export type WireValue = bigint | Uint8Array;

/** Every field of a message by number, the last occurrence winning; fixed-width fields skipped. */
export function fields(buf: Uint8Array): Map<number, WireValue> {
  const out = new Map<number, WireValue>();
  let at = 0;
  while (at < buf.length) {
    const [key, next] = readVarint(buf, at);
    at = next;
    const no = Number(key >> 3n);
    const type = Number(key & 7n);
    if (no === 0) throw new WireError("field number 0");
    if (type === 0) {
      const [v, after] = readVarint(buf, at);
      out.set(no, v);
      at = after;
    } else if (type === 2) {
      const [len, after] = readVarint(buf, at);
      if (len > BigInt(buf.length - after)) throw new WireError(`truncated length-delimited field ${no}`);
      out.set(no, buf.subarray(after, after + Number(len)));
      at = after + Number(len);
    } else if (type === 1 || type === 5) {
      at += type === 1 ? 8 : 4;
      if (at > buf.length) throw new WireError(`truncated fixed field ${no}`);
    } else throw new WireError(`unsupported wire type ${type} (field ${no})`);
  }
  return out;
}

const num = (f: Map<number, WireValue>, no: number): number => {
  const v = f.get(no);
  if (v === undefined) return 0;
  if (typeof v !== "bigint") throw new WireError(`field ${no} is not a varint`);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError(`field ${no} too large: ${v}`);
  return Number(v);
};
const bytes = (f: Map<number, WireValue>, no: number): Uint8Array | null => {
  const v = f.get(no);
  if (v === undefined) return null;
  if (typeof v === "bigint") throw new WireError(`field ${no} is not length-delimited`);
  return v;
};
const text = (f: Map<number, WireValue>, no: number) => new TextDecoder().decode(bytes(f, no) ?? undefined);

/** Writes fields in order; callers leave proto3 defaults (0, "") out, messages always in. */
export class Writer {
  private readonly out: number[] = [];
  uint(no: number, v: number | bigint): this {
    this.out.push(...varint(no * 8), ...varint(v));
    return this;
  }
  bytes(no: number, v: Uint8Array): this {
    this.out.push(...varint(no * 8 + 2), ...varint(v.length), ...v);
    return this;
  }
  string(no: number, v: string): this {
    return this.bytes(no, new TextEncoder().encode(v));
  }
  done(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

const power = (watt: number) => (watt === 0 ? new Writer() : new Writer().uint(1, watt)).done();
const powerOf = (buf: Uint8Array | null): number | null => (buf === null ? null : num(fields(buf), 1));

export function readLoginRequest(buf: Uint8Array): { username: string; password: string } {
  const f = fields(buf);
  return { username: text(f, 1), password: text(f, 2) };
}

export function writeLoginResponse(token: string, timeoutS: number): Uint8Array {
  return new Writer().string(1, token).uint(2, timeoutS).done();
}

/** `watt` is null when power_target is absent. */
export function readSetPowerTargetRequest(buf: Uint8Array): { saveAction: number; watt: number | null } {
  const f = fields(buf);
  return { saveAction: num(f, 1), watt: powerOf(bytes(f, 2)) };
}

export function writeSetPowerTargetResponse(watt: number): Uint8Array {
  return new Writer().bytes(1, power(watt)).done();
}

export function writeGetTunerStateResponse(overallState: number, powerTargetW: number | null): Uint8Array {
  const w = new Writer();
  if (overallState !== 0) w.uint(1, overallState);
  if (powerTargetW !== null) w.bytes(2, new Writer().bytes(2, power(powerTargetW)).done());
  return w.done();
}

export function readSetLocateRequest(buf: Uint8Array): boolean {
  return num(fields(buf), 1) !== 0;
}

export function writeLocateStatus(enabled: boolean): Uint8Array {
  return enabled ? new Writer().uint(1, 1).done() : new Uint8Array(0);
}
