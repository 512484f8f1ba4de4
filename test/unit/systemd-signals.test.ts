// How `wattkeeper run` maps signals (what systemd and docker send): the first
// SIGTERM/SIGINT stops, a second one while stopping forces the exit, SIGHUP
// reloads unless a stop was asked for; uninstalling leaves no listener behind.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import { handleSignals, SIGNAL_ECHO_MS } from "../../agent/cli/run.ts";

function setup() {
  const source = new EventEmitter();
  const calls: string[] = [];
  const clock = { t: 0 };
  const uninstall = handleSignals(
    source,
    {
      stop: (s) => calls.push(`stop ${s}`),
      reload: () => calls.push("reload"),
      forceExit: (s) => calls.push(`force ${s}`),
    },
    () => clock.t,
  );
  return { source, calls, uninstall, clock };
}

test("SIGHUP reloads, each time", () => {
  const { source, calls } = setup();
  source.emit("SIGHUP", "SIGHUP");
  source.emit("SIGHUP", "SIGHUP");
  assert.deepEqual(calls, ["reload", "reload"]);
});

test("the first SIGTERM stops; a second signal forces the exit; SIGHUP is ignored while stopping", () => {
  const { source, calls, clock } = setup();
  source.emit("SIGTERM", "SIGTERM");
  source.emit("SIGHUP", "SIGHUP");
  clock.t += SIGNAL_ECHO_MS;
  source.emit("SIGINT", "SIGINT");
  assert.deepEqual(calls, ["stop SIGTERM", "force SIGINT"]);
});

test("SIGINT stops like SIGTERM", () => {
  const { source, calls, clock } = setup();
  source.emit("SIGINT", "SIGINT");
  clock.t += 5000;
  source.emit("SIGTERM", "SIGTERM");
  assert.deepEqual(calls, ["stop SIGINT", "force SIGTERM"]);
});

test("one Ctrl-C under npm arrives twice (terminal and npm's forward): a clean stop, not a forced exit", () => {
  const { source, calls, clock } = setup();
  source.emit("SIGINT", "SIGINT");
  clock.t += 3;
  source.emit("SIGINT", "SIGINT");
  assert.deepEqual(calls, ["stop SIGINT"]);
  clock.t += SIGNAL_ECHO_MS;
  source.emit("SIGINT", "SIGINT");
  assert.deepEqual(calls, ["stop SIGINT", "force SIGINT"]);
});

test("uninstall removes every listener", () => {
  const { source, calls, uninstall } = setup();
  uninstall();
  for (const s of ["SIGTERM", "SIGINT", "SIGHUP"]) assert.equal(source.listenerCount(s), 0);
  source.emit("SIGTERM", "SIGTERM");
  assert.deepEqual(calls, []);
});
