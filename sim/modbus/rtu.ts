// Modbus RTU framing for the simulated RTU-over-TCP gateway: CRC-16/MODBUS,
// request frames cut from a byte stream (resynchronising after garbage), and
// reply frames. The driver never uses this: it reads through modbus-serial's
// own RTU ports, so the two implementations check each other.

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first. */
export function crc16(buf: Uint8Array): number {
  let crc = 0xffff;
  for (const b of buf) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Appends the CRC (low byte first). */
export function withCrc(pdu: Buffer): Buffer {
  const out = Buffer.alloc(pdu.length + 2);
  pdu.copy(out);
  out.writeUInt16LE(crc16(pdu), pdu.length);
  return out;
}

export interface RtuRequest {
  unitId: number;
  fc: number;
  /** Start address and count for FC1–4; undefined for other functions. */
  address?: number;
  quantity?: number;
}

/** Length of a request frame starting at `buf[0]`, or null while too short to tell. */
function requestLength(buf: Buffer): number | null {
  if (buf.length < 2) return null;
  const fc = buf[1]!;
  if (fc >= 1 && fc <= 6) return 8;
  if (fc === 15 || fc === 16) return buf.length < 7 ? null : 9 + buf[6]!;
  // unknown function: assume the common 8-byte shape; a CRC check decides
  return 8;
}

/**
 * Cuts complete request frames off the front of `buf`. A frame whose CRC does
 * not match is skipped one byte at a time (resync), as a slave on a noisy bus
 * would. Returns the frames and the unconsumed rest.
 */
export function takeRequests(buf: Buffer): { frames: RtuRequest[]; rest: Buffer; crcErrors: number } {
  const frames: RtuRequest[] = [];
  let crcErrors = 0;
  let at = 0;
  for (;;) {
    const view = buf.subarray(at);
    const len = requestLength(view);
    if (len === null || view.length < len) break;
    const frame = view.subarray(0, len);
    if (frame.readUInt16LE(len - 2) !== crc16(frame.subarray(0, len - 2))) {
      crcErrors++;
      at++;
      continue;
    }
    const fc = frame[1]!;
    frames.push(
      fc >= 1 && fc <= 4
        ? { unitId: frame[0]!, fc, address: frame.readUInt16BE(2), quantity: frame.readUInt16BE(4) }
        : { unitId: frame[0]!, fc },
    );
    at += len;
  }
  return { frames, rest: Buffer.from(buf.subarray(at)), crcErrors };
}

export function registersReply(unitId: number, fc: number, words: readonly number[]): Buffer {
  const pdu = Buffer.alloc(3 + words.length * 2);
  pdu[0] = unitId;
  pdu[1] = fc;
  pdu[2] = words.length * 2;
  for (const [i, w] of words.entries()) pdu.writeUInt16BE(w & 0xffff, 3 + i * 2);
  return withCrc(pdu);
}

export function exceptionReply(unitId: number, fc: number, code: number): Buffer {
  return withCrc(Buffer.from([unitId, (fc | 0x80) & 0xff, code]));
}
