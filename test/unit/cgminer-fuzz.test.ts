// Property tests: whatever bytes a miner sends back — arbitrary, truncated or
// mutated real replies — the client's parse path never throws anything but a
// classified DriverError, and a full read always ends as a reading with a
// state (never an exception out of the poll).
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { CgminerClient, READ_COMMANDS } from "../../drivers/cgminer/client.ts";
import { splitMulti } from "../../drivers/cgminer/normalize.ts";
import { normalizeMiner } from "../../drivers/cgminer/reading.ts";
import { parseReplyJson } from "../../drivers/cgminer/repair.ts";
import { parseTextReply } from "../../drivers/cgminer/text.ts";
import { DriverError, MINER_STATES } from "../../drivers/types.ts";
import { recordedExchanges } from "../helpers/fixtures.ts";

const replies = recordedExchanges().map((e) => e.reply);

/** A real reply, cut at a random point and/or with random bytes overwritten or inserted. */
const mutatedReply = fc
  .record({
    base: fc.constantFrom(...replies),
    cut: fc.double({ min: 0, max: 1, noNaN: true }),
    edits: fc.array(
      fc.record({
        at: fc.double({ min: 0, max: 1, noNaN: true }),
        bytes: fc.uint8Array({ minLength: 0, maxLength: 4 }),
        insert: fc.boolean(),
      }),
      { maxLength: 6 },
    ),
  })
  .map(({ base, cut, edits }) => {
    let b = Buffer.from(base.subarray(0, Math.max(1, Math.floor(base.length * cut))));
    for (const e of edits) {
      const at = Math.floor(b.length * e.at);
      b = e.insert
        ? Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at)])
        : Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at + e.bytes.length)]);
    }
    return b;
  });

const anyReply = fc.oneof(
  mutatedReply,
  fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u)),
);

/** The client's own parse path on raw reply bytes, as `command()` and `read()` run it. */
function parseAndNormalize(bytes: Buffer) {
  const text = bytes.toString("utf8");
  const first = text.trimStart()[0];
  const value =
    first === "{" || first === "[" || first === "," ? parseReplyJson(text).value : parseTextReply(text);
  const parts = splitMulti(value, [...READ_COMMANDS]);
  return normalizeMiner({ at: 0, ...parts, nominalW: 3000 });
}

describe("parser properties", () => {
  test("arbitrary bytes and mutated real replies: a reading or a classified DriverError", () => {
    fc.assert(
      fc.property(anyReply, (bytes) => {
        try {
          const r = parseAndNormalize(bytes);
          assert.ok(MINER_STATES.includes(r.state));
          assert.ok(r.hashrateThs === null || Number.isFinite(r.hashrateThs));
          assert.ok(r.powerW === null || Number.isFinite(r.powerW));
        } catch (err) {
          assert.ok(err instanceof DriverError, `unclassified ${String(err)}`);
          assert.match(err.code, /^WK_CGMINER_/);
        }
      }),
      { numRuns: 3000, seed: 20261125 },
    );
  });

  test("every prefix of every recorded reply parses or fails classified", () => {
    for (const reply of replies) {
      for (let n = 1; n <= reply.length; n++) {
        try {
          parseAndNormalize(reply.subarray(0, n));
        } catch (err) {
          assert.ok(err instanceof DriverError, `prefix ${n}: ${String(err)}`);
        }
      }
    }
  });
});

describe("client properties over a real socket", () => {
  let server: Server;
  let port: number;
  let next: Buffer = Buffer.alloc(0);
  before(async () => {
    server = createServer((s) => {
      s.on("error", () => {});
      s.once("data", () => s.end(next));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test("read() never throws: whatever comes back, a state with a reason", async () => {
    const client = new CgminerClient({ host: "127.0.0.1", port }, { readTimeoutMs: 1000 });
    await fc.assert(
      fc.asyncProperty(anyReply, async (bytes) => {
        next = bytes;
        const r = await client.read();
        assert.ok(MINER_STATES.includes(r.state));
        if (r.state !== "hashing") assert.ok(r.reason === null || typeof r.reason === "string");
      }),
      { numRuns: 150, seed: 7 },
    );
  });
});
