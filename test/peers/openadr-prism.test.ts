// The VEN's requests against a VTN generated from the official OpenADR 3.1.1
// OpenAPI file (test/fixtures/openadr3, Apache-2.0) by Stoplight Prism in
// mock mode with --errors: any request that does not conform to the spec
// (query, body, content type, security) is refused, so every call below going
// through is the conformance check. The replies are the spec's own examples,
// which the VEN's validation must accept.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { OpenAdrVen } from "../../agent/signals/openadr/ven.ts";
import { VtnClient } from "../../agent/signals/openadr/vtn-client.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const PRISM = new URL("../../node_modules/.bin/prism", import.meta.url).pathname;
const SPEC = new URL("../fixtures/openadr3/openadr3-3.1.1.yaml", import.meta.url).pathname;
let prism: ChildProcess;
let base: string;
let log = "";

before(async () => {
  if (!existsSync(PRISM)) throw new Error("this suite needs @stoplight/prism-cli (a dev dependency: npm ci)");
  const port = await testPort();
  base = `http://127.0.0.1:${port}`;
  prism = spawn(PRISM, ["mock", SPEC, "-h", "127.0.0.1", "-p", String(port), "--errors"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  prism.stdout!.on("data", (d) => {
    log += d;
  });
  prism.stderr!.on("data", (d) => {
    log += d;
  });
  await waitFor("prism listening", () => log.includes("Prism is listening"), 60_000, 200);
});

after(() => {
  prism?.kill("SIGKILL");
});

const client = () =>
  new VtnClient(base, { clientId: "ven-1", clientSecret: "ven-secret", tokenUrl: `${base}/auth/token` });

test("token, programs, events and a usage report: every request conforms to OpenADR 3.1.1", async () => {
  const c = client();
  const ids = await c.programIds(["ResTOU"]);
  // the spec's example program
  assert.deepEqual([...ids.keys()], ["ResTOU"]);
  const events = await c.events(ids.get("ResTOU")!);
  assert.ok(events.length >= 1, "the spec's example event parses");
  await c.report({
    eventID: events[0]!.id,
    clientName: "odessa-ven",
    reportName: "odessa-ven usage",
    resourceName: "odessa-ven",
    intervals: [
      {
        id: 0,
        startMs: Date.parse("2026-12-04T12:00:00Z"),
        durationMs: 900_000,
        usageKwh: 30.5,
        demandKw: 122,
      },
    ],
  });
  assert.doesNotMatch(log, /violation|\b422\b/i, log.slice(-2000));
});

test("the VEN's poll loop against the mock: programs found, no request refused", async () => {
  const ven = new OpenAdrVen({
    name: "utility",
    client: client(),
    venName: "odessa-ven",
    programs: ["ResTOU", "not-on-this-vtn"],
    pollMs: 60_000,
    staleS: 300,
    simpleLevels: new Map(),
    readSite: () => ({
      powerW: 100_000,
      budgetW: null,
      flexibleW: 0,
      loopHealthy: true,
      meterOk: true,
      failsafe: false,
    }),
    logger: silentLogger(),
  });
  await ven.poll();
  const s = ven.schedule();
  assert.equal(s.error, null);
  assert.deepEqual(s.missing, ["not-on-this-vtn"]);
  assert.ok(["idle", "active"].includes(ven.status(Date.now()).state));
  assert.doesNotMatch(log, /violation|\b422\b/i, log.slice(-2000));
});
