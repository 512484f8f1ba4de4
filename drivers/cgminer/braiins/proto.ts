// A minimal protobuf (proto3) codec for the few Braiins OS API messages we use,
// so no generated code or protobuf dependency is needed. Field numbers follow
// braiins/bos-plus-api (package braiins.bos.v1):
//   authentication.proto  LoginRequest { string username = 1; string password = 2; }  LoginResponse {}
//   common.proto          enum SaveAction { UNSPECIFIED 0, SAVE 1, SAVE_AND_APPLY 2, SAVE_AND_FORCE_APPLY 3 }
//   units.proto           Power { uint64 watt = 1; }
//   performance.proto     SetPowerTargetRequest { SaveAction save_action = 1; Power power_target = 2; }
//                         SetPowerTargetResponse { Power power_target = 1; }
//                         GetTunerStateRequest {}
//                         GetTunerStateResponse { TunerState overall_tuner_state = 1;
//                           oneof mode_state { PowerTargetModeState power_target_mode_state = 2;
//                                              HashrateTargetModeState hashrate_target_mode_state = 3; } }
//                         PowerTargetModeState { PowerTargetProfile profile = 1; Power current_target = 2; }
//                         enum TunerState { UNSPECIFIED 0, DISABLED 1, STABLE 2, TUNING 3, ERROR 4 }
// Unknown fields are skipped on decode, as proto3 requires.

export const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

export class ProtoError extends Error {
  override readonly name = "ProtoError";
}

// --- varints ----------------------------------------------------------------

/** Encodes a non-negative integer (up to 2^64-1) as a base-128 varint. */
export function encodeVarint(value: number | bigint): Uint8Array {
  let v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new ProtoError(`varint out of range: ${value}`);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/** Decodes a varint at `pos`: the value and the position after it. */
export function decodeVarint(buf: Uint8Array, pos: number): { value: bigint; next: number } {
  let result = 0n;
  let shift = 0n;
  for (let i = pos; i < buf.length; i++) {
    if (i - pos >= 10) break;
    const b = buf[i]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value: result & 0xffff_ffff_ffff_ffffn, next: i + 1 };
    shift += 7n;
  }
  throw new ProtoError(`truncated or overlong varint at byte ${pos}`);
}

// --- fields -----------------------------------------------------------------

export type Field =
  | { no: number; wire: 0; value: bigint }
  | { no: number; wire: 1 | 5; value: Uint8Array }
  | { no: number; wire: 2; value: Uint8Array };

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const tag = (no: number, wire: number) => encodeVarint((BigInt(no) << 3n) | BigInt(wire));

/** Builds a message from fields; proto3 defaults (0, "", empty) are omitted by the callers. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];

  varint(no: number, value: number | bigint): this {
    this.parts.push(tag(no, WIRE.VARINT), encodeVarint(value));
    return this;
  }

  bytes(no: number, value: Uint8Array): this {
    this.parts.push(tag(no, WIRE.LEN), encodeVarint(value.length), value);
    return this;
  }

  string(no: number, value: string): this {
    return this.bytes(no, new TextEncoder().encode(value));
  }

  finish(): Uint8Array {
    return concat(this.parts);
  }
}

/** Splits a message into its fields (in wire order); throws ProtoError on malformed input. */
export function decodeFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const t = decodeVarint(buf, pos);
    pos = t.next;
    const no = Number(t.value >> 3n);
    const wire = Number(t.value & 7n);
    if (no === 0) throw new ProtoError("field number 0");
    switch (wire) {
      case WIRE.VARINT: {
        const v = decodeVarint(buf, pos);
        fields.push({ no, wire: 0, value: v.value });
        pos = v.next;
        break;
      }
      case WIRE.I64:
      case WIRE.I32: {
        const n = wire === WIRE.I64 ? 8 : 4;
        if (pos + n > buf.length) throw new ProtoError(`truncated fixed field ${no}`);
        fields.push({ no, wire, value: buf.subarray(pos, pos + n) });
        pos += n;
        break;
      }
      case WIRE.LEN: {
        const len = decodeVarint(buf, pos);
        pos = len.next;
        const end = pos + Number(len.value);
        if (len.value > BigInt(buf.length) || end > buf.length)
          throw new ProtoError(`truncated length-delimited field ${no}`);
        fields.push({ no, wire: 2, value: buf.subarray(pos, end) });
        pos = end;
        break;
      }
      default:
        throw new ProtoError(`unsupported wire type ${wire} (field ${no})`);
    }
  }
  return fields;
}

