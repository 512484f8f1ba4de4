// The miner contract's read checks against every recorded fixture set
// (test/fixtures/cgminer-api/<set>/ with a manifest naming firmware, version,
// dialect and the state the recording shows): a loopback replay answers each
// request with the recorded bytes — a multi-command the recording does not
// hold is joined from the recorded single replies, as the CGMiner API joins
// them — and the driver must read the recording truthfully and detect its dialect.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { createMiner, type Miner } from "../../drivers/cgminer/miner.ts";
import { DialectSchema, MINER_STATES } from "../../drivers/types.ts";
import { recordedExchanges } from "../helpers/fixtures.ts";

const ROOT = new URL("../fixtures/cgminer-api/", import.meta.url);
const ManifestSchema = z.object({
  firmware: z.string().min(1),
  version: z.string().min(1),
  dialect: DialectSchema.exclude(["auto"]),
  expectState: z.enum(MINER_STATES),
});

type Json = Record<string, unknown>;

/** Request text → reply bytes, from a fixture set. */
function replayTable(set: string) {
  const exact = new Map<string, Buffer>();
  const parts = new Map<string, unknown>();
  let invalid: Json | null = null;
  for (const e of recordedExchanges(set)) {
    if (!e.name.endsWith(".json")) continue;
    exact.set(e.request.toString("utf8").trim(), e.reply);
    const reply = JSON.parse(e.reply.toString("utf8").replace(/\0+$/, "")) as Json;
    const command = e.name.slice(0, -".json".length);
    if (command === "nosuchcmd") invalid = reply;
    else if (command.includes("+")) {
      for (const [k, v] of Object.entries(reply)) if (k !== "id" && Array.isArray(v)) parts.set(k, v[0]);
    } else if (/^[a-z]+$/.test(command)) parts.set(command, reply);
  }
  return (request: string): Buffer | null => {
    const hit = exact.get(request.trim());
    if (hit) return hit;
    const { command } = JSON.parse(request) as { command?: string };
    if (typeof command !== "string") return null;
    const nul = Buffer.from([0]);
    // a single command recorded only inside a multi-command: its part is the whole reply
    if (!command.includes("+")) {
      const part = parts.get(command);
      return part === undefined ? null : Buffer.concat([Buffer.from(JSON.stringify(part)), nul]);
    }
    const joined: Json = {};
    for (const c of command.split("+")) joined[c] = [parts.get(c) ?? invalid];
    joined.id = 1;
    return Buffer.concat([Buffer.from(JSON.stringify(joined)), nul]);
  };
}

const sets = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

sets.forEach((set, i) => {
  const manifest = ManifestSchema.parse(
    JSON.parse(readFileSync(new URL(`${set}/manifest.json`, ROOT), "utf8")),
  );
  const host = `127.136.200.${i + 1}`;
  describe(`miner contract, recorded: ${set} (${manifest.firmware} ${manifest.version})`, () => {
    let server: net.Server;
    const miners: Miner[] = [];
    before(async () => {
      const answer = replayTable(set);
      server = net.createServer((sock) => {
        const chunks: Buffer[] = [];
        sock.on("data", (c) => {
          chunks.push(c);
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            JSON.parse(text);
          } catch {
            return; // not whole yet
          }
          const reply = answer(text);
          if (reply) sock.end(reply);
          else sock.destroy();
        });
        sock.on("error", () => {});
      });
      await new Promise<void>((resolve) => server.listen(4028, host, resolve));
    });
    after(async () => {
      await Promise.all(miners.map((m) => m.close()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    test(`reads the recording as ${manifest.expectState}, naming ${manifest.firmware} ${manifest.version}`, async () => {
      const m = createMiner({ host, port: 4028 }, manifest.dialect);
      miners.push(m);
      const r = await m.read();
      assert.equal(r.state, manifest.expectState, r.reason ?? "");
      assert.ok(r.firmware?.includes(manifest.version), `firmware ${r.firmware}`);
      assert.ok(r.hashrateThs === null || r.hashrateThs >= 0);
      assert.ok(r.pools.length > 0, "pools read");
    });

    test(`dialect auto detects ${manifest.dialect}`, async () => {
      const m = createMiner({ host, port: 4028 }, "auto");
      miners.push(m);
      await m.read();
      assert.equal(m.dialect, manifest.dialect);
    });
  });
});
