// Fuzz totals (`npm run fuzz`): bad input from every kind of device, in bulk,
// with one count at the end. Each input must end as a classified result —
// a reading with a state (and a reason when it is not fine) or a DriverError
// with a stable code — never a crash or an unclassified exception.
// - CGMiner API: 100,000 generated replies (arbitrary bytes, and real recorded
//   replies cut and corrupted) through the client's parse path, plus 2,000 of
//   them served over a real socket to CgminerClient.read().
// - nvidia-smi: 10,000 outputs (real CSV from the scripted driver, mutated:
//   cut rows, wrong widths, placeholders, lost-GPU markers, random bytes, odd
//   exit codes and stderr) read by GpuNode over real SSH from the GPU sim.
// - Modbus: 2,000 meter reads while the simulated meter switches at random
//   between answering, timing out, exception replies, NaN and frozen values.
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { CgminerClient, READ_COMMANDS } from "../drivers/cgminer/client.ts";
import { splitMulti } from "../drivers/cgminer/normalize.ts";
import { normalizeMiner } from "../drivers/cgminer/reading.ts";
import { parseReplyJson } from "../drivers/cgminer/repair.ts";
import { parseTextReply } from "../drivers/cgminer/text.ts";
import { ModbusConnection } from "../drivers/modbus/client.ts";
import { ModbusMeter } from "../drivers/modbus/meter.ts";
import { GpuNode } from "../drivers/nvidia/node.ts";
import { DriverError, MINER_STATES } from "../drivers/types.ts";
import { startGpuNodeSim } from "../sim/gpu/server.ts";
import type { SmiResult } from "../sim/gpu/smi.ts";
import { generateKeyPair } from "../sim/gpu/ssh2.ts";
import { type MeterFault, startModbusMeterSim } from "../sim/modbus/meter.ts";
import { PowerModel } from "../sim/power-model.ts";
import { loadMeterProfile } from "../sim/profiles.ts";
import { recordedExchanges } from "../test/helpers/fixtures.ts";

const { values } = parseArgs({
  options: {
    cgminer: { type: "string", default: "100000" },
    socket: { type: "string", default: "2000" },
    smi: { type: "string", default: "10000" },
    modbus: { type: "string", default: "2000" },
    seed: { type: "string", default: "20261125" },
  },
});
const seed = Number(values.seed);
let crashes = 0;
const unhandled: string[] = [];
process.on("unhandledRejection", (e) => {
  crashes++;
  unhandled.push(String(e));
});
process.on("uncaughtException", (e) => {
  crashes++;
  unhandled.push(String(e));
});

function mutate(base: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(base.subarray(0, Math.max(1, Math.floor(base.length * rnd()))));
  const edits = Math.floor(rnd() * 6);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(b.length * rnd());
    const bytes = Buffer.from(Array.from({ length: Math.floor(rnd() * 4) }, () => Math.floor(rnd() * 256)));
    b =
      rnd() < 0.5
        ? Buffer.concat([b.subarray(0, at), bytes, b.subarray(at)])
        : Buffer.concat([b.subarray(0, at), bytes, b.subarray(at + bytes.length)]);
  }
  return b;
}

/** A seeded xorshift32: cheap, and the whole run is reproducible from --seed. */
function rng(s: number): () => number {
  let state = (s ^ 0x9e3779b9) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x100000000;
  };
}

function cgminerInput(replies: Buffer[], rnd: () => number): Buffer {
  const pick = rnd();
  if (pick < 0.6) return mutate(replies[Math.floor(rnd() * replies.length)]!, rnd);
  if (pick < 0.8)
    return Buffer.from(Array.from({ length: Math.floor(rnd() * 512) }, () => Math.floor(rnd() * 256)));
  // structurally plausible JSON with wrong types and sizes
  const status = ["S", "W", "E", "F", "I", 7, null][Math.floor(rnd() * 7)];
  const json = JSON.stringify({
    STATUS: [{ STATUS: status, Msg: "x".repeat(Math.floor(rnd() * 40)) }],
    SUMMARY: [{ "MHS 5s": rnd() < 0.5 ? rnd() * 1e8 : "NaN", Elapsed: rnd() < 0.5 ? -1 : 1e12 }],
    STATS: rnd() < 0.5 ? [] : [{ temp_chip1: "80-81-x", fan1: -5 }],
  });
  return Buffer.from(json);
}

