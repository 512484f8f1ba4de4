// The sd_notify client: silent outside systemd, the right fields and --pid,
// one send at a time, a throttled watchdog that honours WATCHDOG_PID; and one
// round trip through the real systemd-notify to a datagram socket (a small
// python3 receiver stands in for the service manager and closes the barrier fd).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createNotifier, type SpawnNotify } from "../../agent/runtime/systemd-notify.ts";
import { waitFor } from "../helpers/ports.ts";

function recorder(delayMs = 0) {
  const calls: string[][] = [];
  let running = 0;
  let maxRunning = 0;
  const spawnNotify: SpawnNotify = async (args) => {
    calls.push(args);
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, delayMs));
    running--;
    return { ok: true };
  };
  return { calls, spawnNotify, maxRunning: () => maxRunning };
}

test("without NOTIFY_SOCKET every call is a no-op", async () => {
  const r = recorder();
  const n = createNotifier({ env: { WATCHDOG_USEC: "30000000" }, pid: 42, spawnNotify: r.spawnNotify });
  assert.equal(n.enabled, false);
  assert.equal(n.watchdogMs, null);
  await n.ready("up");
  await n.watchdog();
  await n.reloading();
  await n.stopping();
  await n.status("x");
  assert.deepEqual(r.calls, []);
});

test("fields, --pid, status text on one line", async () => {
  const r = recorder();
  const n = createNotifier({ env: { NOTIFY_SOCKET: "/run/x" }, pid: 42, spawnNotify: r.spawnNotify });
  assert.equal(n.enabled, true);
  assert.equal(n.watchdogMs, null, "no WATCHDOG_USEC: no watchdog");
  await n.ready("site a\nrunning");
  await n.stopping();
  await n.reloading("reloading");
  await n.watchdog();
  assert.deepEqual(r.calls[0], ["--pid=42", "READY=1", "STATUS=site a running"]);
  assert.deepEqual(r.calls[1], ["--pid=42", "STOPPING=1"]);
  assert.equal(r.calls[2]![1], "RELOADING=1");
  assert.match(r.calls[2]!.at(-1)!, /^MONOTONIC_USEC=\d+$/);
  assert.equal(r.calls.length, 3, "the watchdog is off");
});

test("watchdog: at most every WatchdogSec/4, only for our PID", async () => {
  const r = recorder();
  const env = { NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "20000000", WATCHDOG_PID: "42" };
  const n = createNotifier({ env, pid: 42, spawnNotify: r.spawnNotify });
  assert.equal(n.watchdogMs, 20_000);
  await n.watchdog(1_000_000);
  await n.watchdog(1_004_999);
  await n.watchdog(1_005_000);
  assert.deepEqual(
    r.calls.map((c) => c[1]),
    ["WATCHDOG=1", "WATCHDOG=1"],
  );
  const other = createNotifier({ env: { ...env, WATCHDOG_PID: "7" }, pid: 42, spawnNotify: r.spawnNotify });
  assert.equal(other.watchdogMs, null, "WATCHDOG_PID names another process");
});

test("one send at a time; a watchdog ping finding one in flight is dropped", async () => {
  const r = recorder(30);
  const env = { NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "4000" };
  const n = createNotifier({ env, pid: 1, spawnNotify: r.spawnNotify });
  const sends = [n.ready(), n.status("a"), n.status("b"), n.watchdog()];
  await Promise.all(sends);
  assert.equal(r.maxRunning(), 1);
  assert.deepEqual(
    r.calls.map((c) => c[1]),
    ["READY=1", "STATUS=a", "STATUS=b"],
  );
});

test("a failing systemd-notify is reported, not thrown", async () => {
  const warnings: unknown[] = [];
  const logger = {
    child: () => logger,
    warn: (o: unknown) => warnings.push(o),
    error: (o: unknown) => warnings.push(o),
    info: () => undefined,
  } as unknown as import("../../agent/runtime/logger.ts").Logger;
  const n = createNotifier({
    env: { NOTIFY_SOCKET: "/run/x" },
    logger,
    spawnNotify: async () => ({ ok: false, error: "exit 1: boom" }),
  });
  await n.ready();
  await n.status("x");
  assert.equal(warnings.length, 1, "the same failure is logged once");
});

const haveTools =
  spawnSync("systemd-notify", ["--version"]).status === 0 && spawnSync("python3", ["--version"]).status === 0;

const RECEIVER = `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(64))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)  # closing the BARRIER=1 fd releases systemd-notify
    print(msg.decode().replace("\\n", "|"), flush=True)
`;

test("real systemd-notify: READY=1 with MAINPID arrives, the barrier completes", {
  skip: !haveTools,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-notify-"));
  const socketPath = join(dir, "notify.sock");
  const receiver = spawn("python3", ["-c", RECEIVER, socketPath], { stdio: ["ignore", "pipe", "inherit"] });
  let got = "";
  receiver.stdout.on("data", (d) => {
    got += d;
  });
  try {
    await waitFor("the receiver", () => got.includes("listening"), 10_000);
    const n = createNotifier({ env: { ...process.env, NOTIFY_SOCKET: socketPath }, pid: 4242 });
    const t0 = Date.now();
    await n.ready("up");
    // systemd-notify returned only after the receiver closed the barrier fd
    assert.ok(Date.now() - t0 < 5000, "the barrier completed before systemd-notify's own 5 s timeout");
    // READY and the barrier are two datagrams: the second may print a moment after the first
    await waitFor("READY=1 and BARRIER=1", () => got.includes("READY=1") && got.includes("BARRIER=1"), 5000);
    assert.match(got, /MAINPID=4242/);
    assert.match(got, /STATUS=up/);
    assert.match(got, /BARRIER=1/);
  } finally {
    receiver.kill();
  }
});
