// How `wattkeeper run` maps signals (what systemd and docker send): the first
// SIGTERM/SIGINT stops, a second one while stopping forces the exit, SIGHUP
// reloads unless a stop was asked for; uninstalling leaves no listener behind.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import { handleSignals } from "../../agent/cli/run.ts";

function setup() {
  const source = new EventEmitter();
  const calls: string[] = [];
  const uninstall = handleSignals(source, {
    stop: (s) => calls.push(`stop ${s}`),
    reload: () => calls.push("reload"),
    forceExit: (s) => calls.push(`force ${s}`),
  });
  return { source, calls, uninstall };
}

test("SIGHUP reloads, each time", () => {
  const { source, calls } = setup();
  source.emit("SIGHUP", "SIGHUP");
  source.emit("SIGHUP", "SIGHUP");
  assert.deepEqual(calls, ["reload", "reload"]);
});

test("the first SIGTERM stops; a second signal forces the exit; SIGHUP is ignored while stopping", () => {
  const { source, calls } = setup();
  source.emit("SIGTERM", "SIGTERM");
  source.emit("SIGHUP", "SIGHUP");
  source.emit("SIGINT", "SIGINT");
  assert.deepEqual(calls, ["stop SIGTERM", "force SIGINT"]);
});

test("SIGINT stops like SIGTERM", () => {
  const { source, calls } = setup();
  source.emit("SIGINT", "SIGINT");
  source.emit("SIGTERM", "SIGTERM");
  assert.deepEqual(calls, ["stop SIGINT", "force SIGTERM"]);
});

test("uninstall removes every listener", () => {
  const { source, calls, uninstall } = setup();
  uninstall();
  for (const s of ["SIGTERM", "SIGINT", "SIGHUP"]) assert.equal(source.listenerCount(s), 0);
  source.emit("SIGTERM", "SIGTERM");
  assert.deepEqual(calls, []);
});
