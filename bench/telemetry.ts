// Device telemetry by exception at 5,000 miners (`npm run bench -- --only telemetry`,
// or `node --import tsx bench/telemetry.ts [--miners 5000] [--cycles 120] [--hours 1] [--json]`):
//  (1) steady state: bytes of telemetry/devices per miner per poll over `cycles` polls at a
//      5 s period (two full refreshes at the default fullEveryS 300 per 120 polls), for two
//      fleets — "sim": as the simulator serves a LuxOS fleet (power steady, hashrate ±1 %
//      jitter, temperatures steady); "field": noisier, as real fleets read poll to poll
//      (power ±0.75 %, hashrate ±3 %, chip temperature a ±0.5 °C random walk, 0.1 % of
//      miners change state each poll, 1 % unreachable with their age growing) — each by
//      exception and with fullEveryS 0 (every poll a full refresh: the format before);
//  (2) one hour offline (the field fleet, 720 polls, 1,800 site ticks, an event a minute)
//      queued in the SQLite outbox, then replayed to a broker: time to drain, and whether
//      the broker got every chunk in order (per kind the sequence goes up by one, times
//      never go back; events by id).
// The channel runs on a clock the bench moves (5 s per poll), so an hour of polls takes
// seconds; the broker (aedes) runs in a child process that counts and checks what it gets.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MqttChannel } from "../agent/mqtt/channel.ts";
import { silentLogger } from "../agent/runtime/logger.ts";
import type { BrokerStatus } from "../agent/site/site.ts";
import { SiteState } from "../agent/site/state.ts";
import { MqttSchema } from "../config/schema/mqtt.ts";
import type { MqttConfig, SiteConfig } from "../config/schema.ts";
import type { MinerReading } from "../drivers/types.ts";
import { mulberry32 } from "../sim/prng.ts";
import { testPort } from "../test/helpers/ports.ts";
import { type BrokerChild, brokerChildPort, forkBrokerChild, serveCountingBroker } from "./broker-child.ts";
import { benchChannelSite, benchFleetConfig } from "./channel-site.ts";

// ---------------------------------------------------------------- broker child
interface Counts {
  messages: number;
  bytes: number;
  devices: { messages: number; bytes: number };
  outOfOrder: string[];
}
const childPort = brokerChildPort();
if (childPort !== null) {
  const fresh = (): Counts => ({ messages: 0, bytes: 0, devices: { messages: 0, bytes: 0 }, outOfOrder: [] });
  let c = fresh();
  let lastSeq = new Map<string, { seq: number; at: number }>();
  let lastSiteAt = 0;
  let lastEventId = 0;
  const wrong = (s: string) => {
    if (c.outOfOrder.length < 5) c.outOfOrder.push(s);
  };
  await serveCountingBroker(childPort, {
    counts: () => c,
    publish: (t, payload) => {
      c.messages++;
      c.bytes += payload.length;
      if (t.endsWith("/telemetry/devices")) {
        c.devices.messages++;
        c.devices.bytes += payload.length;
        const m = JSON.parse(payload.toString()) as { kind: string; seq: number; at: string };
        const at = Date.parse(m.at);
        const last = lastSeq.get(m.kind);
        if (last && m.seq !== last.seq + 1) wrong(`${m.kind}: seq ${m.seq} after ${last.seq}`);
        if (last && at < last.at) wrong(`${m.kind}: ${m.at} after a later chunk`);
        lastSeq.set(m.kind, { seq: m.seq, at });
      } else if (t.endsWith("/telemetry/site")) {
        const at = Date.parse((JSON.parse(payload.toString()) as { at: string }).at);
        if (at < lastSiteAt) wrong(`site telemetry ${new Date(at).toISOString()} after a later one`);
        lastSiteAt = at;
      } else if (t.endsWith("/events")) {
        const id = (JSON.parse(payload.toString()) as { id: number }).id;
        if (id <= lastEventId) wrong(`event ${id} after ${lastEventId}`);
        lastEventId = id;
      }
    },
    reset: () => {
      c = fresh();
      lastSeq = new Map();
      lastSiteAt = 0;
      lastEventId = 0;
    },
  });
}

const { values } = parseArgs({
  options: {
    miners: { type: "string", default: "5000" },
    cycles: { type: "string", default: "120" },
    hours: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
  },
});
const MINERS = Number(values.miners);
const CYCLES = Number(values.cycles);
const HOURS = Number(values.hours);
const POLL_MS = 5000;
const TICK_MS = 2000;

