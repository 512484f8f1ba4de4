// Operator commands (drain / resume) and clock locks on a GPU node, without a
// network: which commands are refused, how one is wrapped for the node's shell
// (the config string must reach that shell unchanged), output clipping, the
// reasons given for exit codes, `-lgc` replies, and the simulated workload manager.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, test } from "node:test";
import { clockCommandRefusal, clockLockProblem, lockClocksArgs } from "../../drivers/nvidia/clocks.ts";
import {
  clipOutput,
  exitCodeReason,
  OPERATOR_OUTPUT_MAX_CHARS,
  operatorCommandProblem,
  remoteTimeoutS,
  shellQuote,
  wrapOperatorCommand,
} from "../../drivers/nvidia/operator-command.ts";
import { ShellSim, splitWords } from "../../sim/gpu/shell.ts";
import { SmiSim } from "../../sim/gpu/smi.ts";
import { WorkloadSim } from "../../sim/gpu/workload.ts";

const DRAIN = `sudo scontrol update nodename=gpu-02 state=drain reason="wattkeeper: over budget"`;

describe("operator command validation", () => {
  test("empty, blank, multi-line, NUL and over-long commands are refused with a reason", () => {
    assert.match(operatorCommandProblem("")!, /empty/);
    assert.match(operatorCommandProblem("   \t ")!, /empty/);
    assert.match(operatorCommandProblem("scontrol update\nrm -rf /")!, /line break/);
    assert.match(operatorCommandProblem("kubectl cordon n\r")!, /line break/);
    assert.match(operatorCommandProblem("kubectl cordon n\u0000x")!, /NUL/);
    assert.match(operatorCommandProblem("x".repeat(3000))!, /3000 characters/);
    assert.match(operatorCommandProblem(42)!, /string/);
  });

  test("ordinary drain and resume commands pass, quotes, pipes and $ included", () => {
    for (const c of [
      DRAIN,
      "sudo scontrol update nodename=gpu-02 state=resume",
      "kubectl cordon gpu-02",
      "kubectl --kubeconfig /etc/wk/kube.conf uncordon gpu-02 && logger 'uncordoned'",
      'echo "$HOSTNAME" | tee -a /var/log/wk-drain.log',
    ])
      assert.equal(operatorCommandProblem(c), null, c);
  });
});

