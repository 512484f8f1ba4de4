// A reload (SIGHUP) of a running agent under a logged-in operator: the session
// stays valid (an action goes through afterwards), the new site starts from
// the old one's readings (no "meter stale" failsafe event, no dip to the
// failsafe budget), and nothing already reported is reported again. Removing
// the operator from the config ends their session at the next reload.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { hashPassword } from "../../agent/http/password.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { call, cookieOf } from "./http-helpers.ts";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;
const PASSWORD = "a long passphrase";
let child: ChildProcess | null = null;

after(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

test("SIGHUP under a logged-in operator: the session stays, no failsafe, no repeated events", {
  timeout: 90_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-reload-session-"));
  const httpPort = await testPort();
  const meterPort = await testPort();
  const hash = await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 });
  const file = join(dir, "site.yaml");
  const yaml = (
    contract: string,
    operators: string,
  ) => `site: { id: reload-session, timezone: UTC, contractLimitW: ${contract} }
http:
  listen: "127.0.0.1:${httpPort}"
  operators: ${operators}
store: { path: ${join(dir, "wk.db")} }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
  - { hosts: 127.117.1.1-127.117.1.4, dialect: luxos }
control: { tickS: 0.5, meterStaleS: 5, unmeteredW: 1kW, failsafeBudgetW: 10kW }
sim: { seed: 9 }
`;
  const alice = `[{ name: alice, passwordHash: "${hash}" }]`;
  writeFileSync(file, yaml("1MW", alice));
  const c = spawn(process.execPath, [BIN, "run", "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
  child = c;
  let out = "";
  c.stdout!.on("data", (d) => {
    out += d;
  });
  c.stderr!.on("data", (d) => {
    out += d;
  });
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    "the site metered",
    async () => {
      const r = await call(base, "GET", "/api/site").catch(() => null);
      // a site that has run a while: the loop has ticked and the budget was noted
      return (
        r?.json.powerSource === "meter" &&
        (r.json.counts as { hashing: number }).hashing === 4 &&
        (r.json.control as { ticks: number }).ticks >= 4
      );
    },
    30_000,
    200,
  );
  const login = await call(base, "POST", "/api/login", {
    body: { name: "alice", password: PASSWORD },
    headers: { origin: base },
  });
  assert.equal(login.status, 200, login.text);
  const cookie = cookieOf(login);
  const csrf = login.json.csrfToken as string;
  const eventsBefore = (await call(base, "GET", "/api/events?limit=1000")).json.events as Array<{
    id: number;
  }>;
  const lastId = eventsBefore[0]?.id ?? 0;

  writeFileSync(file, yaml("900kW", alice));
  c.kill("SIGHUP");
  await waitFor("the reload logged", () => /config reloaded/.test(out), 20_000);
  const site = await waitFor(
    "the new budget",
    async () => {
      const r = await call(base, "GET", "/api/site").catch(() => null);
      return r?.json.budgetW === 900_000 && r.json;
    },
    10_000,
  );
  assert.equal(site.powerSource, "meter", "the new site starts from the old one's meter reading");

  const session = await call(base, "GET", "/api/session", { headers: { cookie } });
  assert.equal(session.json.operator, "alice", "still logged in after the reload");
  const action = await call(base, "POST", "/api/actions", {
    body: { kind: "mode", mode: "hold" },
    headers: { cookie, "x-csrf-token": csrf, origin: base },
  });
  assert.equal(action.status, 200, action.text);

  // a few ticks later: nothing but the budget change and the operator's action (the agent is a
  // child process, so its ticks cannot be counted from here: a wall-clock span of three)
  await new Promise((r) => setTimeout(r, 1500));
  const events = (
    (await call(base, "GET", "/api/events?limit=1000")).json.events as Array<{
      id: number;
      kind: string;
      message: string;
    }>
  ).filter((e) => e.id > lastId);
  assert.deepEqual(
    events.filter((e) => e.kind === "failsafe"),
    [],
    events.map((e) => `${e.kind}: ${e.message}`).join("\n"),
  );
  assert.deepEqual(
    events.map((e) => e.kind).sort(),
    ["budget-changed", "mode-changed"],
    events.map((e) => `${e.kind}: ${e.message}`).join("\n"),
  );
  const history = (await call(base, "GET", "/api/history?minutes=5")).json.points as Array<{
    budgetW: number;
  }>;
  assert.ok(
    history.every((p) => p.budgetW >= 900_000),
    "no dip to the failsafe budget in the chart",
  );

  // the operator removed: their session ends with the next reload
  writeFileSync(file, yaml("900kW", "[]"));
  const reloads = (out.match(/config reloaded/g) ?? []).length;
  c.kill("SIGHUP");
  await waitFor("the second reload", () => (out.match(/config reloaded/g) ?? []).length > reloads, 20_000);
  const gone = await call(base, "GET", "/api/session", { headers: { cookie } });
  assert.equal(gone.json.operator, null);

  c.kill("SIGTERM");
  const [code] = await once(c, "exit");
  assert.equal(code, 0);
});