const { dir, config: baseConfig } = await benchFleetConfig("wk-bench-telemetry-", MINERS);

// ---------------------------------------------------------------- fleets
type Model = "sim" | "field";

/** A fleet of LuxOS-like miners whose readings move each poll as the model says. */
function fleet(config: SiteConfig, model: Model, seed = 1) {
  const state = new SiteState(config);
  const rand = mulberry32(seed);
  const sym = () => rand() * 2 - 1;
  const ids = [...state.miners.keys()];
  const base = ids.map((_, i) => ({
    powerW: 3200 + (i % 23) * 11,
    hashrateThs: 100 + (i % 17) * 1.3,
    tempC: 70 + (i % 11) * 0.7,
    limitW: i % 7 === 0 ? 3000 : null,
    sleeping: i % 50 === 0,
    // the field fleet: 1 % never answer (their reading ages)
    dead: model === "field" && i % 100 === 99,
    drift: 0,
  }));
  const read = (i: number, at: number): MinerReading => {
    const b = base[i]!;
    const hashing = !b.sleeping;
    const noise = model === "sim" ? { p: 0, h: 0.01 } : { p: 0.0075, h: 0.03 };
    return {
      at,
      state: hashing ? "hashing" : "sleeping",
      reason: null,
      hashrateThs: hashing ? b.hashrateThs * (1 + sym() * noise.h) : 0,
      powerW: hashing ? b.powerW * (1 + sym() * noise.p) : 12,
      powerEstimated: false,
      powerLimitW: b.limitW,
      boardTempsC: [60, 61, 62],
      chipTempMaxC: hashing ? b.tempC + b.drift : 35,
      fanRpm: [5000, 5100],
      pools: [],
      uptimeS: 86_400,
      firmware: "luxos",
      model: "S19j Pro",
    };
  };
  return {
    state,
    /** One poll at `at`: every reachable miner read again. */
    poll(at: number) {
      ids.forEach((id, i) => {
        const b = base[i]!;
        if (b.dead && state.miners.get(id)?.reading) return;
        if (model === "field") {
          b.drift = Math.max(-5, Math.min(5, b.drift + sym() * 0.5));
          if (rand() < 0.001) b.sleeping = !b.sleeping;
        }
        state.setMinerReading(id, read(i, at));
      });
    },
  };
}

// ---------------------------------------------------------------- a channel on a bench-driven site
let run = 0;
function channelFor(model: Model, fullEveryS: number, port: number) {
  const runDir = join(dir, `run-${++run}`);
  mkdirSync(runDir);
  const config: SiteConfig = { ...baseConfig, store: { path: join(runDir, "state.db") } };
  const f = fleet(config, model);
  const b = benchChannelSite(config, f.state);
  const parsed = MqttSchema.parse({
    url: `mqtt://127.0.0.1:${port}`,
    protocolVersion: 4,
    outbox: { maxMB: 1024 },
    telemetry: { fullEveryS },
  });
  const mqtt: MqttConfig = { ...parsed, password: null, ca: null, cert: null, key: null, commandKeys: [] };
  let now = Date.parse("2026-12-05T00:00:00Z");
  const channel = new MqttChannel(b.site, mqtt, {
    logger: silentLogger(),
    version: "bench",
    startedAt: now,
    backoff: { baseMs: 200, maxMs: 1000 },
    clientId: `wattkeeper-bench-${run}`,
    clock: () => now,
  });
  return {
    channel,
    ...b,
    f,
    /** Moves the clock one poll on and sweeps; ticks and events at their rates in between. */
    poll(o: { ticks: boolean }) {
      const from = now;
      now += POLL_MS;
      f.poll(now);
      b.sweep();
      if (!o.ticks) return;
      for (let t = Math.ceil(from / TICK_MS) * TICK_MS; t < now; t += TICK_MS) b.tick(t);
      if (Math.floor(now / 60_000) > Math.floor(from / 60_000)) b.event(now);
    },
  };
}

