// Device telemetry by exception, end to end: a Site on a simulated fleet
// publishes telemetry/devices to an in-process aedes broker; a consumer
// rebuilds the fleet from full refreshes plus deltas and, at every cycle, is
// checked against what /api/devices showed at that sweep (the same SiteState
// view): exactly at every full refresh, within each field's deadband in
// between. A broker outage queues the chunks in the outbox; they replay in
// order with no sequence gap. Then `wattkeeper tail-telemetry` against the
// same broker, and against a stream with a chunk missing.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, type MqttClient } from "mqtt";
import { main } from "../../agent/cli/main.ts";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { tailTelemetryCommand } from "../../agent/cli/tail-telemetry.ts";
import { chunkTelemetry, MINER_FIELDS } from "../../agent/mqtt/payloads.ts";
import { type DeviceFields, TelemetryConsumer } from "../../agent/mqtt/telemetry-consumer.ts";
import { deltaSpec, moved } from "../../agent/mqtt/telemetry-delta.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { devicesView } from "../../agent/site/device-rows.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../sim/mqtt/broker.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { ticksPass } from "../helpers/site-events.ts";

const SITE = "tel";
const TOPIC = `wattkeeper/v1/${SITE}/telemetry/devices`;
let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
let broker: EmbeddedBroker;
let site: Site;
let watcher: MqttClient;
const consumer = new TelemetryConsumer();

/** What /api/devices showed at each sweep, by sweep number (the channel's `cycle`). */
const views = new Map<number, ReturnType<typeof devicesView>>();
let sweeps = 0;
const checked = { full: 0, delta: 0 };
const mismatches: string[] = [];
/** Per kind, every sequence number and chunk time in the order the consumer got them. */
const order = new Map<string, Array<{ seq: number; at: number }>>();
const bytes = { full: 0, delta: 0, fullCycles: 0, deltaCycles: 0 };
/** Per kind, the sequence numbers in the order the broker received them from the agent. */
const atBroker = new Map<string, number[]>();

/** A miner of /api/devices as the telemetry row carries it (rounded as the agent rounds), ages taken at the chunk's time. */
function expectedMiner(row: DeviceFields, chunkAtMs: number): unknown[] {
  const r = (x: unknown, f: (n: number) => number) => (typeof x === "number" ? f(x) : null);
  const one = (n: number) => Math.round(n * 10) / 10;
  if (row.at === null) return [row.id, null, null, null, null, null, null];
  return [
    row.id,
    row.state,
    r(row.powerW, Math.round),
    r(row.hashrateThs, one),
    r(row.powerLimitW, Math.round),
    r(row.chipTempMaxC, one),
    Math.round((chunkAtMs - Date.parse(row.at as string)) / 1000),
  ];
}

