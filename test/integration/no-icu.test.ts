// The agent never touches ICU's locale data while it runs: building an Intl
// formatter or collator, or calling toLocaleString or localeCompare, makes V8
// read it out of the node binary, about 8 MiB more resident memory for the
// life of the process (README *Figures*, the memory row). The real CLI runs a
// small simulated site with a tripwire preloaded; the page, the JSON API and
// /metrics are fetched; the tripwire must not have fired.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { testPort, waitFor } from "../helpers/ports.ts";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;

// replaces every way in to ICU's locale data with a wrapper that reports the first caller on stderr
const TRIPWIRE = `
const seen = new Set();
const trip = (name) => {
  if (seen.has(name)) return;
  seen.add(name);
  // the caller: the first frame outside this file
  const at = new Error().stack.split("\\n").slice(1).find((l) => !l.includes(import.meta.url)) ?? "";
  process.stderr.write("ICU-USED " + name + " " + at.trim() + "\\n");
};
for (const k of ["DateTimeFormat", "NumberFormat", "Collator", "PluralRules", "RelativeTimeFormat", "ListFormat", "Segmenter", "DisplayNames"]) {
  const C = Intl[k];
  Intl[k] = new Proxy(C, { construct(t, a, n) { trip("Intl." + k); return Reflect.construct(t, a, n); }, apply(t, self, a) { trip("Intl." + k); return Reflect.apply(t, self, a); } });
}
for (const [proto, name] of [[Number.prototype, "toLocaleString"], [BigInt.prototype, "toLocaleString"], [Date.prototype, "toLocaleString"], [Date.prototype, "toLocaleDateString"], [Date.prototype, "toLocaleTimeString"], [Array.prototype, "toLocaleString"], [String.prototype, "localeCompare"], [String.prototype, "toLocaleLowerCase"], [String.prototype, "toLocaleUpperCase"]]) {
  const f = proto[name];
  Object.defineProperty(proto, name, { value: function (...a) { trip(proto.constructor.name + "." + name); return f.apply(this, a); }, writable: true, configurable: true });
}
`;

test("a running agent builds no Intl formatter and calls no locale method", async () => {
  const httpPort = await testPort();
  const dir = mkdtempSync(join(tmpdir(), "wk-no-icu-"));
  const file = join(dir, "sim.yaml");
  // a named zone: its check must not build a formatter either
  writeFileSync(
    file,
    `site: { id: no-icu, timezone: America/Chicago, contractLimitW: 1MW }
http: { listen: "127.0.0.1:${httpPort}" }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - hosts: 127.58.0.1-127.58.0.10
    location: container-A
control: { tickS: 1, meterStaleS: 5 }
sim: { seed: 7, noiseW: 300 }
`,
  );
  const tripwire = join(dir, "tripwire.mjs");
  writeFileSync(tripwire, TRIPWIRE);
  const child = spawn(
    process.execPath,
    ["--import", pathToFileURL(tripwire).href, BIN, "run", "--config", file],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const base = `http://127.0.0.1:${httpPort}`;
  try {
    await waitFor(
      "10 miners hashing",
      async () => {
        const res = await fetch(`${base}/api/site`).catch(() => null);
        if (!res?.ok) return false;
        const body = (await res.json()) as { counts: { hashing: number } };
        return body.counts.hashing === 10;
      },
      15_000,
    );
    for (const path of ["/", "/api/devices", "/api/problems", "/metrics", "/api/site"]) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      await res.arrayBuffer();
    }
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, stderr);
  assert.deepEqual(
    stderr.split("\n").filter((l) => l.startsWith("ICU-USED")),
    [],
    "ICU's locale data was touched",
  );
});