function parseAndNormalize(bytes: Buffer) {
  const text = bytes.toString("utf8");
  const first = text.trimStart()[0];
  const value =
    first === "{" || first === "[" || first === "," ? parseReplyJson(text).value : parseTextReply(text);
  return normalizeMiner({ at: 0, ...splitMulti(value, [...READ_COMMANDS]), nominalW: 3000 });
}

interface Totals {
  inputs: number;
  classified: number;
  unclassified: number;
  byOutcome: Record<string, number>;
}
const tally = (): Totals => ({ inputs: 0, classified: 0, unclassified: 0, byOutcome: {} });
const count = (t: Totals, outcome: string | null) => {
  t.inputs++;
  if (outcome === null) t.unclassified++;
  else {
    t.classified++;
    t.byOutcome[outcome] = (t.byOutcome[outcome] ?? 0) + 1;
  }
};

// ------------------------------------------------------------- CGMiner API
const replies = recordedExchanges().map((e) => e.reply);
const cg = tally();
{
  const rnd = rng(seed);
  const t0 = Date.now();
  for (let i = 0; i < Number(values.cgminer); i++) {
    const input = cgminerInput(replies, rnd);
    try {
      const r = parseAndNormalize(input);
      const fine =
        MINER_STATES.includes(r.state) &&
        (r.hashrateThs === null || Number.isFinite(r.hashrateThs)) &&
        (r.powerW === null || Number.isFinite(r.powerW));
      count(cg, fine ? `reading:${r.state}` : null);
    } catch (err) {
      count(cg, err instanceof DriverError && /^WK_/.test(err.code) ? `error:${err.code}` : null);
    }
  }
  process.stderr.write(`cgminer parse: ${cg.inputs} inputs in ${Date.now() - t0} ms\n`);
}

const cgSocket = tally();
{
  const rnd = rng(seed + 1);
  let next: Buffer = Buffer.alloc(0);
  const server = createServer((s) => {
    s.on("error", () => {});
    s.once("data", () => s.end(next));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const client = new CgminerClient({ host: "127.0.0.1", port }, { readTimeoutMs: 1000 });
  for (let i = 0; i < Number(values.socket); i++) {
    next = cgminerInput(replies, rnd);
    try {
      const r = await client.read();
      count(
        cgSocket,
        MINER_STATES.includes(r.state) && (r.state === "hashing" || r.reason !== undefined)
          ? `reading:${r.state}`
          : null,
      );
    } catch {
      count(cgSocket, null); // read() must never throw
    }
  }
  await new Promise<void>((r) => server.close(() => r()));
}

// ------------------------------------------------------------- nvidia-smi over SSH
const smi = tally();
{
  const rnd = rng(seed + 2);
  const client = generateKeyPair();
  const mangle = (command: string, result: SmiResult): SmiResult => {
    if ("hang" in result || command.includes("--help-query-gpu")) return result;
    const pick = rnd();
    if (pick < 0.15) return result; // some real answers in the mix
    const lines = result.stdout.split("\n").filter(Boolean);
    let out: string;
    if (pick < 0.35) out = mutate(Buffer.from(result.stdout), rnd).toString("latin1");
    else if (pick < 0.55) {
      // one cell replaced by a placeholder or marker nvidia-smi really prints
      const marks = [
        "[N/A]",
        "N/A",
        "[Not Supported]",
        "[GPU is lost]",
        "[GPU requires reset]",
        "",
        "Unknown Error",
        "-1",
        "1e309",
      ];
      out = lines
        .map((l) => {
          const cells = l.split(", ");
          cells[Math.floor(rnd() * cells.length)] = marks[Math.floor(rnd() * marks.length)]!;
          return cells.join(", ");
        })
        .join("\n");
    } else if (pick < 0.7)
      out = lines
        .map((l) =>
          l
            .split(", ")
            .slice(0, Math.floor(rnd() * 10))
            .join(", "),
        )
        .join("\n");
    else if (pick < 0.85)
      out = Buffer.from(
        Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)),
      ).toString("latin1");
    else out = "";
    const code = rnd() < 0.8 ? 0 : [1, 2, 3, 4, 6, 9, 15, 255][Math.floor(rnd() * 8)]!;
    const stderr =
      rnd() < 0.2 ? "Unable to determine the device handle for GPU0000:41:00.0: Unknown Error\n" : "";
    return { stdout: out, stderr, code };
  };
  // several nodes side by side: each read waits on SSH round trips, not on the CPU
  const NODES = 10;
  const total = Number(values.smi);
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: NODES }, async (_, k) => {
      const sim = await startGpuNodeSim({ id: `fuzz-${k}`, authorizedKeys: [client.publicKey] });
      sim.smi.mangle = mangle;
      const node = new GpuNode(
        {
          host: sim.host,
          port: sim.port,
          user: "fuzz",
          privateKey: client.privateKey,
          hostKeySha256: sim.hostKeyFingerprint,
          floorW: 350,
        },
        { commandTimeoutMs: 3000, reapplyCaps: false },
      );
      const share = Math.floor(total / NODES) + (k < total % NODES ? 1 : 0);
      for (let i = 0; i < share; i++) {
        try {
          const r = await node.read();
          const fine =
            ["ok", "faulted", "unreachable"].includes(r.state) &&
            (r.state === "ok" || typeof r.reason === "string");
          count(smi, fine ? `reading:${r.state}` : null);
        } catch {
          count(smi, null);
        }
      }
      await node.stop();
      await sim.stop();
    }),
  );
  process.stderr.write(`nvidia-smi: ${smi.inputs} reads in ${Date.now() - t0} ms\n`);
}

