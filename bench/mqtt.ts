import { parseArgs } from "node:util";
import { MqttChannel } from "../agent/mqtt/channel.ts";
import { silentLogger } from "../agent/runtime/logger.ts";
import { SiteState } from "../agent/site/state.ts";
import { MqttSchema } from "../config/schema/mqtt.ts";
import type { MqttConfig } from "../config/schema.ts";
import type { MinerReading } from "../drivers/types.ts";
import { testPort } from "../test/helpers/ports.ts";
import { brokerChildPort, forkBrokerChild, serveCountingBroker } from "./broker-child.ts";
import { benchChannelSite, benchFleetConfig } from "./channel-site.ts";

// ---------------------------------------------------------------- broker child
interface Counts {
  messages: number;
  bytes: number;
}
const childPort = brokerChildPort();
if (childPort !== null) {
  let c: Counts = { messages: 0, bytes: 0 };
  await serveCountingBroker(childPort, {
    counts: () => c,
    publish: (_topic, payload) => {
      c.messages++;
      c.bytes += payload.length;
    },
    reset: () => {
      c = { messages: 0, bytes: 0 };
    },
  });
}

const { values } = parseArgs({
  options: {
    miners: { type: "string", default: "5000" },
    hours: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
  },
});
const MINERS = Number(values.miners);
const HOURS = Number(values.hours);
const SWEEPS = Math.round((HOURS * 3600) / 5);
const TICKS = Math.round((HOURS * 3600) / 2);
const EVENTS = Math.round(HOURS * 60);

const { config } = await benchFleetConfig("wk-bench-mqtt-", MINERS);
const state = new SiteState(config);
const now0 = Date.now();
let i = 0;
for (const id of state.miners.keys()) {
  const r: MinerReading = {
    at: now0,
    state: i % 50 === 0 ? "sleeping" : "hashing",
    reason: null,
    hashrateThs: 100 + (i % 17) * 1.3,
    powerW: 3200 + (i % 23) * 11,
    powerEstimated: false,
    powerLimitW: i % 7 === 0 ? 3000 : null,
    boardTempsC: [60, 61, 62],
    chipTempMaxC: 70 + (i % 11) * 0.7,
    fanRpm: [5000, 5100],
    pools: [],
    uptimeS: 86_400,
    firmware: "luxos",
    model: "S19j Pro",
  };
  state.setMinerReading(id, r);
  i++;
}

// the Site as the channel sees it: listeners the bench fires itself
const fire = benchChannelSite(config, state);
const site = fire.site;
const status = fire.status;
const fireTick = () => fire.tick();
const fireEvent = () => fire.event();

const port = await testPort();
const base = MqttSchema.parse({
  url: `mqtt://127.0.0.1:${port}`,
  protocolVersion: 4,
  outbox: { maxMB: 1024 },
});
const mqtt: MqttConfig = { ...base, password: null, ca: null, cert: null, key: null, commandKeys: [] };
const channel = new MqttChannel(site, mqtt, {
  logger: silentLogger(),
  version: "bench",
  startedAt: now0,
  backoff: { baseMs: 200, maxMs: 1000 },
  clientId: "wattkeeper-bench",
});
channel.start();

// ---------------------------------------------------------------- 1. an hour offline
const t0 = performance.now();
for (let s = 0, t = 0, e = 0; s < SWEEPS; s++) {
  fire.sweep();
  // 2.5 ticks per 5 s sweep
  while (t < ((s + 1) * TICKS) / SWEEPS) {
    fireTick();
    t++;
  }
  while (e < ((s + 1) * EVENTS) / SWEEPS) {
    fireEvent();
    e++;
  }
}
const queueS = (performance.now() - t0) / 1000;
const queued = status();

// ---------------------------------------------------------------- broker up
const child = await forkBrokerChild<Counts>(import.meta.url, port);
const ask = () => child.ask("count");

