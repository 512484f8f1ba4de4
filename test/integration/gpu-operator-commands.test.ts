// Drain / resume commands and clock locks through the GPU-node driver against
// the simulated node over SSH: a Slurm drain runs once and is captured, the
// node shows DRAIN and its GPUs go idle, resume brings the jobs back; a hung
// command ends at its deadline leaving no channel; a failing one says why.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { GpuNode, type GpuNodeOptions } from "../../drivers/nvidia/node.ts";
import { type GpuNodeSim, startGpuNodeSim } from "../../sim/gpu/server.ts";
import { generateKeyPair } from "../../sim/gpu/ssh2.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const client = generateKeyPair();
const NAME = "gpu-07";
const DRAIN = `sudo scontrol update nodename=${NAME} state=drain reason="wattkeeper: site over budget"`;
const RESUME = `sudo scontrol update nodename=${NAME} state=resume`;

describe("operator commands on a GPU node over SSH (simulator)", () => {
  let sim: GpuNodeSim;
  const nodes: GpuNode[] = [];
  const logs: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const mk = (opts: GpuNodeOptions = {}) => {
    const n = new GpuNode(
      {
        host: sim.host,
        port: sim.port,
        user: "wattkeeper",
        privateKey: client.privateKey,
        hostKeySha256: sim.hostKeyFingerprint,
        floorW: 350,
      },
      {
        commandTimeoutMs: 2000,
        logger: {
          info: (obj, msg) => logs.push({ level: "info", msg, obj: obj as Record<string, unknown> }),
          warn: (obj, msg) => logs.push({ level: "warn", msg, obj: obj as Record<string, unknown> }),
        },
        ...opts,
      },
    );
    nodes.push(n);
    return n;
  };
  const sent = (what: string) => sim.shell.commands().filter((c) => c.command.includes(what));

  before(async () => {
    sim = await startGpuNodeSim({ id: NAME, authorizedKeys: [client.publicKey], drainDelayMs: 300 });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await sim.stop();
  });

  test("drain runs once over the node's own connection, is captured, and the jobs drain away; resume brings them back", async () => {
    const node = mk();
    const first = await node.read();
    assert.equal(first.state, "ok", first.reason ?? "");
    const busyBefore = first.gpus.map((g) => g.busy);
    const powerBefore = first.powerW!;

    const d = await node.runOperatorCommand(DRAIN, { timeoutMs: 5000 });
    assert.deepEqual(
      { ok: d.ok, exitCode: d.exitCode, reason: d.reason },
      { ok: true, exitCode: 0, reason: null },
    );
    assert.ok(d.durationMs >= 0 && d.durationMs < 5000);
    assert.equal(sent("scontrol update").length, 1, "run once");
    assert.match(sent("scontrol update")[0]!.command, /^timeout -k 1 4 "\$SHELL" -c 'sudo scontrol update /);
    assert.equal(sim.workload.drain?.reason, "wattkeeper: site over budget");
    assert.equal(sim.connections(), 1, "the same persistent connection as nvidia-smi");
    const audit = logs.find((l) => l.msg === "operator command ran");
    assert.equal(audit?.obj.command, DRAIN);
    assert.equal(audit?.obj.exitCode, 0);

    const shown = await node.runOperatorCommand(`scontrol show node ${NAME}`, { timeoutMs: 5000 });
    assert.ok(shown.ok, shown.reason ?? "");
    assert.match(shown.stdout, /State=MIXED\+DRAIN /, "jobs still running");
    await waitFor("the jobs to finish", () => sim.workload.jobsFinished(), 3000);
    const idle = await node.read();
    assert.deepEqual(
      idle.gpus.map((g) => g.busy),
      idle.gpus.map(() => false),
    );
    assert.ok(idle.powerW! < powerBefore / 5, `${idle.powerW} W after drain vs ${powerBefore} W`);
    const drained = await node.runOperatorCommand(`scontrol show node ${NAME}`, { timeoutMs: 5000 });
    assert.match(drained.stdout, /State=IDLE\+DRAIN /);
    assert.match(drained.stdout, /Reason=wattkeeper: site over budget \[root@/);

    const r = await node.runOperatorCommand(RESUME, { timeoutMs: 5000 });
    assert.equal(r.ok, true, r.reason ?? "");
    assert.equal(sent("state=resume").length, 1);
    const back = await node.read();
    assert.deepEqual(
      back.gpus.map((g) => g.busy),
      busyBefore,
    );
    assert.ok(Math.abs(back.powerW! - powerBefore) < 1);
    assert.match(
      (await node.runOperatorCommand(`scontrol show node ${NAME}`, { timeoutMs: 5000 })).stdout,
      /State=MIXED /,
    );
  });

  test("kubectl cordon and uncordon print what kubectl prints", async () => {
    const node = mk();
    const c = await node.runOperatorCommand(`kubectl cordon ${NAME}`, { timeoutMs: 5000 });
    assert.deepEqual([c.ok, c.stdout], [true, `node/${NAME} cordoned`]);
    assert.equal(sim.workload.schedulable(), false);
    const u = await node.runOperatorCommand(`kubectl uncordon ${NAME}`, { timeoutMs: 5000 });
    assert.deepEqual([u.ok, u.stdout], [true, `node/${NAME} uncordoned`]);
  });

  test("a hung command ends at its deadline, ok:false, and leaves no channel open; the link stays usable", async () => {
    const node = mk({ closeGraceMs: 500 });
    assert.equal((await node.read()).state, "ok");
    sim.shell.faults.push({ match: "scontrol", hang: true, times: 1 });
    const before = sent("scontrol").length;
    const conns = sim.connections();
    const t0 = Date.now();
    const r = await node.runOperatorCommand(DRAIN, { timeoutMs: 700 });
    const took = Date.now() - t0;
    assert.equal(r.ok, false);
    assert.equal(r.exitCode, null);
    assert.match(r.reason!, /did not finish within 700 ms; the channel was closed/);
    assert.ok(took < 700 + 300, `took ${took} ms`);
    assert.equal(sent("scontrol").length, before + 1, "sent once, not retried");
    await waitFor("the channel to close", () => sim.openChannels() === 0 && node.openChannels() === 0, 2000);
    assert.equal(sim.connections(), conns, "closed the channel, kept the connection");
    assert.equal(logs.at(-1)?.level, "warn");
    const next = await node.runOperatorCommand(`scontrol show node ${NAME}`, { timeoutMs: 2000 });
    assert.equal(next.ok, true, next.reason ?? "");
  });

  test("the caller's abort ends a hung command too", async () => {
    const node = mk({ closeGraceMs: 500 });
    sim.shell.faults.push({ match: "kubectl", hang: true, times: 1 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150); // the stimulus: an abort while the command hangs
    const r = await node.runOperatorCommand(`kubectl cordon ${NAME}`, { timeoutMs: 5000, signal: ac.signal });
    assert.equal(r.ok, false);
    assert.match(r.reason!, /aborted after \d+ ms/);
    await waitFor("the channel to close", () => sim.openChannels() === 0 && node.openChannels() === 0, 2000);
  });

  test("a failing command: ok:false with the exit code and stderr; an unknown one is exit 127", async () => {
    const node = mk();
    sim.shell.faults.push({
      match: "state=drain",
      exitCode: 1,
      stderr: "slurm_update error: Access/permission denied\nsecond line\n",
      times: 1,
    });
    const r = await node.runOperatorCommand(DRAIN, { timeoutMs: 5000 });
    assert.equal(r.ok, false);
    assert.equal(r.exitCode, 1);
    assert.equal(r.reason, "exit code 1: slurm_update error: Access/permission denied");
    assert.match(r.stderr, /Access\/permission denied\\nsecond line/);
    const missing = await node.runOperatorCommand("sinfo -N", { timeoutMs: 5000 });
    assert.equal(missing.exitCode, 127);
    assert.equal(
      missing.reason,
      "exit code 127 (command not found on the node): bash: sinfo: command not found",
    );
  });

  test("output is bounded and printable; refused commands never reach the node", async () => {
    const node = mk();
    sim.shell.faults.push({ match: "noisy", stdout: `\u001b[2J${"y".repeat(20_000)}`, times: 1 });
    const r = await node.runOperatorCommand("noisy-drain", { timeoutMs: 5000 });
    assert.equal(r.ok, true);
    assert.ok(r.stdout.startsWith("\\x1b[2Jyyy"));
    assert.match(r.stdout, /… \(15908 more characters\)$/);
    const before = sim.shell.commands().length;
    for (const bad of ["", "  ", "scontrol update nodename=x state=drain\nreboot", "a\u0000b"]) {
      const out = await node.runOperatorCommand(bad, { timeoutMs: 5000 });
      assert.equal(out.ok, false);
      assert.match(out.reason!, /^not run: /);
    }
    assert.equal(
      (await node.runOperatorCommand("true", { timeoutMs: 0 })).reason,
      "not run: the deadline must be a positive number of milliseconds",
    );
    assert.equal(sim.shell.commands().length, before);
  });

  test("an unreachable node gives ok:false with the connect error, never a throw", async () => {
    const port = await testPort();
    const n = new GpuNode(
      {
        host: "127.0.0.1",
        port,
        user: "wattkeeper",
        privateKey: client.privateKey,
        hostKeySha256: sim.hostKeyFingerprint,
        floorW: 350,
      },
      { connectTimeoutMs: 1000 },
    );
    nodes.push(n);
    const r = await n.runOperatorCommand(DRAIN, { timeoutMs: 2000 });
    assert.equal(r.ok, false);
    assert.match(r.reason!, /WK_SSH_CONNECT|ECONNREFUSED/);
  });

  test("clock lock: -lgc 0,MAX holds clocks.sm under the ceiling and the draw falls; -rgc lifts it", async () => {
    const node = mk();
    const before = sim.smi.drawW(sim.smi.gpus[0]!);
    const r = await node.lockClocks(0, 1410);
    assert.deepEqual(r, { ok: true, reason: null, index: 0, requestedMaxMHz: 1410, smClockMHz: 1410 });
    assert.equal(sim.smi.gpus[0]!.lockedMaxMHz, 1410);
    assert.ok(sent("-lgc 0,1410").length === 1);
    assert.ok(sim.smi.drawW(sim.smi.gpus[0]!) < before - 150);
    assert.equal(node.activeClockLocks().get(sim.smi.gpus[0]!.uuid), 1410);
    const reset = await node.resetClocks(0);
    assert.equal(reset.ok, true, reset.reason ?? "");
    assert.equal(reset.smClockMHz, 1980);
    assert.equal(node.activeClockLocks().size, 0);
    assert.equal(sim.smi.drawW(sim.smi.gpus[0]!), before);
  });

  test("clock lock refusals: bad ceiling never sent; Insufficient Permissions reported", async () => {
    const node = mk();
    const runs = sim.smi.runs.clocks;
    assert.match((await node.lockClocks(0, 0)).reason!, /ceiling/);
    assert.equal(sim.smi.runs.clocks, runs);
    sim.smi.faults.clocksPermissionDenied = true;
    try {
      const r = await node.lockClocks(1, 1200);
      assert.equal(r.ok, false);
      assert.match(r.reason!, /-lgc refused: nvidia-smi exit 4 \(insufficient permissions\)/);
      assert.equal(sim.smi.gpus[1]!.lockedMaxMHz, null);
    } finally {
      sim.smi.faults.clocksPermissionDenied = false;
    }
  });
});
