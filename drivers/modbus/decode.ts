// Register decoding and request planning for meter profiles: typed values from
// 16-bit words (word order, scale, NaN sentinel), and contiguous registers of
// the same function merged into as few requests as possible (bounded gap fill).
import { type Measurement, REGISTER_WORDS, type RegisterSpec } from "./profile.ts";

/** Modbus allows at most 125 registers in one read. */
export const MAX_REGISTERS_PER_READ = 125;

export interface ReadBlock {
  function: "input" | "holding";
  address: number;
  length: number;
  fields: Array<{ name: Measurement; spec: RegisterSpec }>;
}

/** Groups the profile's registers into blocks, filling gaps up to `maxGap` registers. */
export function planReads(
  registers: Partial<Record<Measurement, RegisterSpec>>,
  maxGap: number,
): ReadBlock[] {
  const entries = (Object.entries(registers) as Array<[Measurement, RegisterSpec]>).sort(
    // holding (FC3) blocks before input (FC4), each by address
    (a, b) =>
      Number(a[1].function === "input") - Number(b[1].function === "input") || a[1].address - b[1].address,
  );
  const blocks: ReadBlock[] = [];
  for (const [name, spec] of entries) {
    const words = REGISTER_WORDS[spec.type];
    const last = blocks[blocks.length - 1];
    const end = spec.address + words;
    if (
      last &&
      last.function === spec.function &&
      spec.address - (last.address + last.length) <= maxGap &&
      end - last.address <= MAX_REGISTERS_PER_READ
    ) {
      last.length = Math.max(last.length, end - last.address);
      last.fields.push({ name, spec });
    } else {
      blocks.push({
        function: spec.function,
        address: spec.address,
        length: words,
        fields: [{ name, spec }],
      });
    }
  }
  return blocks;
}

/**
 * Decodes one value from the words of a block. Returns null for the profile's
 * NaN sentinel or a non-finite float (meters send NaN for "no reading").
 */
export function decodeValue(words: readonly number[], offset: number, spec: RegisterSpec): number | null {
  const count = REGISTER_WORDS[spec.type];
  const slice = words.slice(offset, offset + count);
  if (slice.length < count) return null;
  // big: high word first (Modbus convention); little: low word first
  const ordered = spec.wordOrder === "little" ? [...slice].reverse() : slice;
  const buf = Buffer.alloc(count * 2);
  for (const [i, w] of ordered.entries()) buf.writeUInt16BE(w & 0xffff, i * 2);
  let raw: number;
  switch (spec.type) {
    case "u16":
      raw = buf.readUInt16BE(0);
      break;
    case "s16":
      raw = buf.readInt16BE(0);
      break;
    case "u32":
      raw = buf.readUInt32BE(0);
      break;
    case "s32":
      raw = buf.readInt32BE(0);
      break;
    case "u64":
      raw = Number(buf.readBigUInt64BE(0));
      break;
    case "f32":
      raw = buf.readFloatBE(0);
      break;
    case "f64":
      raw = buf.readDoubleBE(0);
      break;
  }
  if (spec.nanSentinel !== undefined && raw === spec.nanSentinel) return null;
  if (!Number.isFinite(raw)) return null;
  return raw * spec.scale;
}
