// Meter read latency: 20 simulated meters (14 on Modbus TCP, one listener each;
// 6 behind one RTU-over-TCP serial gateway, read one at a time over a shared
// link), each read at 1 read/s for --seconds. Two passes in this process, same
// meters: the agent's read path (ModbusConnection + ModbusMeter: planned blocks,
// decode, plausibility, serialisation, gap) and a bare baseline (modbus-serial
// reading the same register blocks, no decoding). Prints p50/p99 per transport
// and the agent/bare ratio. Both passes keep the same --gap (ms) between frames
// on a link (the config default, 20 ms): it is protocol pacing, not overhead.
//   node --import tsx bench/meters.ts [--seconds 15] [--tcp 14] [--rtu 6] [--json]
import { parseArgs } from "node:util";
import modbusSerial from "modbus-serial";
import { ModbusConnection } from "../drivers/modbus/client.ts";
import { planReads } from "../drivers/modbus/decode.ts";
import { ModbusMeter } from "../drivers/modbus/meter.ts";
import { startModbusGatewaySim, startModbusMeterSim } from "../sim/modbus/meter.ts";
import { PowerModel } from "../sim/power-model.ts";
import { loadMeterProfile } from "../sim/profiles.ts";
import { testPort } from "../test/helpers/ports.ts";

const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "15" },
    tcp: { type: "string", default: "14" },
    rtu: { type: "string", default: "6" },
    gap: { type: "string", default: "20" },
    json: { type: "boolean", default: false },
  },
});
const SECONDS = Number(values.seconds);
const N_TCP = Number(values.tcp);
const N_RTU = Number(values.rtu);
const HOST = "127.0.0.1";
const TIMEOUT_MS = 1000;
const GAP_MS = Number(values.gap); // meters[].gapMs, default 20

type Transport = "tcp" | "rtuOverTcp";
interface Target {
  transport: Transport;
  port: number;
  unitId: number;
}
type ReadFn = () => Promise<boolean>;

const profile = await loadMeterProfile("sdm630");
const blocks = planReads(profile.registers, profile.maxGap);
const model = new PowerModel({ seed: 1, noiseW: 100, auxW: 5000 });
for (let i = 0; i < 50; i++) model.addMiner(`m${i}`);

const stops: Array<() => Promise<void>> = [];
const targets: Target[] = [];
for (let i = 0; i < N_TCP; i++) {
  const port = await testPort();
  const sim = await startModbusMeterSim({ host: HOST, port, unitId: 1, profile, model });
  stops.push(() => sim.stop());
  targets.push({ transport: "tcp", port, unitId: 1 });
}
if (N_RTU > 0) {
  const port = await testPort();
  const gw = await startModbusGatewaySim({
    host: HOST,
    port,
    model,
    framing: "rtuOverTcp",
    meters: Array.from({ length: N_RTU }, (_, i) => ({ unitId: i + 1, profile })),
  });
  stops.push(() => gw.stop());
  for (let i = 0; i < N_RTU; i++) targets.push({ transport: "rtuOverTcp", port, unitId: i + 1 });
}

/** Runs each target's read at 1/s, staggered over the first second; returns latencies per transport. */
async function pass(
  reads: Array<{ t: Target; read: ReadFn }>,
): Promise<Record<Transport, number[]> & { errors: number }> {
  const out = { tcp: [] as number[], rtuOverTcp: [] as number[], errors: 0 };
  const start = performance.now();
  await Promise.all(
    reads.map(async ({ t, read }, i) => {
      const offset = (i / reads.length) * 1000;
      for (let k = 0; k < SECONDS; k++) {
        const due = start + offset + k * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const t0 = performance.now();
        const ok = await read();
        const ms = performance.now() - t0;
        if (ok) out[t.transport].push(ms);
        else out.errors++;
      }
    }),
  );
  return out;
}