before(async () => {
  broker = await startEmbeddedBroker({ host: "127.182.0.1", port: 0 });
  broker.broker.on("publish", (packet, client) => {
    if (!client?.id.startsWith("wattkeeper-") || packet.topic !== TOPIC) return;
    const m = JSON.parse(packet.payload.toString()) as { kind: string; seq: number };
    atBroker.set(m.kind, [...(atBroker.get(m.kind) ?? []), m.seq]);
  });
  const dir = mkdtempSync(join(tmpdir(), "wk-tel-"));
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: ${SITE}, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
mqtt:
  url: ${broker.url}
  protocolVersion: 4
  telemetry:
    fullEveryS: 2
    deadband: { powerW: 1%, hashrateThs: 2%, tempC: 1 }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.181.0.1:${await testPort("127.181.0.1")}", unitId: 1 } }
miners:
  - { hosts: 127.180.0.1-127.180.0.8, dialect: luxos }
control:
  tickS: 0.5
  minOnS: 1s
  minOffS: 1s
  restoreStaggerS: 0
  shedMarginW: 500
  restoreMarginW: 2kW
  rampUpWPerMin: 1MW
sim: { seed: 11, noiseW: 10, auxW: 1kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimFromConfig(config, silentLogger());
  const spec = deltaSpec(MINER_FIELDS, 1, config.mqtt!.telemetry);
  watcher = connect(broker.url, {
    protocolVersion: 4,
    clientId: "tel-consumer",
    clean: false,
    reconnectPeriod: 200,
  });
  watcher.on("message", (_topic, payload) => {
    const a = consumer.apply(payload);
    if (!a.ok) return mismatches.push(`refused: ${a.error}`);
    if ("duplicate" in a) return;
    const m = JSON.parse(payload.toString()) as { at: string; full: boolean };
    const seen = order.get(a.kind) ?? [];
    seen.push({ seq: a.seq, at: Date.parse(m.at) });
    order.set(a.kind, seen);
    if (a.kind !== "miners") return;
    bytes[a.full ? "full" : "delta"] += payload.length;
    if (!a.complete) return;
    bytes[a.full ? "fullCycles" : "deltaCycles"]++;
    const view = views.get(a.cycle);
    if (!view || !consumer.status("miners").synced) return;
    const got = consumer.devices("miners");
    if (got.length !== view.miners.length)
      mismatches.push(`cycle ${a.cycle}: ${got.length} miners, /api/devices ${view.miners.length}`);
    for (const row of view.miners) {
      const want = expectedMiner(row as DeviceFields, Date.parse(m.at));
      const d = consumer.device("miners", row.id);
      const have = MINER_FIELDS.map((f) => d?.[f]);
      MINER_FIELDS.forEach((f, i) => {
        // exact at a refresh; between refreshes a value may lag by at most its deadband
        const bad = a.full ? have[i] !== want[i] : moved(have[i], want[i], spec.deadbands[i] ?? null);
        if (bad)
          mismatches.push(
            `cycle ${a.cycle} (${a.full ? "full" : "delta"}): ${row.id}.${f} ${have[i]} vs ${want[i]}`,
          );
      });
    }
    checked[a.full ? "full" : "delta"]++;
  });
  await new Promise<void>((r) => watcher.once("connect", () => r()));
  await watcher.subscribeAsync(TOPIC, { qos: 1 });
  site = new Site(config, silentLogger(), {
    httpListen: { host: "127.182.0.1", port: 0 },
    minerPollMs: 300,
    meterPollMs: 250,
    version: "9.9.9",
  });
  // before start, so it runs before the channel's listener in every sweep and counts the same sweeps
  site.onSweep(() => {
    views.set(++sweeps, devicesView(site.state));
  });
  await site.start();
});

after(async () => {
  await site?.stop();
  await watcher?.endAsync(true);
  await broker?.stop();
  await sim?.stop();
});

test("the rebuilt fleet equals /api/devices at every full refresh, and stays within the deadbands between", async () => {
  await waitFor("all miners hashing", () => site.snapshot().counts.hashing === 8, 15_000);
  // a shed makes states, powers and hashrates move between refreshes
  site.setBudgetLease({ watts: 12_000, ttlS: 600, reason: "telemetry test" }, { via: "local", who: "test" });
  await waitFor("miners shed", () => site.snapshot().counts.sleeping >= 2, 20_000);
  await waitFor("three refreshes and deltas checked", () => checked.full >= 3 && checked.delta >= 10, 20_000);
  site.clearBudgetLease({ via: "local", who: "test" });
  await waitFor("miners back", () => site.snapshot().counts.hashing === 8, 20_000);
  await waitFor("a refresh after the restore", () => checked.full >= 5, 20_000);
  assert.deepEqual(mismatches, []);
  const st = consumer.status("miners");
  assert.equal(st.synced, true);
  assert.equal(st.gaps, 0);
  // the fleet as /api/devices serves it over HTTP names the same miners
  const a = site.httpAddress()!;
  const api = (await (await fetch(`http://127.182.0.1:${a.port}/api/devices`)).json()) as {
    miners: Array<{ id: string }>;
  };
  assert.deepEqual(
    consumer
      .devices("miners")
      .map((d) => d.id)
      .sort(),
    api.miners.map((m) => m.id).sort(),
  );
  // meters and (no) GPUs come through too
  assert.equal(consumer.device("meters", "pcc")?.role, "site");
  assert.equal(consumer.status("gpus").devices, 0);
  assert.equal(consumer.status("gpus").synced, true);
  // deltas are smaller than refreshes (eight miners: the header dominates, still less)
  assert.ok(bytes.delta / bytes.deltaCycles < bytes.full / bytes.fullCycles, JSON.stringify(bytes));
});

async function brokerStatus() {
  const a = site.httpAddress()!;
  const r = (await (await fetch(`http://127.182.0.1:${a.port}/api/site`)).json()) as {
    broker: Record<string, unknown>;
  };
  return r.broker;
}

test("broker down: telemetry waits in the outbox and replays in order, no sequence gap; then a refresh", async (t) => {
  t.after(() => broker.resume());
  const from = Object.fromEntries([...order].map(([k, v]) => [k, v.length]));
  const fromBroker = Object.fromEntries([...atBroker].map(([k, v]) => [k, v.length]));
  const checkedBefore = checked.full;
  await broker.interrupt();
  const downAt = Date.now();
  const outage = ticksPass(site, 6); // 3 s of 0.5 s ticks, each one publishing into the outbox
  await waitFor("outbox fills", async () => ((await brokerStatus()).outboxMessages as number) > 10, 10_000);
  await outage;
  const upAt = Date.now();
  await broker.resume();
  await waitFor("outbox drained", async () => (await brokerStatus()).outboxMessages === 0, 20_000);
  await waitFor("a refresh after the replay", () => checked.full > checkedBefore + 1, 20_000);
  assert.deepEqual(mismatches, []);
  // the broker got each chunk once, in the agent's order
  for (const [kind, seqs] of atBroker) {
    const after = seqs.slice(fromBroker[kind] ?? 0);
    if (kind === "miners") assert.ok(after.length > 5, `${kind}: ${after.length} chunks`);
    for (let i = 1; i < after.length; i++)
      assert.equal(after[i], after[i - 1]! + 1, `${kind} at the broker after ${after[i - 1]}`);
  }
  // and so did the consumer
  for (const [kind, seen] of order) {
    const after = seen.slice(from[kind] ?? 0);
    // every chunk once, in order: the sequence goes up by one, the times never go back
    after.forEach((x, i) => {
      if (i > 0) assert.equal(x.seq, after[i - 1]!.seq + 1, `${kind}: seq after ${after[i - 1]!.seq}`);
      if (i > 0) assert.ok(x.at >= after[i - 1]!.at, `${kind}: time order at seq ${x.seq}`);
    });
    assert.ok(
      after.some((x) => x.at >= downAt && x.at < upAt),
      `${kind}: chunks taken while offline were replayed`,
    );
    assert.equal(consumer.status(kind as "miners").gaps, 0, kind);
  }
});

test("tail-telemetry: prints the rebuilt fleet once synced (JSON and table); usage errors exit 2", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const w = (into: string[]) => ({ write: (s: string) => into.push(s) });
  const common = ["--broker", broker.url, "--site", SITE, "--mqtt-version", "4", "--once", "--timeout", "20"];
  const code = await tailTelemetryCommand([...common, "--json"], { out: w(out), err: w(err) });
  assert.equal(code, 0, err.join(""));
  const lines = out
    .join("")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.kind).sort(), ["gpus", "meters", "miners"]);
  const miners = lines.find((l) => l.kind === "miners");
  assert.equal(miners.synced, true);
  assert.equal(miners.full, true);
  assert.equal(miners.gaps, 0);
  // exactly what /api/devices showed at that sweep
  const view = views.get(miners.cycle)!;
  assert.deepEqual(
    miners.devices.map((d: DeviceFields) => MINER_FIELDS.map((f) => d[f])),
    view.miners.map((r) => expectedMiner(r as DeviceFields, Date.parse(miners.at))),
  );

  const table: string[] = [];
  assert.equal(
    await tailTelemetryCommand([...common, "--kind", "miners"], { out: w(table), err: w(err) }),
    0,
  );
  const text = table.join("");
  assert.match(text, /^miners · cycle \d+ · .* · full refresh · 8 devices · synced\n/);
  assert.match(text, /\nid +state +powerW +hashrateThs +powerLimitW +chipTempMaxC +ageS\n/);
  assert.equal(text.match(/^m-127-180-0-\d /gm)?.length, 8, text);

  // bad usage is exit 2 with a message, not a stack trace
  const stderr = process.stderr.write;
  const said: string[] = [];
  process.stderr.write = ((s: string) => {
    said.push(s);
    return true;
  }) as typeof process.stderr.write;
  try {
    assert.equal(await main(["tail-telemetry", "--broker", broker.url]), 2);
    assert.equal(await main(["tail-telemetry", "--broker", "http://x", "--site", SITE]), 2);
    assert.equal(await main(["tail-telemetry", "--broker", broker.url, "--site", SITE, "--kind", "fans"]), 2);
  } finally {
    process.stderr.write = stderr;
  }
  assert.match(said.join(""), /needs --site ID/);
  assert.match(said.join(""), /--broker: expected a broker URL/);
  assert.match(said.join(""), /--kind expects miners, gpus or meters/);
});

