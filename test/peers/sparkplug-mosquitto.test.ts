// The Sparkplug B edge node against a broker no one here wrote (Debian's
// Mosquitto on loopback), read by a test "host application" that decodes every
// message with the Eclipse Tahu codec (sparkplug-payload), not the agent's
// helpers. In process, with a primary host: no births while the host is
// offline; NBIRTH/DBIRTH/DDATA typed, aliases unique; seq 0–255 wrapping over
// hundreds of messages; Node Control/Rebirth honoured; NCMD/DCMD writes
// refused with acceptCommands off (nothing applied, audited); the host going
// offline ends the session (NDEATH) and its return brings a new bdSeq; a clean
// stop sends DDEATHs and the NDEATH. As a child process (`wattkeeper run` with
// the embedded simulator, acceptCommands on): DCMD exclude and NCMD mode
// applied and seen in the next DDATA/NDATA; kill -9 → the broker delivers the
// will, an NDEATH whose bdSeq is the NBIRTH's.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, type MqttClient } from "mqtt";
import sparkplugPayload from "sparkplug-payload";
import type { UMetric, UPayload } from "sparkplug-payload/lib/sparkplugbpayload.js";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { ticksPass } from "../helpers/site-events.ts";
import { startPlainMosquitto } from "./mosquitto.ts";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;
const GROUP = "wk-test";
const HOST_ID = "scada-host";
const spB = sparkplugPayload.get("spBv1.0")!;

let broker: ChildProcess;
let port: number;
let host: MqttClient;
const children: ChildProcess[] = [];

interface Msg {
  topic: string;
  type: string;
  edge: string;
  device: string | null;
  payload: UPayload;
  seq: number | null;
}
const inbox: Msg[] = [];

const n = (v: unknown): number | null =>
  v === undefined || v === null ? null : typeof v === "number" ? v : Number(v as { toString(): string });
const seqOf = (p: UPayload) => n(p.seq);
const bdSeqOf = (p: UPayload) => n(p.metrics?.find((m) => m.name === "bdSeq")?.value);
const from = (edge: string, i = 0) => inbox.slice(i).filter((m) => m.edge === edge);

function command(topic: string, metrics: UMetric[]) {
  return host.publishAsync(topic, Buffer.from(spB.encodePayload({ timestamp: Date.now(), metrics })), {
    qos: 0,
  });
}
function hostState(online: boolean) {
  return host.publishAsync(`spBv1.0/STATE/${HOST_ID}`, JSON.stringify({ online, timestamp: Date.now() }), {
    qos: 1,
    retain: true,
  });
}

before(async () => {
  const m = await startPlainMosquitto();
  broker = m.process;
  port = m.port;
  host = connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: "test-host-app" });
  await new Promise<void>((r) => host.once("connect", () => r()));
  host.on("message", (topic, payload) => {
    const p = topic.split("/");
    if (p[1] !== GROUP) return;
    const decoded = spB.decodePayload(payload);
    inbox.push({
      topic,
      type: p[2] ?? "",
      edge: p[3] ?? "",
      device: p[4] ?? null,
      payload: decoded,
      seq: seqOf(decoded),
    });
  });
  await host.subscribeAsync(`spBv1.0/${GROUP}/#`, { qos: 1 });
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await host?.endAsync(true);
  broker?.kill("SIGKILL");
});

async function siteConfig(dir: string, edge: string, base: string, extra: string) {
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: ${edge}, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: ${base}.1-${base}.8, dialect: luxos }
control: { tickS: 0.5, shedMarginW: 500, restoreMarginW: 1500, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0, rampUpWPerMin: 10MW }
exports:
  sparkplug: { groupId: ${GROUP}, edgeNodeId: ${edge}, url: "mqtt://127.0.0.1:${port}", ${extra} }
