// `wattkeeper selftest miner` against every dialect's simulator (the targets of
// the miner contract), each on its own addresses in this file's block 127.137:
// one compatibility row per leg, every offered leg working; and a Braiins unit
// that refuses power targets above a threshold (the 24.02 behaviour) → the
// "limit up" row says so and the command exits 1.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, describe, test } from "node:test";
import { type SelftestReport, selftestCommand } from "../../agent/cli/selftest.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";
import type { ContractTarget } from "./miner.ts";
import { TARGETS } from "./targets.ts";

async function selftest(t: ContractTarget, host: string, extra: string[] = []) {
  let text = "";
  const out = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  const args = ["miner", `${host}:${t.port ?? 4028}`, "--dialect", t.dialect, "--yes", "--json", ...extra];
  if (t.endpoint?.webPort) args.push("--web-port", String(t.endpoint.webPort));
  if (t.endpoint?.grpcPort) args.push("--grpc-port", String(t.endpoint.grpcPort));
  const c = t.endpoint?.credentials;
  if (c?.username) args.push("--user", c.username);
  if (c?.password != null) {
    const file = join(mkdtempSync(join(tmpdir(), "wk-selftest-")), "pw");
    writeFileSync(file, `${c.password}\n`, { mode: 0o600 });
    args.push("--password-file", file);
  }
  const code = await selftestCommand(args, { out, input: process.stdin, isTty: false });
  return { code, report: JSON.parse(text) as SelftestReport };
}

describe("selftest miner", () => {
  const sites: SimSite[] = [];
  after(async () => {
    await Promise.all(sites.map((s) => s.stop()));
  });
  const start = async (t: ContractTarget, host: string, sim: ContractTarget["sim"] = t.sim) => {
    const site = await startSimSite({
      seed: 137,
      noiseW: 0,
      miners: [{ ...sim, id: `${t.dialect}-st`, host, port: t.port ?? 4028, dialect: t.dialect }],
      meters: [],
      ...t.site,
    });
    sites.push(site);
    return site;
  };

  for (const [i, t] of TARGETS.entries()) {
    test(`${t.dialect}: one row per leg, every offered leg works`, async () => {
      const host = `127.137.${i + 1}.1`;
      const site = await start(t, host);
      const { code, report } = await selftest(t, host);
      assert.equal(code, 0, JSON.stringify(report.legs));
      assert.equal(report.dialect, t.dialect);
      assert.ok(report.legs.length >= 3, "sleep, wake and the power-limit leg(s) are listed");
      for (const l of report.legs) {
        const offered = t.capabilities.includes(l.capability);
        assert.equal(l.worked === null, !offered, `${l.leg}: ${l.detail}`);
        if (offered) assert.ok(l.seconds !== null && l.seconds >= 0);
      }
      assert.equal(site.model.state(`${t.dialect}-st`), "hashing", "left hashing");
    });
  }

  test("a Braiins unit refusing power targets above 2.7 kW: the 'limit up' row says so, exit 1", async () => {
    const t = TARGETS.find((x) => x.dialect === "braiins")!;
    const host = "127.137.100.1";
    await start(t, host, { ...t.sim, braiins: { refuseTargetsAboveW: 2_700 } });
    const { code, report } = await selftest(t, host);
    assert.equal(code, 1);
    const down = report.legs.find((l) => l.leg === "limit down")!;
    const up = report.legs.find((l) => l.leg === "limit up")!;
    assert.equal(down.worked, true, down.detail);
    assert.equal(up.worked, false);
    assert.match(up.detail, /FAILED_PRECONDITION|cannot be applied/);
  });

  test("without --yes and not at a terminal it refuses to write", async () => {
    const t = TARGETS[0]!;
    const host = "127.137.101.1";
    await start(t, host);
    await assert.rejects(
      selftestCommand(["miner", `${host}:4028`], {
        out: new Writable({ write: (_c, _e, d) => d() }),
        input: process.stdin,
        isTty: false,
      }),
      /pass --yes/,
    );
  });
});
