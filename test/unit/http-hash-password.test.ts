// `wattkeeper hash-password`: the password comes on stdin (never argv) and
// the printed hash verifies and validates as a config operator.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { verifyPassword } from "../../agent/http/password.ts";
import { OperatorSchema } from "../../config/schema/site.ts";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;

function run(args: string[], input: string) {
  return spawnSync(process.execPath, [BIN, ...args], { input, encoding: "utf8", timeout: 30_000 });
}

test("a piped password becomes a hash that verifies and that the config accepts", async () => {
  const r = run(["hash-password"], "a long passphrase\n");
  assert.equal(r.status, 0, r.stderr);
  const hash = r.stdout.trim();
  assert.match(hash, /^scrypt\$32768\$8\$1\$/);
  assert.equal(await verifyPassword("a long passphrase", hash), true);
  assert.equal(await verifyPassword("a long passphrase\n", hash), false, "the line break is not part of it");
  assert.equal(OperatorSchema.safeParse({ name: "x", passwordHash: hash }).success, true);
  // nothing on stderr but the launcher's own notice about a stale dist/ (a developer's tree)
  assert.equal(r.stderr.replace(/^wattkeeper: dist\/ is older than the sources.*\n/m, ""), "");
});

test("spaces inside and at the end are kept; only the line end is dropped (CRLF too)", async () => {
  const r = run(["hash-password"], " pass phrase \r\n");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await verifyPassword(" pass phrase ", r.stdout.trim()), true);
});

test("an empty password or an argument is a usage error (exit 2), never a hash", () => {
  const empty = run(["hash-password"], "\n");
  assert.equal(empty.status, 2);
  assert.match(empty.stderr, /empty password/);
  assert.equal(empty.stdout, "");
  const arg = run(["hash-password", "secret"], "");
  assert.equal(arg.status, 2);
  assert.match(arg.stderr, /reads the password on stdin/);
  const short = run(["hash-password"], "abc\n");
  assert.equal(short.status, 0);
  assert.match(short.stderr, /under 8 characters/);
});