sim: { seed: 9, noiseW: 200, auxW: 1kW }
`,
  );
  return file;
}

test("in process: births wait for the primary host; typed births, DDATA by alias, seq wraps, rebirth, writes refused, STATE offline → NDEATH", {
  timeout: 120_000,
}, async (t) => {
  const EDGE = "edge-a";
  await hostState(false);
  const dir = mkdtempSync(join(tmpdir(), "wk-spb-a-"));
  const { config } = await loadConfig(
    await siteConfig(dir, EDGE, "127.142.0", `primaryHostId: ${HOST_ID}, acceptCommands: false`),
    { strictFiles: true },
  );
  const sim = await startSimFromConfig(config, silentLogger());
  const site = new Site(config, silentLogger(), {
    httpListen: null,
    minerPollMs: 150,
    meterPollMs: 100,
    version: "test",
  });
  try {
    await site.start();
    await waitFor("eight miners hashing", () => site.snapshot().counts.hashing === 8, 15_000);
    await ticksPass(site, 3);
    assert.deepEqual(from(EDGE), [], "nothing published while the primary host is offline");

    // (1) the host comes online: NBIRTH (seq 0, bdSeq) and a DBIRTH per device, decoded by Tahu's codec
    await hostState(true);
    const birth = await waitFor("NBIRTH", () => from(EDGE).find((m) => m.type === "NBIRTH"));
    const start = inbox.indexOf(birth);
    assert.equal(birth.seq, 0);
    const bdSeq = bdSeqOf(birth.payload);
    assert.ok(bdSeq !== null && bdSeq >= 0 && bdSeq <= 255, `bdSeq ${bdSeq}`);
    const nm = new Map((birth.payload.metrics ?? []).map((m) => [m.name, m]));
    assert.equal(nm.get("bdSeq")?.type, "UInt64");
    assert.equal(nm.get("Node Control/Rebirth")?.type, "Boolean");
    assert.equal(nm.get("Node Control/Rebirth")?.value, false);
    assert.equal(nm.get("Site/Power W")?.type, "Double");
    assert.ok((nm.get("Site/Power W")?.value as number) > 0);
    assert.equal(nm.get("Counts/Hashing")?.type, "Int32");
    assert.equal(nm.get("Counts/Hashing")?.value, 8);
    assert.equal(nm.get("Control/Mode")?.value, "auto");
    assert.equal(nm.get("Site/Budget Source")?.type, "String");
    await waitFor("nine DBIRTHs", () => from(EDGE, start).filter((m) => m.type === "DBIRTH").length === 9);
    const dbirths = from(EDGE, start).filter((m) => m.type === "DBIRTH");
    assert.deepEqual(dbirths.map((m) => m.device).sort(), [
      ...Array.from({ length: 8 }, (_, i) => `m-127-142-0-${i + 1}`),
      "pcc",
    ]);
    const aliases = new Map<number, string>();
    for (const m of [birth, ...dbirths]) {
      for (const x of m.payload.metrics ?? []) {
        if (x.name === "bdSeq") continue;
        const a = n(x.alias);
        assert.ok(a !== null, `${x.name} has an alias`);
        assert.equal(aliases.has(a), false, `alias ${a} unique (${x.name})`);
        aliases.set(a, `${m.device ?? ""}/${x.name}`);
        assert.ok(x.type, `${x.name} has a datatype`);
      }
    }
    const miner = dbirths.find((m) => m.device === "m-127-142-0-1")!;
    const mm = new Map((miner.payload.metrics ?? []).map((m) => [m.name, m]));
    assert.equal(mm.get("State")?.value, "hashing");
    assert.equal(mm.get("Power W")?.type, "Double");
    assert.equal(mm.get("Excluded")?.type, "Boolean");

    // DDATA: only aliases the births declared, only changed metrics
    const ddata = await waitFor("a DDATA", () => from(EDGE, start).find((m) => m.type === "DDATA"));
    for (const x of ddata.payload.metrics ?? []) {
      assert.equal(x.name, undefined, "DATA carries aliases only");
      assert.ok(aliases.get(n(x.alias)!)?.startsWith(`${ddata.device}/`), "a declared alias of that device");
    }

    // (2) seq: +1 on every message after NBIRTH, 0–255, wrapping 255 → 0
    await waitFor("300 messages after the NBIRTH", () => from(EDGE, start).length > 300, 90_000, 200);
    const seqs = from(EDGE, start).map((m) => m.seq);
    for (let i = 1; i < seqs.length; i++) {
      assert.equal(seqs[i], ((seqs[i - 1] as number) + 1) % 256, `seq after ${seqs[i - 1]} (message ${i})`);
    }
    assert.ok(seqs.includes(255) && seqs[seqs.indexOf(255) + 1] === 0, "wrapped 255 → 0");
    t.diagnostic(`${seqs.length} messages after NBIRTH, seq wrapped at message ${seqs.indexOf(255) + 1}`);

    // (4) rebirth: a fresh NBIRTH (seq 0, same bdSeq) and every DBIRTH again
    const before1 = inbox.length;
    await command(`spBv1.0/${GROUP}/NCMD/${EDGE}`, [
      { name: "Node Control/Rebirth", type: "Boolean", value: true },
    ]);
    const rebirth = await waitFor("the rebirth", () => from(EDGE, before1).find((m) => m.type === "NBIRTH"));
    assert.equal(rebirth.seq, 0);
    assert.equal(bdSeqOf(rebirth.payload), bdSeq, "a rebirth keeps the session's bdSeq");
    await waitFor(
      "DBIRTHs again",
      () => from(EDGE, inbox.indexOf(rebirth)).filter((m) => m.type === "DBIRTH").length === 9,
    );

    // (5) writes with acceptCommands off: refused, audited, nothing applied
    const auditedBefore = site.audit?.refusalCount() ?? 0;
    await command(`spBv1.0/${GROUP}/DCMD/${EDGE}/m-127-142-0-1`, [
      { name: "Control/Action", type: "String", value: "sleep" },
    ]);
    await command(`spBv1.0/${GROUP}/NCMD/${EDGE}`, [{ name: "Control/Mode", type: "String", value: "hold" }]);
    await waitFor(
      "the refusals audited",
      () => (site.audit?.refusalCount() ?? 0) >= auditedBefore + 2,
      5_000,
    );
    const refused = (site.audit?.recent(20) ?? []).filter((e) => e.via === "sparkplug");
    assert.ok(refused.some((e) => e.reason === "commands-off" && e.action === "sparkplug/dcmd" && !e.ok));
    assert.ok(refused.some((e) => e.reason === "commands-off" && e.action === "sparkplug/ncmd"));
    await ticksPass(site, 3);
    assert.equal(site.mode, "auto", "mode not changed");
    assert.equal(site.state.miners.get("m-127-142-0-1")?.reading?.state, "hashing", "the miner not slept");
    assert.equal(
      (site.audit?.recent(50) ?? []).filter((e) => e.action === "mode/set" || e.action === "device/action")
        .length,
      0,
      "no intent reached the site",
    );

    // the primary host goes offline: the session ends with its NDEATH; back online → a new bdSeq
    const before2 = inbox.length;
    await hostState(false);
    const death = await waitFor("NDEATH on host offline", () =>
      from(EDGE, before2).find((m) => m.type === "NDEATH"),
    );
    assert.equal(bdSeqOf(death.payload), bdSeq);
    assert.equal(death.seq, null, "NDEATH carries no seq");
    await ticksPass(site, 3);
    assert.equal(from(EDGE, inbox.indexOf(death) + 1).length, 0, "quiet while the host is offline");
    await hostState(true);
    const reborn = await waitFor("NBIRTH after the host is back", () =>
      from(EDGE, before2).find((m) => m.type === "NBIRTH"),
    );
    const bdSeq2 = bdSeqOf(reborn.payload);
    assert.equal(bdSeq2, ((bdSeq as number) + 1) % 256, "a new session, the next bdSeq");

    // a clean stop: DDEATH per device, then NDEATH with this session's bdSeq
    const before3 = inbox.length;
    await site.stop();
    const last = await waitFor("NDEATH on stop", () => from(EDGE, before3).find((m) => m.type === "NDEATH"));
    assert.equal(bdSeqOf(last.payload), bdSeq2);
    assert.equal(from(EDGE, before3).filter((m) => m.type === "DDEATH").length, 9);
  } finally {
    await site.stop().catch(() => undefined);
    await sim.stop();
    await host.publishAsync(`spBv1.0/STATE/${HOST_ID}`, "", { qos: 1, retain: true });
  }
});

test("child process: DCMD and NCMD applied with acceptCommands on; kill -9 → the will NDEATH with the NBIRTH's bdSeq", {
  timeout: 90_000,
}, async () => {
  const EDGE = "edge-b";
  const dir = mkdtempSync(join(tmpdir(), "wk-spb-b-"));
  const file = await siteConfig(dir, EDGE, "127.143.0", "acceptCommands: true, reportByExceptionW: 100");
  writeFileSync(file, `http: { listen: "127.0.0.1:${await testPort()}" }\n`, { flag: "a" });
  const child = spawn(process.execPath, [BIN, "run", "--config", file], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    out += d;
  });
  const birth = await waitFor(
    "NBIRTH from the child",
    () => {
      if (child.exitCode !== null) throw new Error(`the agent exited ${child.exitCode}`);
      return from(EDGE).find((m) => m.type === "NBIRTH");
    },
    30_000,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}\n${out.slice(-3000)}`);
  });
  const bdSeq = bdSeqOf(birth.payload);
  const start = inbox.indexOf(birth);
  await waitFor("DBIRTHs", () => from(EDGE, start).filter((m) => m.type === "DBIRTH").length === 9);
  const aliasOf = (device: string | null, name: string) => {
    const m =
      device === null ? birth : from(EDGE, start).find((x) => x.type === "DBIRTH" && x.device === device)!;
    return n(m.payload.metrics?.find((x) => x.name === name)?.alias);
  };
  const sees = (type: string, device: string | null, alias: number | null, value: unknown, i: number) =>
    from(EDGE, i).find(
      (m) =>
        m.type === type &&
        m.device === device &&
        (m.payload.metrics ?? []).some((x) => n(x.alias) === alias && x.value === value),
    );

  // a device action, by name; the result in the next DDATA
  const i1 = inbox.length;
  await command(`spBv1.0/${GROUP}/DCMD/${EDGE}/m-127-143-0-3`, [
    { name: "Control/Action", type: "String", value: "exclude" },
  ]);
  await waitFor("DDATA Excluded true", () =>
    sees("DDATA", "m-127-143-0-3", aliasOf("m-127-143-0-3", "Excluded"), true, i1),
  );
  await waitFor("DDATA Control/Last Action", () =>
    sees("DDATA", "m-127-143-0-3", aliasOf("m-127-143-0-3", "Control/Last Action"), "exclude: done", i1),
  );
  // the mode, by alias; the result in the next NDATA
  const modeAlias = aliasOf(null, "Control/Mode");
  const i2 = inbox.length;
  await command(`spBv1.0/${GROUP}/NCMD/${EDGE}`, [
    { alias: modeAlias, type: "String", value: "hold" } as UMetric,
  ]);
  await waitFor("NDATA Control/Mode hold", () => sees("NDATA", null, modeAlias, "hold", i2));

  // a budget lease: watts and TTL together in one NCMD
  const i4 = inbox.length;
  await command(`spBv1.0/${GROUP}/NCMD/${EDGE}`, [
    { name: "Control/Lease W", type: "Double", value: 600_000 },
    { name: "Control/Lease TTL S", type: "Int32", value: 900 },
  ]);
  await waitFor("NDATA Control/Lease W", () =>
    sees("NDATA", null, aliasOf(null, "Control/Lease W"), 600_000, i4),
  );
  await waitFor("NDATA Site/Budget W", () =>
    sees("NDATA", null, aliasOf(null, "Site/Budget W"), 600_000, i4),
  );

  // kill -9: no clean stop; the broker publishes the will
  const i3 = inbox.length;
  child.kill("SIGKILL");
  await once(child, "exit");
  const death = await waitFor(
    "the will NDEATH",
    () => from(EDGE, i3).find((m) => m.type === "NDEATH"),
    10_000,
  );
  assert.equal(bdSeqOf(death.payload), bdSeq, "NDEATH's bdSeq is the NBIRTH's");
  assert.equal(death.seq, null);
});
