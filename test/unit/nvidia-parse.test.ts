// nvidia-smi parsing on realistic text: rows by position, placeholders as null
// with a reason, lost GPUs, field probing, exit codes, -pl replies, host keys.
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { describe, test } from "node:test";
import { getHeapSnapshot } from "node:v8";
import {
  fingerprintSha256,
  knownHostsFingerprints,
  normaliseFingerprint,
} from "../../drivers/nvidia/hostkey.ts";
import {
  exitReason,
  invalidField,
  markOmitted,
  parseComputeApps,
  parseGpuCsv,
  parseHelpQueryGpu,
  planQuery,
  powerLimitRefusal,
  queryArgs,
} from "../../drivers/nvidia/parse.ts";
import { SmiSim } from "../../sim/gpu/smi.ts";

const ALL = planQuery(null);
const H100 =
  "0, GPU-2d6f3a51-1f0e-8a2b-5d0c-7e7a1b9c4f10, NVIDIA H100 80GB HBM3, 631.95, 700.00, 700.00, 200.00, 700.00, 700.00, 59, 54, 100, 19818, 81559, 1980, [N/A], P0, 0";

describe("nvidia-smi --query-gpu parsing", () => {
  test("the query names each field once, in our order, with the CSV format flags", () => {
    const args = queryArgs(ALL, 3);
    assert.deepEqual(args.slice(0, 2), ["-i", "3"]);
    assert.match(args[2]!, /^--query-gpu=index,uuid,name,power\.draw,power\.limit,enforced\.power\.limit,/);
    assert.equal(args[3], "--format=csv,noheader,nounits");
  });

  test("an H100 row parses by position; [N/A] fan becomes null with its reason", () => {
    const { gpus, rejected } = parseGpuCsv(`${H100}\n`, ALL);
    assert.deepEqual(rejected, []);
    const g = gpus[0]!;
    assert.equal(g.index, 0);
    assert.equal(g.name, "NVIDIA H100 80GB HBM3");
    assert.equal(g.powerW, 631.95);
    assert.equal(g.enforcedPowerLimitW, 700);
    assert.equal(g.minPowerLimitW, 200);
    assert.equal(g.smClockMHz, 1980);
    assert.equal(g.pstate, "P0");
    assert.equal(g.eccUncorrected, 0);
    assert.equal(g.fanPct, null);
    assert.equal(g.nullReasons.fanPct, "[N/A]");
    assert.equal(g.health, "ok");
  });

  test("every placeholder kind is null with the placeholder as reason", () => {
    const cells = H100.split(", ");
    cells[3] = "[Not Supported]";
    cells[10] = "[Unknown Error]";
    cells[12] = "[Insufficient Permissions]";
    cells[17] = "[Requested functionality has been deprecated]";
    cells[9] = "N/A";
    const g = parseGpuCsv(cells.join(", "), ALL).gpus[0]!;
    assert.equal(g.powerW, null);
    assert.equal(g.nullReasons.powerW, "[Not Supported]");
    assert.equal(g.memTempC, null);
    assert.equal(g.nullReasons.memTempC, "[Unknown Error]");
    assert.equal(g.nullReasons.memUsedMiB, "[Insufficient Permissions]");
    assert.equal(g.nullReasons.eccUncorrected, "[Requested functionality has been deprecated]");
    assert.equal(g.tempC, null);
    assert.equal(g.health, "ok");
  });

  test("[GPU is lost] and [GPU requires reset] mark the GPU's health", () => {
    const lost = ["3", ...Array(17).fill("[GPU is lost]")].join(", ");
    const reset = ["4", ...Array(17).fill("[GPU requires reset]")].join(", ");
    const { gpus } = parseGpuCsv([H100, lost, reset].join("\n"), ALL);
    assert.deepEqual(
      gpus.map((g) => [g.index, g.health]),
      [
        [0, "ok"],
        [3, "lost"],
        [4, "reset-required"],
      ],
    );
    assert.equal(gpus[1]!.uuid, null);
    assert.equal(gpus[1]!.nullReasons.uuid, "[GPU is lost]");
  });

  test("a row of the wrong width is rejected, not guessed at; garbage numbers are null", () => {
    const cells = H100.split(", ");
    cells[4] = "seven hundred";
    const { gpus, rejected } = parseGpuCsv(`${cells.join(", ")}\n0, GPU-x, name, with, commas\n`, ALL);
    assert.equal(gpus.length, 1);
    assert.equal(gpus[0]!.powerLimitW, null);
    assert.match(gpus[0]!.nullReasons.powerLimitW!, /unparseable/);
    assert.equal(rejected.length, 1);
  });

  test("--help-query-gpu: names and aliases; unsupported fields are left out and marked", () => {
    const sim = new SmiSim();
    sim.faults.unsupportedFields = ["temperature.memory", "clocks.sm"];
    const r = sim.run("nvidia-smi --help-query-gpu");
    assert.ok(!("hang" in r));
    const names = parseHelpQueryGpu(r.stdout)!;
    assert.ok(names.has("gpu_uuid") && names.has("clocks.current.sm") && !names.has("temperature.memory"));
    const plan = planQuery(names);
    assert.deepEqual(plan.omitted, ["memTempC"]);
    assert.equal(plan.fields.find((f) => f.spec.key === "smClockMHz")?.name, "clocks.current.sm");
    const q = sim.run(`nvidia-smi ${queryArgs(plan).join(" ")}`);
    assert.ok(!("hang" in q) && q.code === 0);
    const { gpus } = parseGpuCsv(q.stdout, plan);
    markOmitted(gpus, plan.omitted);
    assert.equal(gpus.length, 8);
    assert.equal(gpus[0]!.memTempC, null);
    assert.match(gpus[0]!.nullReasons.memTempC!, /unsupported/);
    assert.equal(parseHelpQueryGpu("Usage: nvidia-smi [OPTION]"), null);
  });

  test("--help-query-gpu: the names kept do not hold the help text", async () => {
    // a marker no other string holds, and names long enough for V8 to cut them as views
    const marker = createHash("sha256").update(String(Math.random())).digest("hex");
    const lines = [`${marker} help`];
    for (let i = 0; i < 200; i++)
      lines.push(`"clocks.property.number.${i}" or "alias_${i}_long_enough"`, "x".repeat(200));
    const names = parseHelpQueryGpu(lines.join("\n"))!;
    assert.equal(names.size, 400);
    // RegExp.lastMatch would hold the text's last line (and, through it, the text) otherwise
    /./.exec("-");
    // a heap snapshot collects first: the text is in it only while something holds it
    const held = (await heapStrings()).some((t) => t.startsWith(`${marker} help\n`));
    assert.equal(held, false, "the help text is still on the heap");
    assert.ok(names.has("clocks.property.number.7") && names.has("alias_7_long_enough"));
  });

  test("an unknown field names itself in the error", () => {
    assert.equal(
      invalidField('Field "clocks.current.sm" is not a valid field to query.\n\n'),
      "clocks.current.sm",
    );
    assert.equal(invalidField("All done."), null);
  });

  test("compute apps: busy GPU UUIDs; an idle node prints nothing", () => {
    const busy = parseComputeApps("GPU-aaa, 4100\nGPU-aaa, 4101\nGPU-bbb, 4200\n");
    assert.deepEqual([...busy].sort(), ["GPU-aaa", "GPU-bbb"]);
    assert.equal(parseComputeApps("").size, 0);
  });
});

