// SIGHUP and SIGTERM on a real `wattkeeper run` child with the embedded
// simulator: a broken config is refused (each problem logged by path) and the
// running site keeps its budget; a changed contractLimitW replaces the site
// (same HTTP port, same store) and /api/site shows the new budget; a valid
// config that fails to start (its port is taken) falls back to the running
// one; SIGTERM
// stops cleanly with exit 0. Where systemd-notify and python3 exist, a small
// datagram receiver stands in for systemd (NOTIFY_SOCKET, WATCHDOG_USEC) and
// the notifications are checked in order: READY, WATCHDOG, RELOADING, READY, STOPPING.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { testPort, waitFor } from "../helpers/ports.ts";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;
let child: ChildProcess | null = null;
let receiver: ChildProcess | null = null;

after(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  receiver?.kill();
});

const haveNotifyTools =
  spawnSync("systemd-notify", ["--version"]).status === 0 && spawnSync("python3", ["--version"]).status === 0;

/** Stands in for systemd: prints each datagram on one line, closes the BARRIER=1 fd. */
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
                os.close(fd)
    print(msg.decode().replace("\\n", "|"), flush=True)
`;

async function startReceiver(dir: string): Promise<{ env: NodeJS.ProcessEnv; lines: () => string[] }> {
  const socketPath = join(dir, "notify.sock");
  const r = spawn("python3", ["-c", RECEIVER, socketPath], { stdio: ["ignore", "pipe", "inherit"] });
  receiver = r;
  let got = "";
  r.stdout!.on("data", (d) => {
    got += d;
  });
  await waitFor("the notify receiver", () => got.includes("listening"), 10_000);
  return {
    env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: "2000000" },
    lines: () => got.split("\n").filter((l) => l !== "" && l !== "listening"),
  };
}

function siteYaml(httpPort: number, meterPort: number, dbPath: string, contractLimit: string): string {
  return `site: { id: reload, timezone: UTC, contractLimitW: ${contractLimit} }
http: { listen: "127.0.0.1:${httpPort}" }
store: { path: ${dbPath} }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
  - { hosts: 127.90.0.1-127.90.0.4, dialect: luxos }
control: { tickS: 0.5, shedMarginW: 1kW, restoreMarginW: 3kW, emergencyMarginW: 5kW, minOnS: 1s, minOffS: 2s, meterStaleS: 5, unmeteredW: 1kW, failsafeBudgetW: 10kW }
sim: { seed: 7 }
`;
}

test("SIGHUP: a bad config is refused, a good one applied; SIGTERM exits 0", {
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-reload-"));
  const file = join(dir, "site.yaml");
  const httpPort = await testPort();
  const meterPort = await testPort();
  const dbPath = join(dir, "state.db");
  writeFileSync(file, siteYaml(httpPort, meterPort, dbPath, "40kW"));
  const notify = haveNotifyTools ? await startReceiver(dir) : null;

  const proc = spawn(process.execPath, [BIN, "run", "--config", file], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...notify?.env },
  });
  child = proc;
  let out = "";
  proc.stdout!.on("data", (d) => {
    out += d;
  });
  proc.stderr!.on("data", (d) => {
    out += d;
  });
  const site = async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/site`, { signal: AbortSignal.timeout(3000) });
    return (await res.json()) as { siteId: string; budgetW: number; budgetSource: string };
  };
  const budgetIs = (w: number) => async () => ((await site().catch(() => null))?.budgetW === w ? true : null);

  await waitFor("the first budget (40 kW)", budgetIs(40_000), 40_000, 100);
  if (notify) {
    // the ticks are 0.5 s and WatchdogSec 2 s: pings every 0.5 s or so while healthy
    await waitFor("a watchdog ping", () => notify.lines().some((l) => l.includes("WATCHDOG=1")), 15_000);
  }

  // a broken config: refused, every problem logged by path, the old site keeps running
  writeFileSync(
    file,
    `${siteYaml(httpPort, meterPort, dbPath, "lots")}bogusSection: 1\n`.replace("tickS: 0.5", "tickS: -1"),
  );
  const before = out.length;
  proc.kill("SIGHUP");
  await waitFor("the refusal", () => out.slice(before).includes("reload refused"), 20_000);
  const logged = out.slice(before);
  assert.ok(
    new RegExp(`${file}:\\d+:\\d+: site\\.contractLimitW:`).test(logged),
    `no site.contractLimitW problem in:\n${logged}`,
  );
  assert.ok(
    new RegExp(`${file}:\\d+:\\d+: control\\.tickS:`).test(logged),
    `no control.tickS problem in:\n${logged}`,
  );
  assert.equal(proc.exitCode, null, "still running");
  assert.equal((await site()).budgetW, 40_000, "the old budget stays");

  // a valid config that cannot start (its HTTP port is taken): back to the running config
  const busy = createServer();
  const busyPort = await testPort();
  await new Promise<void>((r) => busy.listen(busyPort, "127.0.0.1", r));
  try {
    writeFileSync(file, siteYaml(busyPort, meterPort, dbPath, "35kW"));
    const mark = out.length;
    proc.kill("SIGHUP");
    await waitFor("the fallback", () => out.slice(mark).includes("back to the old one"), 20_000);
    await waitFor("the old budget again (40 kW)", budgetIs(40_000), 20_000, 100);
    assert.equal(proc.exitCode, null, "still running");
  } finally {
    await new Promise((r) => busy.close(r));
  }

  // a good config with a new contract limit replaces the site on the same port and store
  writeFileSync(file, siteYaml(httpPort, meterPort, dbPath, "30kW"));
  proc.kill("SIGHUP");
  await waitFor("the new budget (30 kW)", budgetIs(30_000), 40_000, 100);
  // the new site serves HTTP before its start() has returned (it waits for a first meter sweep)
  await waitFor("the reload logged", () => /config reloaded/.test(out), 10_000);
  assert.equal(proc.exitCode, null, "still running");

  proc.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const [code, signal] = (await Promise.race([
    once(proc, "exit"),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit after SIGTERM:\n${out}`)), 30_000);
    }),
  ]).finally(() => clearTimeout(timer))) as [number | null, string | null];
  assert.equal(signal, null, out);
  assert.equal(code, 0, out);
  assert.match(out, /stopped cleanly/);
  if (notify) {
    const lines = notify.lines();
    const at = (field: string, from = 0) => lines.findIndex((l, i) => i >= from && l.includes(field));
    const ready = at("READY=1");
    const ping = at("WATCHDOG=1", ready);
    const refused = at("STATUS=reload refused", ping);
    const reloading = at("RELOADING=1", refused);
    const readyAgain = at("READY=1", reloading);
    const stopping = at("STOPPING=1", readyAgain);
    assert.ok(
      [ready, ping, refused, reloading, readyAgain, stopping].every((i) => i >= 0),
      `notifications out of order:\n${lines.join("\n")}`,
    );
    assert.match(lines[ready]!, new RegExp(`MAINPID=${proc.pid}`));
  }
  if (process.env.WK_SHOW_LOG) process.stdout.write(`${out}\n${notify?.lines().join("\n")}\n`);
});