/** Runs the tick every 200 ms for as long as `until` says, and returns each tick's latency (ms). */
async function measureTicks(until: () => boolean, minMs: number): Promise<number[]> {
  const lat: number[] = [];
  const start = performance.now();
  let due = performance.now() + 200;
  let n = 0;
  while (until() || performance.now() - start < minMs) {
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    const begin = performance.now();
    const snap = state.snapshot();
    // the channel's tick listener every 10th run (a 2 s tick); the snapshot every run
    if (++n % 10 === 0) {
      fire.tick(snap.at);
    }
    lat.push(performance.now() - begin + Math.max(0, begin - due));
    due += 200;
  }
  return lat;
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

const connectStart = performance.now();
while (!status().connected) await new Promise((r) => setTimeout(r, 20));
const replayStart = performance.now();
let replayS = Number.NaN;
const during = await measureTicks(() => {
  if ((status().outboxMessages as number) > 0) return true;
  if (Number.isNaN(replayS)) replayS = (performance.now() - replayStart) / 1000;
  return false;
}, 0);
const delivered = await ask();

// ---------------------------------------------------------------- 2. steady state
const steadyTicks = await measureTicks(() => false, 10_000);
const before = await ask();
const CYCLES = 20;
const s0 = performance.now();
for (let c = 0; c < CYCLES; c++) fire.sweep();
// done when the broker's count stops moving and nothing waits in the outbox
let afterSteady = before;
for (let still = 0; still < 5; ) {
  await new Promise((r) => setTimeout(r, 20));
  const a = await ask();
  still = a.messages === afterSteady.messages && status().outboxMessages === 0 ? still + 1 : 0;
  afterSteady = a;
}
const steadyS = (performance.now() - s0) / 1000 - 0.1;
const cycMsgs = (afterSteady.messages - before.messages) / CYCLES;
const cycBytes = (afterSteady.bytes - before.bytes) / CYCLES;

await channel.stop();
child.stop();

const result = {
  miners: state.miners.size,
  offline: {
    hours: HOURS,
    sweeps: SWEEPS,
    ticks: TICKS,
    events: EVENTS,
    queuedMessages: queued.outboxMessages,
    queuedMB: Number(((queued.outboxBytes as number) / 1e6).toFixed(1)),
    dropped: queued.outboxDropped,
    queueWriteS: Number(queueS.toFixed(1)),
  },
  replay: {
    connectS: Number(((replayStart - connectStart) / 1000).toFixed(2)),
    replayS: Number(replayS.toFixed(1)),
    deliveredMessages: delivered.messages,
    deliveredMB: Number((delivered.bytes / 1e6).toFixed(1)),
    msgPerS: Math.round(delivered.messages / replayS),
    mbPerS: Number((delivered.bytes / 1e6 / replayS).toFixed(1)),
  },
  tickMs: {
    steady: {
      p50: pct(steadyTicks, 50),
      p99: pct(steadyTicks, 99),
      max: Math.max(...steadyTicks),
      n: steadyTicks.length,
    },
    duringReplay: { p50: pct(during, 50), p99: pct(during, 99), max: Math.max(...during), n: during.length },
  },
  steady: {
    cycles: CYCLES,
    messagesPerCycle: Number(cycMsgs.toFixed(1)),
    bytesPerCycle: Math.round(cycBytes),
    bytesPerMinerPerCycle: Number((cycBytes / state.miners.size).toFixed(1)),
    cyclesPerS: Number((CYCLES / steadyS).toFixed(1)),
    bytesPerSAt5sCycle: Math.round(cycBytes / 5),
  },
};

if (values.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const f = (x: number) => x.toFixed(1);
  const rows: Array<[string, string]> = [
    ["miners", String(result.miners)],
    [
      `offline: ${HOURS} h queued`,
      `${result.offline.queuedMessages} msgs, ${result.offline.queuedMB} MB in ${result.offline.queueWriteS} s (dropped ${result.offline.dropped})`,
    ],
    [
      "replay (≤ 60 s)",
      `${result.replay.replayS} s: ${result.replay.deliveredMessages} msgs, ${result.replay.deliveredMB} MB (${result.replay.msgPerS} msg/s, ${result.replay.mbPerS} MB/s)`,
    ],
    [
      "tick p50/p99/max, steady",
      `${f(result.tickMs.steady.p50)} / ${f(result.tickMs.steady.p99)} / ${f(result.tickMs.steady.max)} ms (n=${result.tickMs.steady.n})`,
    ],
    [
      "tick p50/p99/max, replay",
      `${f(result.tickMs.duringReplay.p50)} / ${f(result.tickMs.duringReplay.p99)} / ${f(result.tickMs.duringReplay.max)} ms (n=${result.tickMs.duringReplay.n})`,
    ],
    [
      "steady: per miner cycle",
      `${result.steady.messagesPerCycle} msgs, ${result.steady.bytesPerCycle} B = ${result.steady.bytesPerMinerPerCycle} B/miner`,
    ],
    [
      "steady: publish rate",
      `${result.steady.cyclesPerS} cycles/s max; ${result.steady.bytesPerSAt5sCycle} B/s at a 5 s cycle`,
    ],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
}
process.exit(0);