describe("nvidia-smi exit codes and -pl replies", () => {
  test("exit codes make a node fault with the code's meaning and what it printed", () => {
    assert.match(
      exitReason(9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", ""),
      /exit 9 \(NVIDIA driver not loaded\): NVIDIA-SMI has failed/,
    );
    assert.match(exitReason(6, "No devices were found\n", ""), /exit 6 \(no devices found\)/);
    assert.match(
      exitReason(18, "Failed to initialize NVML: Driver/library version mismatch", ""),
      /driver\/library version mismatch/,
    );
    assert.match(exitReason(15, "", ""), /fell off the bus/);
    assert.match(exitReason(127, "", "sh: 1: nvidia-smi: not found"), /not found/);
    assert.match(exitReason(42, "", ""), /exit 42 \(nvidia-smi failed\)/);
  });

  test("-pl: success, permission denied, out of range, unsupported", () => {
    assert.equal(
      powerLimitRefusal(
        0,
        "Power limit for GPU 00000000:18:00.0 was set to 500.00 W from 700.00 W.\nAll done.",
        "",
      ),
      null,
    );
    assert.match(
      powerLimitRefusal(
        4,
        "Failed to set power management limit for GPU 00000000:18:00.0: Insufficient Permissions\nTerminating early due to previous errors.",
        "",
      )!,
      /exit 4, insufficient permissions\): Failed to set .*Insufficient Permissions/,
    );
    assert.match(
      powerLimitRefusal(
        2,
        "Provided power limit 100.00 W is not a valid power limit which should be between 200.00 W and 700.00 W for GPU 00000000:18:00.0\nTerminating early due to previous errors.",
        "",
      )!,
      /not a valid power limit/,
    );
    // reported to exit 0 on some GPUs: still a refusal
    assert.match(
      powerLimitRefusal(
        0,
        "Changing power management limit is not supported for GPU: 00000000:01:00.0.",
        "",
      )!,
      /not supported/,
    );
  });
});

describe("host-key pins", () => {
  const blob = Buffer.from("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", "base64");
  const fp = `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;

  test("fingerprints print like ssh-keygen -lf", () => {
    assert.equal(fingerprintSha256(blob), fp);
    assert.equal(normaliseFingerprint(`${fp.slice(7)}=`), fp);
  });

  test("known_hosts: plain, [host]:port, hashed and revoked entries", () => {
    const b64 = blob.toString("base64");
    const salt = Buffer.from("0123456789abcdef0123");
    const hashed = `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update("[10.2.0.11]:2222").digest("base64")}`;
    const text = [
      "# comment",
      `10.2.0.10,gpu-10 ssh-ed25519 ${b64}`,
      `${hashed} ssh-ed25519 ${b64}`,
      `@revoked 10.2.0.12 ssh-ed25519 ${b64}`,
      `10.2.0.12 ssh-ed25519 ${b64}`,
    ].join("\n");
    assert.deepEqual(knownHostsFingerprints(text, "10.2.0.10", 22).allowed, [fp]);
    assert.deepEqual(knownHostsFingerprints(text, "10.2.0.10", 2222).allowed, []);
    assert.deepEqual(knownHostsFingerprints(text, "10.2.0.11", 2222).allowed, [fp]);
    assert.deepEqual(knownHostsFingerprints(text, "10.2.0.12", 22), { allowed: [], revoked: [fp] });
  });
});

/** Every string on this process's heap after a collection (a heap snapshot's string table). */
async function heapStrings(): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  return (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { strings: string[] }).strings;
}
