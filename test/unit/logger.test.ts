import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { createLogger } from "../../agent/runtime/logger.ts";

function capture() {
  const stream = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  stream.on("data", (d: Buffer) => {
    for (const l of d.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l));
  });
  return { stream, lines, logger: createLogger({ destination: stream, level: "debug" }) };
}

test("secrets are redacted wherever they sit in a logged object", async () => {
  const { logger, lines } = capture();
  logger.info(
    {
      password: "hunter2",
      mqtt: { url: "mqtts://x", password: "p1" },
      gpu: { ssh: { privateKey: "-----BEGIN" } },
      credentials: { token: "t0k" },
    },
    "config",
  );
  await new Promise((r) => setImmediate(r));
  const text = JSON.stringify(lines);
  for (const secret of ["hunter2", "p1", "-----BEGIN", "t0k"]) assert.ok(!text.includes(secret), secret);
  assert.equal((lines[0]!.mqtt as { url: string }).url, "mqtts://x");
  assert.equal(lines[0]?.password, "[redacted]");
});

test("child loggers carry the component and device", async () => {
  const { logger, lines } = capture();
  logger.child({ component: "poller" }).child({ device: "m-10-1-0-7" }).warn("device degraded");
  await new Promise((r) => setImmediate(r));
  assert.equal(lines[0]?.component, "poller");
  assert.equal(lines[0]?.device, "m-10-1-0-7");
  assert.equal(lines[0]?.level, 40);
});

test("JSON lines, not pretty, when writing to a stream", async () => {
  const { logger, lines } = capture();
  logger.debug("x");
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 1);
});
