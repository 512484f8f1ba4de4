// The config loader cannot crash or run away on hostile input.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readBounded } from "../../config/load/bounded-read.ts";
import { formatProblem } from "../../config/load.ts";
import { base, problemsOf, tmp, write } from "./config-load-fixtures.ts";

let n = 0; // names this file's scratch folders

describe("loading cannot crash or run away", () => {
  it("an unresolved alias is a problem at its line, not a crash", async () => {
    const file = write(
      "site: { id: t-1, timezone: UTC, contractLimitW: 1MW }\nminers:\n  - { host: 10.0.0.1, location: *containerA }\n",
    );
    const problems = await problemsOf(file);
    assert.deepEqual(problems, [
      {
        path: "",
        line: 3,
        col: 33,
        message: "invalid YAML: alias *containerA has no anchor &containerA before it",
      },
    ]);
    assert.equal(
      formatProblem(file, problems[0]!),
      `${file}:3:33: invalid YAML: alias *containerA has no anchor &containerA before it`,
    );
  });

  it("an alias bomb stops at the alias limit", async () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 12; i++) {
      const name = String.fromCharCode(97 + i);
      lines.push(
        `${name}: &${name} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    }
    const started = Date.now();
    const problems = await problemsOf(write(lines.join("\n")));
    assert.ok(Date.now() - started < 2000);
    assert.match(problems[0]!.message, /^invalid YAML: aliases expand beyond 1000 nodes/);
    assert.equal(problems[0]!.line, 2);
  });

  it("an unknown tag (!!js/function) is refused", async () => {
    const problems = await problemsOf(write("site: !!js/function 'function () {}'\n"));
    assert.match(problems[0]!.message, /^invalid YAML: Unresolved tag: tag:yaml\.org,2002:js\/function/);
    assert.equal(problems[0]!.line, 1);
  });

  it("a duplicate key in JSON is refused (JSON.parse would keep the last one silently)", async () => {
    const problems = await problemsOf(write('{"site": {"id": "a", "id": "b"}}', { ext: ".json" }));
    assert.match(problems[0]!.message, /^duplicate key: Map keys must be unique/);
  });

  it("a config file over 8 MiB is refused before it is parsed", async () => {
    const file = write(`# ${"x".repeat(8 * 1024 * 1024)}\nsite: {}\n`);
    const problems = await problemsOf(file);
    assert.match(
      problems[0]!.message,
      /^cannot read the config file: .* is 8\.0 MiB; at most 8\.0 MiB is read$/,
    );
  });

  it("secret files: a FIFO, a device, a folder and a large file are refused without hanging", async () => {
    const dir = join(tmp, `fifo${n++}`);
    mkdirSync(dir, { recursive: true });
    const fifo = join(dir, "pass.fifo");
    execFileSync("mkfifo", [fifo]);
    writeFileSync(join(dir, "big.pass"), "x".repeat(70 * 1024));
    const cfg = base();
    cfg.mqtt = { url: "mqtt://127.0.0.1:1883", passwordFile: fifo, username: "u" };
    cfg.miners = [
      { host: "10.0.0.1", dialect: "whatsminer", credentials: { passwordFile: "/dev/zero" } },
      { host: "10.0.0.2", dialect: "whatsminer", credentials: { passwordFile: dir } },
      { host: "10.0.0.3", dialect: "whatsminer", credentials: { passwordFile: join(dir, "big.pass") } },
    ];
    const started = Date.now();
    const problems = await problemsOf(write(cfg), { strictFiles: true });
    assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
    const byPath = (p: string) => problems.find((x) => x.path === p)?.message ?? "";
    assert.match(byPath("mqtt.passwordFile"), /is a named pipe \(FIFO\), not a regular file/);
    assert.match(byPath("miners[0].credentials.passwordFile"), /\/dev\/zero is a device, not a regular file/);
    assert.match(byPath("miners[1].credentials.passwordFile"), /is a folder, not a regular file/);
    assert.match(byPath("miners[2].credentials.passwordFile"), /is 70 KiB; at most 64 KiB is read/);
  });

  it("a bounded read takes what the file holds, past what stat() said, and no more than allowed", async () => {
    // a file larger than the first buffer, read whole
    const text = "0123456789".repeat(10_000);
    const file = join(tmp, `bounded${n++}.txt`);
    writeFileSync(file, text);
    assert.deepEqual(await readBounded(file, { maxBytes: 1024 * 1024 }), { text });
    // /proc reports size 0: the buffer grows to what is there
    const maps = await readBounded("/proc/self/maps", { maxBytes: 1024 * 1024 });
    assert.ok("text" in maps && maps.text.length > 4096 && maps.text.endsWith("\n"));
    // and stops one byte past the allowance
    const capped = await readBounded("/proc/self/maps", { maxBytes: 1000 });
    assert.ok("error" in capped);
    assert.match(capped.error, /is larger than 1 KiB$/);
  });

  it("every problem of a file in one round: schema, across fields and ids together, each at its line", async () => {
    const file = write(`site: { id: t-1, timezone: UTC, contractLimitW: 10MW }
miners:
  - { host: 10.0.0.1, id: dup }
  - { host: 10.0.0.2, id: dup }
  - { host: 10.0.0.3, priority: banana }
control:
  shedMarginW: 100kW
  restoreMarginW: 50kW
  tickS: 0.1
`);
    const problems = await problemsOf(file);
    assert.deepEqual(problems.map((p) => `${p.line}: ${p.path}`).sort(), [
      "4: miners[1].id",
      "5: miners[2].priority",
      "8: control.restoreMarginW",
      "9: control.tickS",
    ]);
  });
});