describe("operator command wrapping", () => {
  const tricky = [
    DRAIN,
    "echo 'it''s' \"$HOME\" \\$x `true` ; echo done",
    "printf '%s\\n' \"a b\" 'c'\"'\"'d'",
    "echo '''",
  ];

  test("the node's shell gets the configured command back unchanged, as one word (real /bin/sh)", () => {
    for (const c of tricky) {
      const back = execFileSync("/bin/sh", ["-c", `printf %s ${shellQuote(c)}`], { encoding: "utf8" });
      assert.equal(back, c);
    }
  });

  test("wrapped in timeout just under the deadline, run by the user's own $SHELL -c", () => {
    const line = wrapOperatorCommand(DRAIN, 30_000);
    assert.ok(line.startsWith(`timeout -k 1 24 "$SHELL" -c '`), line);
    assert.deepEqual(splitWords(line), ["timeout", "-k", "1", "24", "$SHELL", "-c", DRAIN]);
    assert.equal(remoteTimeoutS(2500), 1.5);
    assert.equal(remoteTimeoutS(8000), 6.4);
    assert.equal(remoteTimeoutS(800), 0.5, "never below half a second");
  });

  test("output is clipped to a bounded size and made printable", () => {
    const raw = `\u001b]52;c;ZXZpbA==\u0007${"x".repeat(10_000)}`;
    const out = clipOutput(raw);
    assert.ok(!out.includes("\u001b") && !out.includes("\u0007"));
    assert.ok(out.startsWith("\\x1b]52;c;ZXZpbA==\\x07"));
    assert.match(out, /… \(5920 more characters\)$/);
    assert.ok(out.length < OPERATOR_OUTPUT_MAX_CHARS + 100);
    assert.equal(clipOutput("node/gpu-02 cordoned"), "node/gpu-02 cordoned");
  });

  test("a failed command's reason names the exit code and the first line of stderr", () => {
    assert.equal(
      exitCodeReason(
        { code: 1, stdout: "", stderr: "\nslurm_update error: Invalid node name specified\nmore" },
        5000,
      ),
      "exit code 1: slurm_update error: Invalid node name specified",
    );
    assert.match(
      exitCodeReason({ code: 124, stdout: "", stderr: "" }, 5000),
      /exit code 124 \(the node's timeout ended it after 4 s\)/,
    );
    assert.match(
      exitCodeReason({ code: 127, stdout: "", stderr: "bash: scontrol: command not found" }, 5000),
      /not found/,
    );
    assert.equal(
      exitCodeReason({ code: 2, stdout: "only stdout", stderr: "" }, 5000),
      "exit code 2: only stdout",
    );
    assert.equal(
      exitCodeReason({ code: 3, stdout: "", stderr: "bad\u001b[31m" }, 5000),
      "exit code 3: bad\\x1b[31m",
    );
  });
});

describe("clock locks", () => {
  test("-lgc asks for no floor and the ceiling; bad ceilings are refused before sending", () => {
    assert.deepEqual(lockClocksArgs(3, 1410), ["-i", "3", "-lgc", "0,1410"]);
    assert.equal(clockLockProblem(0, 1410), null);
    assert.match(clockLockProblem(0, 0)!, /ceiling/);
    assert.match(clockLockProblem(0, 14100)!, /ceiling/);
    assert.match(clockLockProblem(0, 1410.5)!, /ceiling/);
    assert.match(clockLockProblem(-1, 1410)!, /index/);
  });

  test("-lgc replies: set, refused, 'not supported' with exit 0", () => {
    const set = 'GPU clocks set to "(gpuClkMin 0, gpuClkMax 1410)" for GPU 00000000:18:00.0\nAll done.\n';
    assert.equal(clockCommandRefusal("-lgc", { code: 0, stdout: set, stderr: "" }), null);
    assert.match(
      clockCommandRefusal("-lgc", {
        code: 4,
        stdout: "Setting locked GPU clocks failed: Insufficient Permissions\n",
        stderr: "",
      })!,
      /-lgc refused: nvidia-smi exit 4 \(insufficient permissions\)/,
    );
    assert.match(
      clockCommandRefusal("-lgc", {
        code: 0,
        stdout: "Setting locked clocks is not supported for GPU 00000000:18:00.0\n",
        stderr: "",
      })!,
      /not supported/,
    );
  });

  test("the scripted driver holds the SM clock and the draw under a lock, and -rgc lifts it", () => {
    const smi = new SmiSim({ gpus: 2 });
    const before = smi.drawW(smi.gpus[0]!);
    const r = smi.run("timeout -k 1 1 nvidia-smi -i 0 -lgc 0,1410");
    assert.ok("code" in r && r.code === 0 && r.stdout.includes("gpuClkMax 1410"));
    assert.equal(smi.smClockMHz(smi.gpus[0]!), 1410);
    assert.ok(smi.drawW(smi.gpus[0]!) < before - 150, `${smi.drawW(smi.gpus[0]!)} W`);
    smi.run("nvidia-smi -i 0 -rgc");
    assert.equal(smi.drawW(smi.gpus[0]!), before);
  });
});

describe("simulated node shell and workload manager", () => {
  const mk = (delayMs = 20) => {
    const smi = new SmiSim({ gpus: 8, seed: "w" });
    const workload = new WorkloadSim({ nodeName: "gpu-02", smi, drainDelayMs: delayMs });
    return { smi, workload, shell: new ShellSim({ smi, workload }) };
  };
  const run = (shell: ShellSim, c: string) => {
    const r = shell.run(wrapOperatorCommand(c, 5000));
    assert.ok("code" in r);
    return r;
  };

  test("drain through sudo and $SHELL -c: jobs finish after the delay, resume brings them back", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { smi, workload, shell } = mk();
    const busyBefore = smi.gpus.map((g) => g.busy);
    assert.equal(run(shell, DRAIN).code, 0);
    assert.equal(workload.drain?.reason, "wattkeeper: over budget");
    assert.match(run(shell, "scontrol show node gpu-02").stdout, /State=MIXED\+DRAIN /);
    t.mock.timers.tick(19);
    assert.ok(
      smi.gpus.some((g) => g.busy),
      "still busy before the delay is up",
    );
    t.mock.timers.tick(1);
    assert.ok(smi.gpus.every((g) => !g.busy));
    const shown = run(shell, "scontrol show node gpu-02").stdout;
    assert.match(shown, /State=IDLE\+DRAIN /);
    assert.match(shown, /Reason=wattkeeper: over budget \[root@\d{4}-\d\d-\d\dT/);
    assert.equal(run(shell, "sudo -n scontrol update NodeName=gpu-02 State=RESUME").code, 0);
    assert.deepEqual(
      smi.gpus.map((g) => g.busy),
      busyBefore,
    );
    assert.match(run(shell, "scontrol show node").stdout, /State=MIXED /);
    assert.equal(shell.commands().length, 5);
  });

  test("Slurm's errors: no reason, unknown node, resume of a node not drained", () => {
    const { shell } = mk();
    const noReason = run(shell, "scontrol update nodename=gpu-02 state=drain");
    assert.equal(noReason.code, 1);
    assert.match(noReason.stderr, /must specify a reason/);
    assert.match(
      run(shell, "scontrol update nodename=gpu-99 state=drain reason=x").stderr,
      /Invalid node name/,
    );
    assert.match(run(shell, "scontrol update nodename=gpu-02 state=resume").stderr, /Invalid node state/);
    assert.match(run(shell, "scontrol show node gpu-99").stderr, /Node gpu-99 not found/);
  });

  test("kubectl cordon/uncordon, and a resume before the jobs finished leaves them running", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { smi, workload, shell } = mk(50);
    assert.equal(run(shell, "kubectl cordon gpu-02").stdout, "node/gpu-02 cordoned\n");
    assert.equal(run(shell, "kubectl cordon gpu-02").stdout, "node/gpu-02 already cordoned\n");
    assert.equal(workload.schedulable(), false);
    assert.equal(run(shell, "kubectl uncordon gpu-02").stdout, "node/gpu-02 uncordoned\n");
    t.mock.timers.tick(80); // past the 50 ms drain delay
    assert.equal(smi.gpus.filter((g) => g.busy).length, 6, "jobs never stopped");
    assert.match(run(shell, "kubectl cordon gpu-9").stderr, /nodes "gpu-9" not found/);
  });

  test("anything else is 'command not found', exit 127; hooks make a command hang or fail", () => {
    const { shell } = mk();
    const r = run(shell, "sinfo -N");
    assert.equal(r.code, 127);
    assert.equal(r.stderr, "bash: sinfo: command not found\n");
    shell.faults.push({ match: "scontrol", exitCode: 5, stderr: "denied\n", times: 1 });
    assert.equal(run(shell, DRAIN).code, 5);
    assert.equal(run(shell, DRAIN).code, 0, "the hook applied once");
    shell.faults.push({ match: /kubectl/, hang: true });
    assert.deepEqual(shell.run("kubectl cordon gpu-02"), { hang: true });
  });
});
