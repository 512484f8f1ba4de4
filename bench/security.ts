// Security totals (`npm run security`): every kind of forged, stale,
// replayed, oversized or malformed command, many times over, against a real
// Site on the simulator through a broker (aedes, MQTT 3.1.1); and GPU-node
// connections to hosts presenting an unknown SSH host key. Counts refused vs
// applied: the goal is 100 % refused, 0 applied. Valid commands go through the
// same path alongside, so a channel that refuses everything cannot pass.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "mqtt";
import { silentLogger } from "../agent/logger.ts";
import { buildEnvelope, generateKeyPair, parsePrivateKey } from "../agent/mqtt/signing.ts";
import { startSimFromConfig } from "../agent/simulated-site.ts";
import { Site } from "../agent/site.ts";
import type { SiteEvent } from "../agent/store/events.ts";
import { loadConfig } from "../config/load.ts";
import { GpuNode } from "../drivers/nvidia/node.ts";
import { startGpuNodeSim } from "../sim/gpu/server.ts";
import { generateKeyPair as sshKeyPair } from "../sim/gpu/ssh2.ts";
import { startEmbeddedBroker } from "../sim/mqtt/broker.ts";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "50" }, ssh: { type: "string", default: "100" } },
});
const ROUNDS = Number(values.rounds);
const SSH_ATTEMPTS = Number(values.ssh);
const SITE = "sec";
const ROOT = `wattkeeper/v1/${SITE}`;
const SKEW_S = 60;
const MAX_BYTES = 4096;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

const broker = await startEmbeddedBroker({ port: await freePort() });
const dir = mkdtempSync(join(tmpdir(), "wk-security-"));
const ops = generateKeyPair();
const opsKey = parsePrivateKey(ops.privateKeyPem);
const rogue = parsePrivateKey(generateKeyPair().privateKeyPem);
writeFileSync(join(dir, "ops.pub.pem"), ops.publicKeyPem);
const file = join(dir, "site.yaml");
writeFileSync(
  file,
  `site: { id: ${SITE}, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
mqtt:
  url: ${broker.url}
  protocolVersion: 4
  commandSkewS: ${SKEW_S}
  maxCommandBytes: ${MAX_BYTES}
  commandKeys: [{ name: ops, publicKeyFile: ./ops.pub.pem }]
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await freePort()}", unitId: 1 } }
miners:
  - { hosts: 127.67.1.1-127.67.1.4, dialect: luxos }
control: { tickS: 1 }
sim: { seed: 3, noiseW: 10, auxW: 1kW }
`,
);
const { config } = await loadConfig(file, { strictFiles: true });
const sim = await startSimFromConfig(config, silentLogger());
const site = new Site(config, silentLogger(), { httpListen: null, minerPollMs: 1000 });
const events: SiteEvent[] = [];
site.onEvent((e) => events.push(e));
await site.start();

const central = connect(broker.url, { protocolVersion: 4, clientId: "central", reconnectPeriod: 500 });
const responses = new Map<string, { ok: boolean; error?: string }>();
/** Answers to payloads whose id could not be read (oversized: refused before parsing; malformed). */
const anonymous: Array<{ ok: boolean; error?: string }> = [];
central.on("message", (_topic, payload) => {
  try {
    const r = JSON.parse(payload.toString()) as { id?: string | null; ok: boolean; error?: string };
    if (r.id) responses.set(r.id, r);
    else anonymous.push(r);
  } catch {}
});
await new Promise<void>((r) => central.once("connect", () => r()));
await central.subscribeAsync(`${ROOT}/response/#`, { qos: 1 });
// the agent subscribes once its link is up
await new Promise((r) => setTimeout(r, 1500));

const sign = (
  name: string,
  body: unknown,
  o: { key?: typeof opsKey; keyName?: string; issuedAt?: string; id?: string } = {},
) =>
  buildEnvelope(o.key ?? opsKey, {
    siteId: SITE,
    name,
    keyName: o.keyName ?? "ops",
    body,
    issuedAt: o.issuedAt,
    id: o.id,
  });
const lease = (w: number) => ({ watts: w, ttlS: 600, reason: "forged" });
const iso = (offsetS: number) => new Date(Date.now() + offsetS * 1000).toISOString();

