// The GPU-node driver against the simulated node (ssh2 Server on loopback):
// an 8× H100 reading, host-key refusal, a hung nvidia-smi, power-limit writes,
// re-applied caps after a driver reload, faults, and `probe gpu`.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { probeGpuCommand } from "../../agent/cli/probe-gpu.ts";
import { UsageError } from "../../agent/cli/usage.ts";
import { GpuNode, type GpuNodeConfig, type GpuNodeOptions } from "../../drivers/nvidia/node.ts";
import { type GpuNodeSim, startGpuNodeSim } from "../../sim/gpu/server.ts";
import { generateKeyPair } from "../../sim/gpu/ssh2.ts";
import { PowerModel } from "../../sim/power-model.ts";
import { waitFor } from "../helpers/ports.ts";

const client = generateKeyPair();
const OTHER_PIN = "SHA256:Vc9X5d2mLJm9m0d0yqZ3r0G2n6b1mQh1fN8n4b3QeWk";

function sink() {
  let text = "";
  const w = new Writable({
    write(chunk, _enc, cb) {
      text += chunk;
      cb();
    },
  });
  return { w, text: () => text };
}

describe("GPU node over SSH against the simulator", () => {
  let sim: GpuNodeSim;
  let model: PowerModel;
  const nodes: GpuNode[] = [];
  const mk = (cfg: Partial<GpuNodeConfig> = {}, opts: GpuNodeOptions = {}) => {
    const n = new GpuNode(
      {
        host: sim.host,
        port: sim.port,
        user: "wattkeeper",
        privateKey: client.privateKey,
        hostKeySha256: sim.hostKeyFingerprint,
        floorW: 350,
        ...cfg,
      },
      { commandTimeoutMs: 2000, ...opts },
    );
    nodes.push(n);
    return n;
  };

  before(async () => {
    model = new PowerModel({ seed: 1 });
    sim = await startGpuNodeSim({ id: "gpu-01", authorizedKeys: [client.publicKey], model });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await sim.stop();
  });

  test("reads an 8× H100 node over one connection; busy from compute-apps; draw feeds the model", async () => {
    const node = mk();
    const r = await node.read();
    assert.equal(r.state, "ok", r.reason ?? "");
    assert.equal(r.gpus.length, 8);
    const g = r.gpus[0]!;
    assert.equal(g.name, "NVIDIA H100 80GB HBM3");
    assert.equal(g.maxPowerLimitW, 700);
    assert.equal(g.minPowerLimitW, 200);
    assert.equal(g.fanPct, null);
    assert.equal(g.nullReasons.fanPct, "[N/A]");
    assert.deepEqual(
      r.gpus.map((x) => x.busy),
      [true, true, true, false, true, true, true, false],
    );
    assert.ok(Math.abs((r.powerW ?? 0) - sim.smi.powerW()) < 0.1);
    assert.ok(Math.abs(model.classW("ai") - sim.smi.powerW()) < 1e-9);
    assert.deepEqual([...node.capabilities()].sort(), ["busy", "read", "restorePowerLimit", "setPowerLimit"]);
    await node.read();
    assert.equal(sim.connections(), 1, "one persistent connection");
    await node.stop();
    await waitFor("the connection to close", () => sim.connections() === 0, 2000);
  });

  test("a changed host key is refused, naming the presented and the expected fingerprint", async () => {
    const node = mk({ hostKeySha256: OTHER_PIN });
    const r = await node.read();
    assert.equal(r.state, "unreachable");
    assert.match(r.reason!, /WK_SSH_HOST_KEY/);
    assert.ok(r.reason!.includes(`presented ${sim.hostKeyFingerprint}`), r.reason!);
    assert.ok(r.reason!.includes(`expected ${OTHER_PIN}`), r.reason!);
    assert.equal(sim.execs() >= 0 && sim.openChannels(), 0);
  });

  test("a hung nvidia-smi ends at the timeout and leaves no channel open", async () => {
    const node = mk({}, { commandTimeoutMs: 600, closeGraceMs: 500 });
    assert.equal((await node.read()).state, "ok");
    sim.smi.faults.hang = true;
    try {
      const t0 = Date.now();
      const r = await node.read();
      const took = Date.now() - t0;
      assert.equal(r.state, "faulted");
      assert.match(r.reason!, /did not answer within 600 ms/);
      assert.ok(took < 600 + 250, `read took ${took} ms`);
      await waitFor(
        "the hung channels to close",
        () => sim.openChannels() === 0 && node.openChannels() === 0,
        2000,
      );
      assert.equal(sim.connections(), 1, "closed the channels, kept the connection");
    } finally {
      sim.smi.faults.hang = false;
    }
    assert.equal((await node.read()).state, "ok");
  });

  test("set a power limit, confirmed through enforced.power.limit; refused below the floor and outside [min, max]", async () => {
    const node = mk();
    const before = model.classW("ai");
    const ok = await node.setPowerLimit(1, 400);
    assert.equal(ok.ok, true, ok.reason ?? "");
    assert.equal(ok.enforcedW, 400);
    assert.equal(ok.beforeW, 700);
    assert.equal(sim.smi.gpus[1]!.limitW, 400);
    assert.ok(model.classW("ai") < before - 200, "the cap lowers the ai load");
    const floor = await node.setPowerLimit(1, 300);
    assert.equal(floor.ok, false);
    assert.match(floor.reason!, /below this node's floor of 350 W/);
    const high = await node.setPowerLimit(1, 800);
    assert.equal(high.ok, false);
    assert.match(high.reason!, /outside GPU 1's range \[200, 700\]/);
    assert.equal(sim.smi.gpus[1]!.limitW, 400, "refusals sent nothing");
    const restored = await node.restorePowerLimit(1);
    assert.equal(restored.ok, true, restored.reason ?? "");
    assert.equal(restored.enforcedW, 700);
    assert.equal(node.activeCaps().size, 0);
  });

  test("reads that overlap a cap or a restore never put an old limit back", async () => {
    // the poll's re-apply used to judge a GPU by a read taken while a restore ran, and
    // re-set the cap just lifted (seen as a GPU left capped after the site was restored)
    const events: string[] = [];
    const node = mk({}, { onEvent: (e) => events.push(e.kind) });
    for (let i = 0; i < 8; i++) {
      const [, capped] = await Promise.all([node.read(), node.setPowerLimit(3, 450), node.read()]);
      assert.equal(capped.ok, true, capped.reason ?? "");
      const [, restored] = await Promise.all([node.read(), node.restorePowerLimit(3), node.read()]);
      assert.equal(restored.ok, true, restored.reason ?? "");
      assert.equal(sim.smi.gpus[3]!.limitW, 700, `round ${i}: the restore stands`);
    }
    await node.read();
    assert.equal(sim.smi.gpus[3]!.limitW, 700);
    assert.deepEqual(events, [], "nothing was re-applied");
  });

  test("a cap is re-applied after the driver reloads (limits do not persist)", async () => {
    const events: string[] = [];
    const node = mk({}, { onEvent: (e) => events.push(e.kind) });
    assert.equal((await node.setPowerLimit(2, 450)).ok, true);
    sim.reboot();
    assert.equal(sim.smi.gpus[2]!.limitW, 700);
    const r = await node.read();
    assert.equal(r.state, "ok", r.reason ?? "");
    assert.deepEqual(
      r.events.map((e) => e.kind),
      ["cap-reapplied"],
    );
    assert.match(r.events[0]!.message, /limit was back at 700 W .* re-applied 450 W/);
    assert.equal(r.gpus[2]!.powerLimitW, 450);
    assert.equal(sim.smi.gpus[2]!.limitW, 450);
    assert.deepEqual(events, ["cap-reapplied"]);
    assert.equal((await node.restorePowerLimit(2)).ok, true);
  });

  test("a connection reset after connect (ECONNRESET) is handled, and the next read reconnects", async () => {
    const node = mk();
    assert.equal((await node.read()).state, "ok");
    const before = sim.connections();
    sim.resetConnections();
    await waitFor("the reset to reach the client", () => sim.connections() < before, 2000);
    // the node does not report when its own side has seen the reset: a short wall-clock margin
    await new Promise((r) => setTimeout(r, 50));
    const r = await node.read();
    assert.equal(r.state, "ok", r.reason ?? "");
  });

  test("-pl permission denied → ok:false with the reason", async () => {
    const node = mk();
    sim.smi.faults.plPermissionDenied = true;
    try {
      const r = await node.setPowerLimit(0, 500);
      assert.equal(r.ok, false);
      assert.match(r.reason!, /exit 4.*Insufficient Permissions/);
      assert.equal(node.activeCaps().size, 0);
    } finally {
      sim.smi.faults.plPermissionDenied = false;
    }
  });

  test("driver not loaded and a lost GPU make the node faulted, never throw", async () => {
    const node = mk();
    sim.smi.faults.driverNotLoaded = true;
    try {
      const r = await node.read();
      assert.equal(r.state, "faulted");
      assert.match(r.reason!, /exit 9 \(NVIDIA driver not loaded\)/);
    } finally {
      sim.smi.faults.driverNotLoaded = false;
    }
    sim.smi.gpus[5]!.lost = true;
    try {
      const r = await node.read();
      assert.equal(r.state, "faulted");
      assert.match(r.reason!, /GPU 5 is lost/);
      assert.deepEqual(
        r.events.map((e) => [e.kind, e.index]),
        [["gpu-lost", 5]],
      );
      assert.equal(r.gpus.length, 8);
      assert.equal((await node.read()).events.length, 0, "raised once, not every read");
    } finally {
      sim.smi.gpus[5]!.lost = false;
    }
    const back = await node.read();
    assert.equal(back.state, "ok");
    assert.deepEqual(
      back.events.map((e) => e.kind),
      ["gpu-recovered"],
    );
  });

  test("fields the driver does not list are left out and null with a reason", async () => {
    sim.smi.faults.unsupportedFields = ["temperature.memory"];
    try {
      const node = mk();
      const r = await node.read();
      assert.equal(r.state, "ok");
      assert.equal(r.gpus[0]!.memTempC, null);
      assert.match(r.gpus[0]!.nullReasons.memTempC!, /unsupported/);
    } finally {
      sim.smi.faults.unsupportedFields = [];
    }
  });

  test("a wrong client key is unreachable, and the sim stays up", async () => {
    const node = mk({ privateKey: generateKeyPair().privateKey });
    const r = await node.read();
    assert.equal(r.state, "unreachable");
    assert.match(r.reason!, /WK_SSH_AUTH/);
  });

  describe("probe gpu", () => {
    let dir: string;
    let keyFile: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "wk-gpu-"));
      keyFile = join(dir, "id_ed25519");
      writeFileSync(keyFile, client.privateKey, { mode: 0o600 });
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    test("--json: the documented shape, every field present; exit 0", async () => {
      const out = sink();
      const code = await probeGpuCommand(
        [`ops@${sim.host}:${sim.port}`, "--key", keyFile, "--host-key", sim.hostKeyFingerprint, "--json"],
        out.w,
      );
      assert.equal(code, 0, out.text());
      const j = JSON.parse(out.text());
      assert.equal(j.host, sim.host);
      assert.equal(j.gpus.length, 8);
      assert.deepEqual(Object.keys(j.gpus[0]), [
        "index",
        "uuid",
        "name",
        "powerW",
        "powerLimitW",
        "enforcedPowerLimitW",
        "minPowerLimitW",
        "maxPowerLimitW",
        "defaultPowerLimitW",
        "tempC",
        "memTempC",
        "utilPct",
        "memUsedMiB",
        "memTotalMiB",
        "smClockMHz",
        "fanPct",
        "pstate",
        "eccUncorrected",
        "busy",
      ]);
      assert.equal(j.gpus[0].fanPct, null);
    });

    test("a changed host key: exit 1, both fingerprints printed", async () => {
      const out = sink();
      const code = await probeGpuCommand(
        [`${sim.host}:${sim.port}`, "--key", keyFile, "--host-key", OTHER_PIN],
        out.w,
      );
      assert.equal(code, 1);
      assert.ok(out.text().includes(`presented ${sim.hostKeyFingerprint}`), out.text());
      assert.ok(out.text().includes(`expected ${OTHER_PIN}`), out.text());
    });

    test("bad flags are usage errors", async () => {
      const out = sink();
      await assert.rejects(probeGpuCommand([sim.host, "--key", keyFile], out.w), UsageError);
      await assert.rejects(probeGpuCommand([sim.host, "--bogus"], out.w), UsageError);
      await assert.rejects(
        probeGpuCommand([sim.host, "--key", keyFile, "--host-key", "SHA256:short"], out.w),
        UsageError,
      );
    });
  });
});