// --- agent path: one ModbusConnection per endpoint (the gateway's is shared), ModbusMeter per meter
const conns = new Map<string, ModbusConnection>();
const agentReads = targets.map((t) => {
  const key = `${t.transport}:${t.port}`;
  let c = conns.get(key);
  if (!c) {
    c = new ModbusConnection(
      { kind: t.transport, host: HOST, port: t.port },
      { timeoutMs: TIMEOUT_MS, gapMs: GAP_MS },
    );
    conns.set(key, c);
  }
  const meter = new ModbusMeter(c, { unitId: t.unitId, profile });
  return { t, read: async () => (await meter.read()).ok };
});
const agent = await pass(agentReads);
await Promise.all([...conns.values()].map((c) => c.close()));

// --- bare: modbus-serial, same blocks, one client per endpoint, a plain promise chain on the shared one
const clients = new Map<string, { client: ModbusRTU; chain: Promise<unknown>; lastFrameAt: number }>();
for (const t of targets) {
  const key = `${t.transport}:${t.port}`;
  if (clients.has(key)) continue;
  const client = new ModbusRTU();
  client.setTimeout(TIMEOUT_MS);
  if (t.transport === "tcp") await client.connectTCP(HOST, { port: t.port });
  else await client.connectTelnet(HOST, { port: t.port });
  clients.set(key, { client, chain: Promise.resolve(), lastFrameAt: 0 });
}
const bareReads = targets.map((t) => {
  const slot = clients.get(`${t.transport}:${t.port}`)!;
  const once = async () => {
    slot.client.setID(t.unitId);
    for (const b of blocks) {
      const wait = slot.lastFrameAt + GAP_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        if (b.function === "input") await slot.client.readInputRegisters(b.address, b.length);
        else await slot.client.readHoldingRegisters(b.address, b.length);
      } finally {
        slot.lastFrameAt = Date.now();
      }
    }
  };
  return {
    t,
    read: async () => {
      const run = slot.chain.then(once, once);
      slot.chain = run.catch(() => undefined);
      try {
        await run;
        return true;
      } catch {
        return false;
      }
    },
  };
});
const bare = await pass(bareReads);
for (const { client } of clients.values()) await new Promise<void>((r) => client.close(() => r()));
await Promise.all(stops.map((s) => s()));

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const rows = (["tcp", "rtuOverTcp", "all"] as const).map((k) => {
  const pick = (r: typeof agent) => (k === "all" ? [...r.tcp, ...r.rtuOverTcp] : r[k]);
  const meters = k === "all" ? targets.length : targets.filter((t) => t.transport === k).length;
  const a = pick(agent);
  const b = pick(bare);
  return {
    transport: k,
    meters,
    reads: a.length,
    agentP50: pct(a, 50),
    agentP99: pct(a, 99),
    bareP50: pct(b, 50),
    bareP99: pct(b, 99),
    ratioP50: pct(a, 50) / pct(b, 50),
    ratioP99: pct(a, 99) / pct(b, 99),
  };
});
if (values.json) {
  process.stdout.write(
    `${JSON.stringify({ seconds: SECONDS, requestsPerRead: blocks.length, errors: { agent: agent.errors, bare: bare.errors }, rows }, null, 2)}\n`,
  );
} else {
  const f = (n: number) => n.toFixed(2).padStart(8);
  console.log(
    `meter reads: ${targets.length} meters × 1 read/s × ${SECONDS} s; sdm630 profile = ${blocks.length} requests per read; ${GAP_MS} ms gap between frames on a link (both passes)`,
  );
  console.log(
    "transport     meters  reads   agent p50  agent p99   bare p50   bare p99  ratio p50  ratio p99   (ms)",
  );
  for (const r of rows) {
    console.log(
      `${r.transport.padEnd(12)} ${String(r.meters).padStart(7)} ${String(r.reads).padStart(6)} ${f(r.agentP50)}   ${f(r.agentP99)}   ${f(r.bareP50)}   ${f(r.bareP99)}   ${f(r.ratioP50)}   ${f(r.ratioP99)}`,
    );
  }
  console.log(`errors: agent ${agent.errors}, bare ${bare.errors}`);
}