test("tail-telemetry: a lost chunk is reported on stderr and the picture marked unsynced until a refresh", async () => {
  const other = "tel-gap";
  const pub = connect(broker.url, { protocolVersion: 4, clientId: "tel-gap-pub" });
  await new Promise<void>((r) => pub.once("connect", () => r()));
  const out: string[] = [];
  const err: string[] = [];
  const ctl = new AbortController();
  const w = (into: string[]) => ({ write: (s: string) => into.push(s) });
  const run = tailTelemetryCommand(
    ["--broker", broker.url, "--site", other, "--mqtt-version", "4", "--json", "--kind", "miners"],
    { signal: ctl.signal, out: w(out), err: w(err) },
  );
  const head = (full: boolean, cycle: number) =>
    ({ kind: "miners", fields: MINER_FIELDS, key: 1, full, at: Date.now(), cycle }) as const;
  const send = (c: Buffer[]) =>
    Promise.all(c.map((m) => pub.publishAsync(`wattkeeper/v1/${other}/telemetry/devices`, m, { qos: 1 })));
  const a = ["m-1", "hashing", 3300, 110, null, 70, 0];
  // the CLI subscribes once connected: keep sending the refresh until it has it
  await waitFor("the CLI synced", async () => {
    await send(chunkTelemetry({ head: head(true, 1), rows: [a], gone: [], firstSeq: 1, maxBytes: 4096 }));
    return out.length > 0;
  });
  // seq 2 never arrives
  await send(
    chunkTelemetry({
      head: head(false, 3),
      rows: [[0, 1, "sleeping"]],
      gone: [],
      firstSeq: 3,
      maxBytes: 4096,
    }),
  );
  await waitFor("the delta printed", () => out.some((l) => JSON.parse(l).cycle === 3));
  ctl.abort();
  assert.equal(await run, 0);
  await pub.endAsync(true);
  assert.match(err.join(""), /miners: gap, expected seq 2, got 3 \(1 chunks lost\)/);
  const last = JSON.parse(out.at(-1)!);
  assert.equal(last.synced, false);
  assert.equal(last.gaps, 1);
  assert.equal(last.devices[0].state, "sleeping");
});
