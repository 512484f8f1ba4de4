// The config loader rejects bad input: every problem at the user's own path with a
// readable message, every problem of a file reported at once.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { formatProblem, loadConfig } from "../../config/load.ts";
import { badSectionCases } from "./config-bad-sections-fixtures.ts";
import { badValueCases } from "./config-bad-values-fixtures.ts";
import { base, gpu, problemsOf, tmp, write } from "./config-load-fixtures.ts";

const badCases = [...badValueCases, ...badSectionCases];

describe("loadConfig rejects bad input", () => {
  for (const c of badCases) {
    it(c.name, async () => {
      let file: string;
      if (c.text !== undefined) file = write(c.text, { ext: c.ext });
      else {
        const cfg = base();
        c.edit?.(cfg);
        file = write(cfg, { ext: c.ext });
      }
      const problems = await problemsOf(file, { strictFiles: c.strictFiles });
      const hit = problems.find(
        (p) =>
          p.path === c.path &&
          (c.line === undefined || p.line === c.line) &&
          (typeof c.message === "string" ? p.message.includes(c.message) : c.message.test(p.message)),
      );
      assert.ok(
        hit,
        `no problem at "${c.path}" matching ${String(c.message)}; got:\n${problems.map((p) => formatProblem("f", p)).join("\n")}`,
      );
    });
  }

  it("a missing config file is a ConfigError", async () => {
    const problems = await problemsOf(join(tmp, "does-not-exist.yaml"));
    assert.equal(problems.length, 1);
    assert.match(
      problems[0]!.message,
      /^cannot read the config file: file not found: .*does-not-exist\.yaml$/,
    );
  });

  it("reports every mistake of a file at once", async () => {
    const cfg = base();
    cfg.site.timezone = "Nowhere/Land";
    cfg.contorl = {};
    cfg.control = { shedMarginW: "50kw/h" };
    cfg.miners.push({ hosts: "10.1.0.15-16" });
    cfg.meters[0].profile = "nope";
    cfg.gpuNodes = [gpu({ hostKeySha256: "bad" })];
    const problems = await problemsOf(write(cfg));
    const paths = problems.map((p) => p.path);
    for (const want of [
      "site.timezone",
      "contorl",
      "control.shedMarginW",
      "miners[1].hosts",
      "meters[0].profile",
      "gpuNodes[0].hostKeySha256",
    ]) {
      assert.ok(paths.includes(want), `missing ${want} in ${paths.join(", ")}`);
    }
    assert.equal(problems.filter((p) => p.path === "miners[1].hosts").length, 2);
  });

  it("caps duplicate lines and counts the rest", async () => {
    const cfg = base();
    cfg.miners.push({ hosts: "10.1.0.0/24" });
    const problems = await problemsOf(write(cfg));
    const dups = problems.filter((p) => p.path === "miners[1].hosts");
    assert.equal(dups.length, 6);
    assert.equal(dups[0]?.message, "10.1.0.10:4028 is also in miners[0]");
    assert.equal(dups[5]?.message, "… and 6 more duplicate host:port pairs");
  });

  it("the same file is a warning without strictFiles, an error with it, same message", async () => {
    const cfg = base();
    cfg.miners[0].credentials = { passwordFile: "missing.pass" };
    const file = write(cfg);
    const { warnings } = await loadConfig(file, { env: {} });
    const errors = await problemsOf(file, { strictFiles: true });
    assert.equal(warnings.length, 1);
    assert.deepEqual(errors, warnings);
    assert.equal(warnings[0]?.path, "miners[0].credentials.passwordFile");
    assert.match(warnings[0]?.message ?? "", /WATTKEEPER_MINERS_0_CREDENTIALS_PASSWORD/);
  });

  it("formats problems as FILE: path: message", () => {
    assert.equal(
      formatProblem("a.yaml", { path: "miners[3].host", message: "x" }),
      "a.yaml: miners[3].host: x",
    );
    assert.equal(
      formatProblem("a.yaml", { path: "", message: "the file is empty" }),
      "a.yaml: the file is empty",
    );
  });
});
