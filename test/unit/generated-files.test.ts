// The committed JSON Schema and Markdown reference must match the schema they
// are generated from; otherwise editors and readers see a stale contract.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { configJsonSchema, renderConfigReference } from "../../config/reference.ts";

test("config/wattkeeper.schema.json is up to date (run `npm run schema`)", () => {
  const committed = readFileSync(new URL("../../config/wattkeeper.schema.json", import.meta.url), "utf8");
  assert.equal(committed, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
});

test("docs/config.md is up to date (run `npm run schema`)", () => {
  const committed = readFileSync(new URL("../../docs/config.md", import.meta.url), "utf8");
  assert.equal(committed, renderConfigReference());
});
