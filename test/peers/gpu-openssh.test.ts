// The GPU-node driver against Debian's real OpenSSH server on loopback, with a
// scripted nvidia-smi on its PATH: pinning, reading, hung commands, -pl.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { GpuNode, type GpuNodeConfig, type GpuNodeOptions } from "../../drivers/nvidia/node.ts";
import { waitFor } from "../helpers/ports.ts";
import { type Sshd, startSshd } from "./gpu/sshd.ts";

const OTHER_PIN = "SHA256:Vc9X5d2mLJm9m0d0yqZ3r0G2n6b1mQh1fN8n4b3QeWk";

function hungProcesses(): number {
  try {
    return execFileSync("pgrep", ["-f", "sleep 59.1234"], { encoding: "utf8" }).trim().split("\n").length;
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
});
