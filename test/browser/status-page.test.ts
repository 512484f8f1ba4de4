// The status page in a real browser (Debian's Chromium driven by playwright-core) against
// a Site on the simulator: it loads, its numbers match /api/site, the chart draws, a login and
// actions work (sleep; locate, the simulator's LED on and off again), the same action without
// a login is refused. Screenshots at 375 and 1280 px go to test/artifacts/ (committed; the
// README shows them).

import assert from "node:assert/strict";
import { type ClientRequest, get as httpGet } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { SiteView } from "../../agent/http/server.ts";
import type { Site } from "../../agent/site/site.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { type SimSite, startSimSite, testPasswordHash } from "../helpers/sim-site.ts";
import {
  ARTIFACTS,
  type Canvas,
  type Doc,
  openPage,
  PASSWORD,
  useBrowser,
  type Win,
} from "./status-page-fixtures.ts";

// The page globals its callbacks touch.
declare const document: Doc, window: Win;

useBrowser();

describe("on the simulator", () => {
  let site: Site;
  let sim: SimSite["sim"];
  let base: string;
  let running: SimSite;

  before(async () => {
    const hash = await testPasswordHash(PASSWORD);
    running = await startSimSite(
      "browser",
      `site: { id: browser, timezone: UTC, contractLimitW: 1MW }
http:
  operators:
    - { name: tech, passwordHash: "${hash}" }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.83.0.1-127.83.0.24, location: container-A }
  - { hosts: 127.83.1.1-127.83.1.16, location: container-B, dialect: luxos }
control: { tickS: 1, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0 }
sim: { seed: 21, noiseW: 10, auxW: 5kW }
`,
      { minerPollMs: 500 },
    );
    ({ site, sim, base } = running);
    await waitFor(
      "all miners hashing and the meter read",
      () => {
        const s = site.snapshot();
        return s.counts.hashing === 40 && s.powerSource === "meter";
      },
      20_000,
    );
  });
  after(() => running?.stop());

  test("the page loads, its numbers match /api/site, the chart draws; screenshots at 375 and 1280 px", async () => {
    for (const width of [375, 1280]) {
      const { page, errors } = await openPage(`${base}/`, width);
      try {
        await page.waitForFunction(() => document.getElementById("count-hashing")?.textContent === "40");
        // the page and a fetch see the site a moment apart (on a loaded machine the meter can
        // go stale for a tick and the failsafe budget show): compare until one moment agrees
        const seen: string[] = [];
        await waitFor(
          "the page showing what /api/site says",
          async () => {
            const api = (await (await fetch(`${base}/api/site`)).json()) as SiteView;
            const page1 = {
              hashing: await page.textContent("#count-hashing"),
              faulted: await page.textContent("#count-faulted"),
              budgetW: Number(await page.getAttribute("#budget", "data-w")),
              budget: await page.textContent("#budget"),
              powerW: Number(await page.getAttribute("#site-power", "data-w")),
            };
            seen.push(JSON.stringify({ api: [api.counts.hashing, api.budgetW, api.powerW], page1 }));
            return (
              page1.hashing === String(api.counts.hashing) &&
              page1.faulted === String(api.counts.faulted) &&
              page1.budgetW === api.budgetW &&
              page1.budget ===
                (api.budgetW === 1_000_000 ? "1.000 MW" : `${(api.budgetW! / 1000).toFixed(1)} kW`) &&
              // the meter moves by its noise between the two reads
              Math.abs(page1.powerW - api.powerW!) < 0.02 * api.powerW!
            );
          },
          15_000,
          250,
        ).catch((err: Error) => {
          throw new Error(`${err.message}; last seen: ${seen.slice(-3).join(" | ")}`);
        });
        assert.match((await page.textContent("#site-power"))!, /^\d+\.\d kW$/);
        assert.equal(await page.textContent("#broker"), "not configured");
        assert.equal(await page.locator("#grid .cell").count(), 40);
        assert.deepEqual(await page.locator("#grid h3").allTextContents(), [
          "container-A · 24",
          "container-B · 16",
        ]);
        assert.equal(await page.locator("#live").getAttribute("data-state"), "ok");

        // the chart: uPlot's canvas, with history points, and something drawn on it
        await page.waitForSelector("#chart canvas");
        assert.ok(Number(await page.getAttribute("#chart", "data-points")) >= 1);
        const inked = await page.evaluate(() => {
          const c = document.querySelector("#chart canvas") as Canvas;
          const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
          return n;
        });
        assert.ok(inked > 500, `${inked} drawn pixels`);
        // no horizontal scroll on a phone: the layout fits the width
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `page ${overflow} px wider than the viewport at ${width}`);
        await page.screenshot({ path: join(ARTIFACTS, `status-page-${width}.png`), fullPage: true });
        assert.deepEqual(errors, []);
      } finally {
        await page.close();
      }
    }
  });

  test("the stream cut: a stale banner within two ticks, numbers kept fresh by polling, gone when the stream is back", async () => {
    const { page, errors } = await openPage(`${base}/`, 375);
    try {
      // let the page learn the tick from a few updates, then cut the stream and keep it cut
      await page.waitForFunction(() => document.getElementById("live")?.textContent === "live");
      await new Promise((r) => setTimeout(r, 4000));
      await page.route("**/api/stream", (r) => r.abort());
      // four more streams from this address: the agent closes its oldest, the page's (the per-address
      // cap); the page's reconnects are refused by the route above
      const hogs = await Promise.all(
        [1, 2, 3, 4].map(
          () =>
            new Promise<ClientRequest>((resolve, reject) => {
              const req = httpGet(`${base}/api/stream`, () => resolve(req));
              req.on("error", reject);
            }),
        ),
      );
      const cutAt = Date.now();
      await page.waitForSelector("#stale-banner:not([hidden])", { timeout: 10_000 });
      const shownS = (Date.now() - cutAt) / 1000;
      // two ticks of 1 s, the 3 s floor, and the watch's 1 s period
      assert.ok(shownS <= 5, `banner after ${shownS} s`);
      assert.equal(await page.evaluate(() => document.body.classList.contains("stale")), true);
      // polling refreshes the numbers: the page's site time moves on without the stream
      const at1 = await page.getAttribute("body", "data-at");
      await page.waitForFunction((prev) => document.body.dataset.at !== prev, at1, { timeout: 10_000 });
      assert.match((await page.textContent("#stale-polled")) ?? "", /\d/);
      // the stream back: the banner goes
      for (const h of hogs) h.destroy();
      await page.unroute("**/api/stream");
      await page.waitForSelector("#stale-banner", { state: "hidden", timeout: 15_000 });
      assert.equal(await page.evaluate(() => document.body.classList.contains("stale")), false);
      assert.deepEqual(
        errors.filter((e) => !/api\/stream|ERR_FAILED|ERR_INTERNET_DISCONNECTED/.test(e)),
        [],
      );
    } finally {
      await page.close();
    }
  });

  test("without a login the page offers no actions and the API refuses one", async () => {
    const { page } = await openPage(`${base}/`, 1280);
    try {
      assert.equal(await page.isVisible("#login-open"), true);
      await page.click('#grid .cell[data-id="m-127-83-1-1"]');
      assert.equal(await page.isVisible("#d-actions"), false);
      const r = await page.evaluate(async () => {
        const res = await fetch("/api/actions", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ kind: "device", id: "m-127-83-1-1", action: "sleep" }),
        });
        return { status: res.status, body: await res.json() };
      });
      assert.deepEqual(r, { status: 401, body: { error: "login required" } });
      assert.notEqual(site.state.miners.get("m-127-83-1-1")?.reading?.state, "sleeping");
    } finally {
      await page.close();
    }
  });

  test("an operator logs in and sleeps a miner from the grid; the page shows it", async () => {
    const { page } = await openPage(`${base}/`, 1280);
    try {
      await page.click("#login-open");
      await page.fill('#login-form input[name="name"]', "tech");
      await page.fill('#login-form input[name="password"]', "wrong");
      await page.click("#login-submit");
      await page.waitForFunction(() => document.getElementById("login-error")?.textContent !== "");
      assert.equal(await page.textContent("#login-error"), "wrong name or password");
      await page.fill('#login-form input[name="password"]', PASSWORD);
      await page.click("#login-submit");
      await page.waitForSelector("#logout", { state: "visible" });
      assert.equal(await page.textContent("#who"), "operator: tech");
      assert.equal(await page.isVisible("#operator"), true);

      const id = "m-127-83-1-2";
      await page.click(`#grid .cell[data-id="${id}"]`);
      await page.click('#d-buttons button[data-action="sleep"]');
      // a confirmation step first: nothing is sent until it is confirmed
      await page.waitForSelector("#d-confirm:not([hidden])");
      assert.match((await page.textContent("#d-confirm-text")) ?? "", /^Sleep m-127-83-1-2\?/);
      await page.click("#d-confirm-yes");
      await page.waitForFunction(
        () => /^done/.test(document.getElementById("d-result")?.textContent ?? ""),
        null,
        {
          timeout: 30_000,
        },
      );
      await waitFor(
        "the miner asleep",
        () => site.state.miners.get(id)?.reading?.state === "sleeping",
        15_000,
      );
      await page.waitForSelector(`#grid .cell[data-id="${id}"][data-state="sleeping"]`, { timeout: 15_000 });
      await page.waitForFunction(() => document.getElementById("count-sleeping")?.textContent === "1", null, {
        timeout: 15_000,
      });
      // the event arrives over SSE
      await page.waitForSelector('#events li[data-kind="operator-action"]', { timeout: 15_000 });
      const audit = site.audit!.recent(5).find((a) => a.action === "device/action")!;
      assert.deepEqual([audit.who, audit.via, audit.ok], ["tech", "http", true]);

      // locate: the simulator's LED turns on, then off again
      const led = "m-127-83-1-3";
      await page.click("#d-close");
      await page.click(`#grid .cell[data-id="${led}"]`);
      await page.click('#d-buttons button[data-action="locate"]:not([data-seconds])');
      await page.waitForSelector("#d-confirm:not([hidden])");
      assert.match((await page.textContent("#d-confirm-text")) ?? "", /^Locate \(5 min\) m-127-83-1-3\?/);
      await page.click("#d-confirm-yes");
      await page.waitForFunction(
        () =>
          /^done: locate on for 300 s \(read back\)/.test(
            document.getElementById("d-result")?.textContent ?? "",
          ),
        null,
        { timeout: 30_000 },
      );
      assert.equal(sim.model.leds.isOn(led), true, "the LED blinks");
      await page.click('#d-buttons button[data-action="locate"][data-seconds="0"]');
      await page.waitForSelector("#d-confirm:not([hidden])");
      assert.match((await page.textContent("#d-confirm-text")) ?? "", /^Stop locate m-127-83-1-3\?/);
      await page.click("#d-confirm-yes");
      await page.waitForFunction(
        () => /^done: locate off \(read back\)/.test(document.getElementById("d-result")?.textContent ?? ""),
        null,
        { timeout: 30_000 },
      );
      assert.equal(sim.model.leds.isOn(led), false, "the LED is off again");
    } finally {
      await page.close();
    }
  });
});
