// The GPU-node driver against Debian's real OpenSSH server on loopback, with a
// scripted nvidia-smi, scontrol and kubectl on its PATH: pinning, reading, hung
// commands, -pl, and operator drain/resume commands through the real login
// shell and coreutils' timeout.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { GpuNode, type GpuNodeConfig, type GpuNodeOptions } from "../../drivers/nvidia/node.ts";
import { waitFor } from "../helpers/ports.ts";
import { type Sshd, startSshd } from "./gpu/sshd.ts";

const OTHER_PIN = "SHA256:Vc9X5d2mLJm9m0d0yqZ3r0G2n6b1mQh1fN8n4b3QeWk";

function hungProcesses(pattern = "sleep 59.1234"): number {
  try {
    return execFileSync("pgrep", ["-f", pattern], { encoding: "utf8" }).trim().split("\n").length;
  } catch {
    return 0; // pgrep exits 1 when nothing matches
  }
}

describe("GPU node against OpenSSH (sshd)", () => {
  let sshd: Sshd;
  const nodes: GpuNode[] = [];
  const mk = (cfg: Partial<GpuNodeConfig> = {}, opts: GpuNodeOptions = {}) => {
    const n = new GpuNode(
      {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        privateKeyFile: sshd.clientKeyFile,
        hostKeySha256: sshd.hostFingerprint,
        floorW: 350,
        ...cfg,
      },
      { commandTimeoutMs: 3000, ...opts },
    );
    nodes.push(n);
    return n;
  };

  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await sshd?.stop();
  });

  test("pinned by the fingerprint ssh-keygen prints; reads eight GPUs", async () => {
    const node = mk();
    const r = await node.read();
    assert.equal(r.state, "ok", r.reason ?? "");
    assert.equal(r.gpus.length, 8);
    assert.equal(r.gpus[3]!.powerW, 612.53);
    assert.equal(r.gpus[0]!.busy, true);
    assert.equal(r.gpus[1]!.busy, false);
    assert.equal(r.gpus[0]!.fanPct, null);
    assert.ok(node.capabilities().has("setPowerLimit"));
  });

  test("a changed host key is refused with both fingerprints", async () => {
    const r = await mk({ hostKeySha256: OTHER_PIN }).read();
    assert.equal(r.state, "unreachable");
    assert.ok(r.reason!.includes(`presented ${sshd.hostFingerprint}`), r.reason!);
    assert.ok(r.reason!.includes(`expected ${OTHER_PIN}`), r.reason!);
  });

  test("a hung nvidia-smi (ignoring SIGTERM) ends at the timeout, leaves no process or channel", async () => {
    // 2 s: the node's own `timeout` gets 1 s of it, room for sshd to start an honest run on a busy runner
    const timeoutMs = 2000;
    const node = mk({}, { commandTimeoutMs: timeoutMs });
    const first = await node.read();
    assert.equal(first.state, "ok", first.reason ?? "");
    sshd.setHang(true);
    try {
      // each read opens both of the node's channels: a leaked slot would block the second
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now();
        const r = await node.read();
        const took = Date.now() - t0;
        assert.equal(r.state, "faulted");
        assert.ok(took < timeoutMs + 300, `read ${i} took ${took} ms`);
        console.log(`hung read ${i}: ${took} ms, ${r.reason}`);
        await waitFor("channels to close", () => node.openChannels() === 0, 3000);
      }
      await waitFor("the hung processes to be killed", () => hungProcesses() === 0, 4000);
    } finally {
      sshd.setHang(false);
    }
    const after = await node.read();
    assert.equal(after.state, "ok", after.reason ?? "");
  });

  test("a power limit is set and confirmed; the floor is enforced", async () => {
    const node = mk();
    const r = await node.setPowerLimit(2, 400);
    assert.equal(r.ok, true, r.reason ?? "");
    assert.equal(r.enforcedW, 400);
    assert.equal(sshd.limit(2), "400");
    const low = await node.setPowerLimit(2, 300);
    assert.equal(low.ok, false);
    assert.match(low.reason!, /floor/);
  });

  test("a Slurm drain runs once through the user's shell, quotes intact; show node; resume", async () => {
    const node = mk();
    const drain = `scontrol update nodename=gpu-peer state=drain reason="wattkeeper: over budget"`;
    const d = await node.runOperatorCommand(drain, { timeoutMs: 5000 });
    assert.equal(d.ok, true, d.reason ?? "");
    assert.equal(d.exitCode, 0);
    // the shell removed the quotes: the configured string reached it unchanged
    assert.equal(
      sshd.file("ops.log"),
      "scontrol update nodename=gpu-peer state=drain reason=wattkeeper: over budget\n",
    );
    assert.equal(sshd.file("drain"), "wattkeeper: over budget\n");
    const shown = await node.runOperatorCommand("scontrol show node gpu-peer", { timeoutMs: 5000 });
    assert.match(shown.stdout, /State=IDLE\+DRAIN /);
    assert.match(shown.stdout, /Reason=wattkeeper: over budget \[root@/);
    const r = await node.runOperatorCommand("scontrol update nodename=gpu-peer state=resume", {
      timeoutMs: 5000,
    });
    assert.equal(r.ok, true, r.reason ?? "");
    assert.equal(sshd.file("drain"), null);
    const again = await node.runOperatorCommand("scontrol update nodename=gpu-peer state=resume", {
      timeoutMs: 5000,
    });
    assert.equal(again.ok, false);
    assert.equal(again.reason, "exit code 1: slurm_update error: Invalid node state specified");
    const c = await node.runOperatorCommand("kubectl cordon gpu-peer", { timeoutMs: 5000 });
    assert.deepEqual([c.ok, c.stdout], [true, "node/gpu-peer cordoned"]);
    const missing = await node.runOperatorCommand("sinfo -N", { timeoutMs: 5000 });
    assert.equal(missing.exitCode, 127);
    assert.match(
      missing.reason!,
      /^exit code 127 \(command not found on the node\): .*sinfo: command not found/,
    );
  });

  test("a hung operator command is ended on the node by timeout (exit 124), even one ignoring SIGTERM", async () => {
    const node = mk();
    const t0 = Date.now();
    // 8 s: the node's timeout gets 6.4 s of it; starting a session here takes up to ~1 s
    const r = await node.runOperatorCommand("sleep 59.4321", { timeoutMs: 8000 });
    const took = Date.now() - t0;
    assert.equal(r.ok, false);
    assert.equal(r.exitCode, 124, r.reason ?? "");
    assert.match(r.reason!, /exit code 124 \(the node's timeout ended it after 6.4 s\)/);
    assert.ok(took >= 6400 && took < 8000, `took ${took} ms`);
    await waitFor("the sleep to be gone", () => hungProcesses("sleep 59.4321") === 0, 3000);
    const stubborn = await node.runOperatorCommand("trap '' TERM; sleep 59.4322; true", { timeoutMs: 3000 });
    assert.equal(stubborn.ok, false);
    console.log(`stubborn command: ${stubborn.reason}`);
    await waitFor("the stubborn sleep to be killed", () => hungProcesses("sleep 59.4322") === 0, 4000);
    await waitFor("channels to close", () => node.openChannels() === 0, 3000);
  });
});
