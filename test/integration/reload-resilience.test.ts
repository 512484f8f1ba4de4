// A reload that fails, however it fails, keeps the running site: a loader that
// throws an Error, one that throws something that is not an Error, a config
// error, and a YAML file with an unresolved alias or an alias bomb. The agent
// logs why and goes on serving and ticking; a good config afterwards applies.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { Agent, type ConfigLoader } from "../../agent/cli/run.ts";
import { createLogger } from "../../agent/runtime/logger.ts";
import { createNotifier } from "../../agent/runtime/systemd-notify.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

test("a reload that throws keeps the running site; the next good one applies", {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-reload-throws-"));
  const port = await testPort();
  const file = join(dir, "site.yaml");
  const good = (limit: string) => `site: { id: reload-throws, timezone: UTC, contractLimitW: ${limit} }
http: { listen: "127.0.0.1:${port}" }
store: { path: ${join(dir, "wk.db")} }
control: { tickS: 0.5 }
`;
  writeFileSync(file, good("1MW"));
  const { config } = await loadConfig(file, { strictFiles: true });

  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(
        ...String(chunk)
          .split("\n")
          .filter((l) => l !== ""),
      );
      done();
    },
  });
  const logger = createLogger({ level: "info", destination: sink, pretty: false });
  const failures: Array<() => never> = [
    () => {
      throw new TypeError("Cannot read properties of undefined (reading 'miners')");
    },
    () => {
      throw "a string, not an Error";
    },
  ];
  let n = 0;
  const loader: ConfigLoader = async (f) => {
    const fail = failures[n++];
    if (fail) fail();
    return loadConfig(f, { strictFiles: true });
  };
  const agent = new Agent({
    file,
    logger,
    notifier: createNotifier({ env: {} }),
    version: "test",
    load: loader,
  });
  const done = agent.run(config);
  try {
    const health = async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status;
    await waitFor("serving", async () => (await health()) === 200, 15_000);
    const refusals = () => lines.filter((l) => l.includes("reload refused")).length;

    // 1–2: the loader throws (an Error, then a non-Error)
    agent.reload();
    await waitFor("the first refusal", () => refusals() === 1);
    agent.reload();
    await waitFor("the second refusal", () => refusals() === 2);
    assert.ok(lines.some((l) => l.includes("could not be loaded: Cannot read properties of undefined")));
    assert.ok(lines.some((l) => l.includes("could not be loaded: a string, not an Error")));
    // 3–4: real files the loader turns into problems: an unresolved alias, an alias bomb
    writeFileSync(file, `${good("1MW")}miners:\n  - { host: 10.0.0.1, location: *containerA }\n`);
    agent.reload();
    await waitFor("the alias refused", () => refusals() === 3);
    assert.ok(lines.some((l) => /site\.yaml:6:\d+: invalid YAML: alias \*containerA has no anchor/.test(l)));
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 10; i++) {
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    }
    writeFileSync(file, `${good("1MW")}sim:\n  bomb:\n${bomb.map((l) => `    ${l}`).join("\n")}\n`);
    agent.reload();
    await waitFor("the bomb refused", () => refusals() === 4);
    assert.ok(lines.some((l) => /aliases expand beyond 1000 nodes/.test(l)));
    assert.equal(await health(), 200, "still serving and ticking");

    // a good config applies
    writeFileSync(file, good("900kW"));
    agent.reload();
    await waitFor("applied", () => lines.some((l) => l.includes("config reloaded")));
    await waitFor("serving the new site", async () => (await health()) === 200);
  } catch (e) {
    console.error(
      lines
        .filter((l) => !l.includes('"component":"tick"'))
        .slice(-15)
        .join("\n"),
    );
    throw e;
  } finally {
    agent.stop();
  }
  assert.equal(await done, 0);
});
