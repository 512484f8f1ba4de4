// The status page in a real browser (Debian's Chromium driven by playwright-core) with
// 5,000 miners: the miner grid is built once and patched in place. Screenshots go to
// test/artifacts/ (committed; the README shows them).

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { HttpServer } from "../../agent/http/server.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { testPasswordHash } from "../helpers/sim-site.ts";
import { standInSite } from "../helpers/stand-in-site.ts";
import { ARTIFACTS, type Doc, openPage, PASSWORD, useBrowser, type Win } from "./status-page-fixtures.ts";

// What the callbacks run in the page touch of its globals.
declare const document: Doc, window: Win;

useBrowser();

describe("at 5,000 miners", () => {
  let server: HttpServer;
  let base: string;
  let tick = 0;
  const actions: string[] = [];

  before(async () => {
    const states = [
      "hashing",
      "hashing",
      "hashing",
      "sleeping",
      "faulted",
      "unreachable",
      "starting",
    ] as const;
    const miners = () =>
      Array.from({ length: 5000 }, (_, i) => ({
        id: `m-${i}`,
        class: "mining",
        host: "10.0.0.1",
        port: 4028,
        dialect: "auto" as const,
        location: `container-${String(Math.floor(i / 500)).padStart(2, "0")}`,
        priority: 0,
        excluded: i % 97 === 0,
        // one miner in ten changes state each refresh
        state: states[(i + (i % 10 === 0 ? tick : 0)) % states.length]!,
        chipTempMaxC: 55 + (i % 40),
        powerW: 3000,
        hashrateThs: 100,
        model: "S19",
        reason: null,
      }));
    const site = standInSite(
      {
        devicesView: () =>
          ({
            miners: miners(),
            meters: [
              { id: "pcc", role: "site", ok: true, ageS: 0.4, powerW: 15e6, reason: null },
              { id: "ai-feeder", role: "ai", ok: false, ageS: 42, powerW: null, reason: "timeout" },
            ],
            gpuNodes: ["gpu-a", "gpu-b"].map((id) => ({
              id,
              class: "ai",
              host: "10.0.1.1",
              port: 22,
              location: "hall-1",
              excluded: false,
              state: "ok",
              reason: null,
              powerW: 4 * 650,
              at: new Date().toISOString(),
              gpus: [0, 1, 2, 3].map((index) => ({
                index,
                name: "NVIDIA H100",
                powerW: 650,
                powerLimitW: 700,
                enforcedPowerLimitW: 700,
                tempC: 61,
                utilPct: 97,
                busy: true,
              })),
            })),
          }) as never,
        deviceAction: async (req: { id: string; action: string }, actor: { who: string }) => {
          actions.push(`${actor.who} ${req.action} ${req.id}`);
          return { ok: true as const };
        },
      },
      {
        siteId: "big",
        powerW: 15e6,
        budgetW: 20e6,
        classes: { ai: { powerW: 0 }, mining: { powerW: 15e6 }, aux: { powerW: null } },
        counts: { hashing: 2143 },
        meter: { ok: true, ageS: 0.4 },
        broker: { connected: true, outboxMessages: 3 },
      },
    );
    const operators = [{ name: "ops", passwordHash: await testPasswordHash(PASSWORD) }];
    server = new HttpServer({ host: "127.0.0.1", port: 0, site, operators, logger: silentLogger() });
    await server.start();
    base = `http://127.0.0.1:${server.address()!.port}`;
  });
  after(() => server.stop());

  test("the grid is built once and patched in place; filter and search work", async () => {
    const { page, errors } = await openPage(`${base}/`, 1280);
    try {
      assert.equal(await page.locator("#grid .cell").count(), 5000);
      assert.equal(await page.locator("#grid h3").count(), 10);
      // mark every cell, refresh with one miner in ten changed: the same elements, new classes
      await page.evaluate(() => {
        for (const el of document.querySelectorAll("#grid .cell")) el.mark = 1;
      });
      const before = await page.getAttribute('#grid .cell[data-id="m-10"]', "class");
      tick = 1;
      const ms = await page.evaluate(async () => {
        const t0 = performance.now();
        await window.wattkeeper.refreshDevices();
        return performance.now() - t0;
      });
      const after = await page.getAttribute('#grid .cell[data-id="m-10"]', "class");
      assert.notEqual(after, before, "a changed miner got its new class");
      const kept = await page.evaluate(
        () => [...document.querySelectorAll("#grid .cell")].filter((el) => el.mark === 1).length,
      );
      assert.equal(kept, 5000, "no cell was rebuilt");
      // generous: a loaded 2-core CI machine; a rebuild of 5,000 nodes plus layout would be far slower on a phone
      assert.ok(ms < 5000, `refresh took ${ms.toFixed(0)} ms`);

      await page.fill("#search", "m-4999");
      await page.waitForFunction(() => document.getElementById("miner-shown")?.textContent === "1 of 5000");
      await page.fill("#search", "");
      await page.selectOption("#state-filter", "excluded");
      await page.waitForFunction(() => document.getElementById("miner-shown")?.textContent === "52 of 5000");
      assert.equal(await page.locator("#grid .cell:visible").count(), 52);
      await page.selectOption("#state-filter", "");
      await page.click('#colour-by button[data-by="temp"]');
      assert.equal(await page.getAttribute("#grid", "data-colour"), "temp");
      // GPU nodes with per-GPU rows; meters with age and quality; the broker link
      assert.equal(await page.locator("#gpus tbody tr").count(), 10);
      assert.deepEqual(await page.locator("#gpus tbody tr").nth(1).locator("td").allTextContents(), [
        "  GPU 0 NVIDIA H100",
        "busy",
        "650 W",
        "700 W",
        "61 °C",
        "97 %",
      ]);
      assert.deepEqual(await page.locator("#meters tbody tr").nth(1).locator("td").allTextContents(), [
        "ai-feeder",
        "ai",
        "—",
        "42.0 s",
        "timeout",
      ]);
      assert.equal(await page.textContent("#broker"), "connected");
      assert.equal(await page.textContent("#outbox"), "3");
      await page.screenshot({ path: join(ARTIFACTS, "status-page-5000-miners.png"), fullPage: true });

      // logged in, a GPU node can be taken out of automatic control from its row
      assert.equal(await page.locator("#gpus button").count(), 0);
      const login = await page.request.post(`${base}/api/login`, {
        data: { name: "ops", password: PASSWORD },
      });
      assert.equal(login.status(), 200);
      await page.reload();
      await page.waitForSelector("body[data-ready='1']");
      await page.click('#gpus button[data-id="gpu-b"][data-node-action="exclude"]');
      await page.waitForFunction(() => document.getElementById("gpu-result")?.textContent === "done");
      assert.deepEqual(actions, ["ops exclude gpu-b"]);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