async function send(
  name: string,
  payload: string | Buffer,
  id: string,
): Promise<{ ok: boolean; error?: string } | null> {
  const mark = anonymous.length;
  await central.publishAsync(`${ROOT}/request/${name}`, payload, { qos: 1 });
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    const r = responses.get(id) ?? anonymous[mark];
    if (r) return r;
    await new Promise((res) => setTimeout(res, 5));
  }
  return null;
}

type Kind = {
  kind: string;
  expect: string;
  make: () => { name: string; payload: string; id: string; prelude?: () => Promise<void> };
};
const kinds: Kind[] = [
  {
    kind: "unsigned",
    expect: "unsigned",
    make: () => {
      const e = sign("budget/set", lease(1)) as Record<string, unknown>;
      delete e.sig;
      return { name: "budget/set", payload: JSON.stringify(e), id: e.id as string };
    },
  },
  {
    kind: "unknown key",
    expect: "unknown-key",
    make: () => {
      const e = sign("budget/set", lease(2), { keyName: "nobody" });
      return { name: "budget/set", payload: JSON.stringify(e), id: e.id };
    },
  },
  {
    kind: "wrong key",
    expect: "bad-signature",
    make: () => {
      const e = sign("mode/set", { mode: "hold" }, { key: rogue });
      return { name: "mode/set", payload: JSON.stringify(e), id: e.id };
    },
  },
  {
    kind: "tampered body",
    expect: "bad-signature",
    make: () => {
      const e = sign("budget/set", lease(900_000));
      return { name: "budget/set", payload: JSON.stringify({ ...e, body: lease(3) }), id: e.id };
    },
  },
  {
    kind: "signed for another site",
    expect: "bad-signature",
    make: () => {
      const e = buildEnvelope(opsKey, {
        siteId: "other-site",
        name: "mode/set",
        keyName: "ops",
        body: { mode: "hold" },
      });
      return { name: "mode/set", payload: JSON.stringify(e), id: e.id };
    },
  },
  {
    kind: "stale",
    expect: "stale",
    make: () => {
      const e = sign("budget/set", lease(4), { issuedAt: iso(-SKEW_S - 30) });
      return { name: "budget/set", payload: JSON.stringify(e), id: e.id };
    },
  },
  {
    kind: "from the future",
    expect: "future",
    make: () => {
      const e = sign("budget/set", lease(5), { issuedAt: iso(SKEW_S + 30) });
      return { name: "budget/set", payload: JSON.stringify(e), id: e.id };
    },
  },
  {
    kind: "oversized",
    expect: "oversized",
    make: () => {
      const e = sign("budget/set", { ...lease(6), reason: "x".repeat(MAX_BYTES) });
      return { name: "budget/set", payload: JSON.stringify(e), id: e.id };
    },
  },
  {
    kind: "unknown command",
    expect: "unknown-command",
    make: () => {
      const e = sign("site/self-destruct", {});
      return { name: "site/self-destruct", payload: JSON.stringify(e), id: e.id };
    },
  },
  {
    kind: "schema-invalid",
    expect: "schema",
    make: () => {
      const e = sign("budget/set", { watts: -5, ttlS: 600, reason: "negative" });
      return { name: "budget/set", payload: JSON.stringify(e), id: e.id };
    },
  },
  {
    kind: "malformed JSON",
    expect: "malformed",
    make: () => {
      const id = randomUUID();
      return { name: "budget/set", payload: `{"id":"${id}","sig":${randomBytes(8).toString("hex")}`, id };
    },
  },
];