// ------------------------------------------------------------- Modbus meter
const mb = tally();
{
  const rnd = rng(seed + 3);
  const model = new PowerModel({ seed: 1 });
  model.addMiner("m-1");
  const port = 22_000 + Math.floor(rnd() * 3000);
  const meterSim = await startModbusMeterSim({
    host: "127.0.0.1",
    port,
    unitId: 1,
    profile: await loadMeterProfile("sdm630"),
    model,
  });
  const conn = new ModbusConnection(
    { kind: "tcp", host: "127.0.0.1", port },
    { timeoutMs: 150, gapMs: 0, backoff: { baseMs: 1, maxMs: 20 } },
  );
  const meter = new ModbusMeter(conn, { unitId: 1, profile: await loadMeterProfile("sdm630") });
  const faults: MeterFault[] = [null, null, "timeout", "exception", "nan", "frozen"];
  for (let i = 0; i < Number(values.modbus); i++) {
    if (rnd() < 0.3) meterSim.setFault(faults[Math.floor(rnd() * faults.length)]!);
    try {
      const r = await meter.read();
      count(
        mb,
        r.ok
          ? "reading:ok"
          : typeof r.reason === "string"
            ? `degraded:${r.reason.split(/[:(]/)[0]!.trim().slice(0, 40)}`
            : null,
      );
    } catch {
      count(mb, null);
    }
  }
  await conn.close();
  await meterSim.stop();
}

const rows = [
  ["CGMiner replies (parse path)", cg],
  ["CGMiner replies (real socket)", cgSocket],
  ["nvidia-smi outputs (real SSH)", smi],
  ["Modbus reads under faults", mb],
] as const;
console.log(`fuzz totals (seed ${seed})`);
console.table(
  rows.map(([name, t]) => ({
    input: name,
    inputs: t.inputs,
    classified: t.classified,
    unclassified: t.unclassified,
  })),
);
for (const [name, t] of rows) {
  const top = Object.entries(t.byOutcome)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  console.log(`${name}: ${top}`);
}
console.log(
  `crashes (uncaught exceptions, unhandled rejections): ${crashes}${unhandled.length ? ` — ${unhandled.slice(0, 3).join("; ")}` : ""}`,
);
const ok = crashes === 0 && rows.every(([, t]) => t.unclassified === 0);
console.log(ok ? "PASS" : "FAIL");
process.exit(ok ? 0 : 1);