/** The last occurrence of a field wins (proto3 merge semantics for scalars). */
function last<W extends Field["wire"]>(
  fields: Field[],
  no: number,
  wire: W,
): Extract<Field, { wire: W }> | undefined {
  let found: Extract<Field, { wire: W }> | undefined;
  for (const f of fields) if (f.no === no && f.wire === wire) found = f as Extract<Field, { wire: W }>;
  return found;
}

const varintField = (fields: Field[], no: number): bigint => last(fields, no, 0)?.value ?? 0n;
const stringField = (fields: Field[], no: number): string =>
  new TextDecoder("utf-8", { fatal: false }).decode(last(fields, no, 2)?.value ?? new Uint8Array(0));
const messageField = (fields: Field[], no: number): Field[] | null => {
  const f = last(fields, no, 2);
  return f ? decodeFields(f.value) : null;
};

const toSafeNumber = (v: bigint): number => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtoError(`value too large: ${v}`);
  return Number(v);
};

// --- messages ---------------------------------------------------------------

export const SaveAction = { UNSPECIFIED: 0, SAVE: 1, SAVE_AND_APPLY: 2, SAVE_AND_FORCE_APPLY: 3 } as const;
export const TunerState = { UNSPECIFIED: 0, DISABLED: 1, STABLE: 2, TUNING: 3, ERROR: 4 } as const;

export interface LoginRequest {
  username: string;
  password: string;
}

export function encodeLoginRequest(m: LoginRequest): Uint8Array {
  const w = new ProtoWriter();
  if (m.username !== "") w.string(1, m.username);
  if (m.password !== "") w.string(2, m.password);
  return w.finish();
}

export function decodeLoginRequest(buf: Uint8Array): LoginRequest {
  const f = decodeFields(buf);
  return { username: stringField(f, 1), password: stringField(f, 2) };
}

/** Power { uint64 watt = 1; } */
export function encodePower(watt: number): Uint8Array {
  if (!Number.isInteger(watt) || watt < 0)
    throw new ProtoError(`watt must be a non-negative integer: ${watt}`);
  const w = new ProtoWriter();
  if (watt !== 0) w.varint(1, watt);
  return w.finish();
}

export function decodePower(fields: Field[] | null): number | null {
  return fields === null ? null : toSafeNumber(varintField(fields, 1));
}

export interface SetPowerTargetRequest {
  saveAction: number;
  watt: number;
}

export function encodeSetPowerTargetRequest(m: SetPowerTargetRequest): Uint8Array {
  const w = new ProtoWriter();
  if (m.saveAction !== 0) w.varint(1, m.saveAction);
  // a message field is present even when empty: Power{watt:0} differs from no power_target
  w.bytes(2, encodePower(m.watt));
  return w.finish();
}

/** `watt` is null when power_target is absent. */
export function decodeSetPowerTargetRequest(buf: Uint8Array): { saveAction: number; watt: number | null } {
  const f = decodeFields(buf);
  return { saveAction: toSafeNumber(varintField(f, 1)), watt: decodePower(messageField(f, 2)) };
}

export function encodeSetPowerTargetResponse(watt: number): Uint8Array {
  return new ProtoWriter().bytes(1, encodePower(watt)).finish();
}

export function decodeSetPowerTargetResponse(buf: Uint8Array): { watt: number | null } {
  return { watt: decodePower(messageField(decodeFields(buf), 1)) };
}

export interface TunerStateReply {
  overallState: number;
  /** PowerTargetModeState.current_target.watt, or null outside power-target mode. */
  powerTargetW: number | null;
}

export function encodeGetTunerStateResponse(m: TunerStateReply): Uint8Array {
  const w = new ProtoWriter();
  if (m.overallState !== 0) w.varint(1, m.overallState);
  if (m.powerTargetW !== null) {
    const mode = new ProtoWriter().bytes(2, encodePower(m.powerTargetW)).finish();
    w.bytes(2, mode);
  }
  return w.finish();
}

export function decodeGetTunerStateResponse(buf: Uint8Array): TunerStateReply {
  const f = decodeFields(buf);
  const mode = messageField(f, 2);
  return {
    overallState: toSafeNumber(varintField(f, 1)),
    powerTargetW: mode === null ? null : decodePower(messageField(mode, 2)),
  };
}

// bos.v1 ActionsService (bos-plus-api proto/bos/v1/actions.proto): the locate mode.

/** SetLocateDeviceStatusRequest { bool enable = 1; } */
export function encodeSetLocateDeviceStatusRequest(enable: boolean): Uint8Array {
  const w = new ProtoWriter();
  if (enable) w.varint(1, 1);
  return w.finish();
}

/** LocateDeviceStatusResponse { bool enabled = 1; } (GetLocateDeviceStatusRequest is empty). */
export function decodeLocateDeviceStatusResponse(buf: Uint8Array): boolean {
  return varintField(decodeFields(buf), 1) !== 0n;
}