interface Row {
  kind: string;
  sent: number;
  refused: number;
  rightReason: number;
  unanswered: number;
  applied: number;
}
const rows: Row[] = [];
const before = () => ({ lease: site.budgetLease, mode: site.mode });
for (const k of kinds) {
  const row: Row = { kind: k.kind, sent: 0, refused: 0, rightReason: 0, unanswered: 0, applied: 0 };
  for (let i = 0; i < ROUNDS; i++) {
    const c = k.make();
    const b = before();
    const r = await send(c.name, c.payload, c.id);
    row.sent++;
    if (r === null) row.unanswered++;
    else if (!r.ok) {
      row.refused++;
      if ((r.error ?? "").startsWith(k.expect)) row.rightReason++;
    }
    if (site.budgetLease !== b.lease || site.mode !== b.mode) row.applied++;
  }
  rows.push(row);
}
// replays: a valid ping is accepted once, and the same envelope again is refused
{
  const row: Row = { kind: "replayed", sent: 0, refused: 0, rightReason: 0, unanswered: 0, applied: 0 };
  let firstOk = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const e = sign("ping", {});
    const first = await send("ping", JSON.stringify(e), e.id);
    if (first?.ok) firstOk++;
    responses.delete(e.id);
    const again = await send("ping", JSON.stringify(e), e.id);
    row.sent++;
    if (again === null) row.unanswered++;
    else if (!again.ok) {
      row.refused++;
      if ((again.error ?? "").startsWith("replayed")) row.rightReason++;
    }
  }
  rows.push(row);
  if (firstOk !== ROUNDS) throw new Error(`only ${firstOk}/${ROUNDS} valid pings were accepted`);
}
// control group: valid commands through the same path are applied
const valid = sign("budget/set", { watts: 800_000, ttlS: 60, reason: "valid control" });
const validR = await send("budget/set", JSON.stringify(valid), valid.id);
const validApplied = validR?.ok === true && site.budgetLease?.watts === 800_000;
site.clearBudgetLease();

const forgedApplied = events.filter(
  (e) =>
    (e.kind === "lease-set" && (e.data as { reason?: string })?.reason !== "valid control") ||
    e.kind === "mode-changed",
).length;
const audited = site.audit?.recent(100_000).filter((a) => a.via === "mqtt" && !a.ok).length ?? 0;
await central.endAsync(true);
await site.stop();
await sim.stop();
await broker.stop();

// ---- SSH: GPU nodes presenting a host key other than the pinned one
const client = sshKeyPair();
const gpu = await startGpuNodeSim({ id: "imposter", authorizedKeys: [client.publicKey] });
let sshRefused = 0;
let sshNamed = 0;
for (let i = 0; i < SSH_ATTEMPTS; i++) {
  // a pinned fingerprint that is not the one the host presents: a swapped or spoofed host
  const pinned = `SHA256:${createHash("sha256").update(randomBytes(32)).digest("base64").replace(/=+$/, "")}`;
  const node = new GpuNode(
    {
      host: gpu.host,
      port: gpu.port,
      user: "wk",
      privateKey: client.privateKey,
      hostKeySha256: pinned,
      floorW: 350,
    },
    { commandTimeoutMs: 2000 },
  );
  const r = await node.read();
  await node.stop();
  if (r.state !== "ok" && r.gpus.length === 0) sshRefused++;
  if ((r.reason ?? "").includes(gpu.hostKeyFingerprint) && (r.reason ?? "").includes(pinned)) sshNamed++;
}
const sshExecs = gpu.execs();
await gpu.stop();

console.log(
  `security totals: ${ROUNDS} of each forged command kind through MQTT, ${SSH_ATTEMPTS} unknown SSH host keys`,
);
console.table(rows);
const total = rows.reduce((a, r) => a + r.sent, 0);
const refused = rows.reduce((a, r) => a + r.refused, 0);
const applied = rows.reduce((a, r) => a + r.applied, 0) + forgedApplied;
console.log(
  `commands: ${refused}/${total} refused (${((refused / total) * 100).toFixed(1)} %), ${rows.reduce((a, r) => a + r.rightReason, 0)} with the expected reason, ${applied} applied, ${audited} refusals audited; valid control command applied: ${validApplied}`,
);
console.log(
  `SSH: ${sshRefused}/${SSH_ATTEMPTS} unknown host keys refused (${sshNamed} naming presented and expected fingerprints), nvidia-smi commands run on the imposter: ${sshExecs}`,
);
const ok =
  refused === total && applied === 0 && validApplied && sshRefused === SSH_ATTEMPTS && sshExecs === 0;
console.log(ok ? "PASS" : "FAIL");
process.exit(ok ? 0 : 1);