const port = await testPort();
const broker: { child: BrokerChild<Counts> | null } = { child: null };
const ask = (m: "count" | "reset") => broker.child!.ask(m);
async function startBroker() {
  broker.child = await forkBrokerChild<Counts>(import.meta.url, port);
}
/** Until the broker's count stops moving and nothing waits in the outbox. */
async function settle(status: () => { outboxMessages: unknown }): Promise<Counts> {
  let prev = await ask("count");
  for (let still = 0; still < 5; ) {
    await new Promise((r) => setTimeout(r, 40));
    const c = await ask("count");
    still = c.messages === prev.messages && status().outboxMessages === 0 ? still + 1 : 0;
    prev = c;
  }
  return prev;
}
const connected = async (status: () => { connected: boolean }) => {
  while (!status().connected) await new Promise((r) => setTimeout(r, 20));
};

// ---------------------------------------------------------------- 2. an hour offline, then its replay
const POLLS = Math.round((HOURS * 3600_000) / POLL_MS);
const off = channelFor("field", 300, port);
off.channel.start();
const q0 = performance.now();
for (let p = 0; p < POLLS; p++) off.poll({ ticks: true });
const queueS = (performance.now() - q0) / 1000;
const queued = off.status() as BrokerStatus & { outboxBytes: number; outboxDropped: number };
await startBroker();
await connected(off.status);
const r0 = performance.now();
while ((off.status().outboxMessages as number) > 0) await new Promise((r) => setTimeout(r, 10));
const replayS = (performance.now() - r0) / 1000;
const replayed = await settle(off.status);
await off.channel.stop();

// ---------------------------------------------------------------- 1. steady state
interface Steady {
  model: Model;
  fullEveryS: number;
  bytesPerMinerPerPoll: number;
  messagesPerPoll: number;
  bytesPerPoll: number;
}
const steady: Steady[] = [];
for (const model of ["sim", "field"] as const) {
  for (const fullEveryS of [0, 300]) {
    const c = channelFor(model, fullEveryS, port);
    c.channel.start();
    await connected(c.status);
    await ask("reset");
    for (let p = 0; p < CYCLES; p++) {
      c.poll({ ticks: false });
      // let the publishes go out as they would between polls
      if (p % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    const n = await settle(c.status);
    await c.channel.stop();
    steady.push({
      model,
      fullEveryS,
      bytesPerMinerPerPoll: Number((n.devices.bytes / CYCLES / MINERS).toFixed(2)),
      messagesPerPoll: Number((n.devices.messages / CYCLES).toFixed(2)),
      bytesPerPoll: Math.round(n.devices.bytes / CYCLES),
    });
  }
}
broker.child?.stop();

const result = {
  miners: MINERS,
  pollS: POLL_MS / 1000,
  steady: { polls: CYCLES, rows: steady },
  offline: {
    hours: HOURS,
    polls: POLLS,
    queuedMessages: queued.outboxMessages,
    queuedMB: Number((queued.outboxBytes / 1e6).toFixed(1)),
    dropped: queued.outboxDropped,
    queueWriteS: Number(queueS.toFixed(1)),
    replayS: Number(replayS.toFixed(1)),
    deliveredMessages: replayed.messages,
    deliveredMB: Number((replayed.bytes / 1e6).toFixed(1)),
    devicesMB: Number((replayed.devices.bytes / 1e6).toFixed(1)),
    inOrder: replayed.outOfOrder.length === 0,
    outOfOrder: replayed.outOfOrder,
  },
};

if (values.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const rows: Array<[string, string]> = [
    ...steady.map((s): [string, string] => [
      `steady, ${s.model} fleet, ${s.fullEveryS === 0 ? "every poll in full (before)" : `by exception, refresh ${s.fullEveryS} s`}`,
      `${s.bytesPerMinerPerPoll} B/miner/poll (${s.bytesPerPoll} B, ${s.messagesPerPoll} msgs per poll)`,
    ]),
    [
      `offline ${HOURS} h, field fleet, queued`,
      `${result.offline.queuedMessages} msgs, ${result.offline.queuedMB} MB in ${result.offline.queueWriteS} s (dropped ${result.offline.dropped})`,
    ],
    [
      "replay (goal ≤ 30 s, in order)",
      `${result.offline.replayS} s: ${result.offline.deliveredMessages} msgs, ${result.offline.deliveredMB} MB (devices ${result.offline.devicesMB} MB); in order: ${result.offline.inOrder ? "yes" : `NO (${result.offline.outOfOrder.join("; ")})`}`,
    ],
  ];
  process.stdout.write(`${MINERS} miners, a poll every ${POLL_MS / 1000} s, ${CYCLES} polls steady\n`);
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
}
process.exit(0);
