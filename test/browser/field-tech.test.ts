// A field technician's moments in a real browser (Debian's Chromium driven by
// playwright-core), at 375×800 and 1280×800, against a Site on the simulator
// with one unreachable, one hot (by its model's limit), one wrong-pool, one
// dead-board and one read-only miner: the problems list worst first; tapping a
// problem opens the miner detail with every field and nothing wider than the
// viewport; an operator's reboot and power limit, each confirmed first and
// read back; maintenance with an end that returns the miner to automatic
// control by itself. Screenshots of each state go to test/artifacts/field-*.png.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { waitFor } from "../helpers/ports.ts";
import {
  ARTIFACTS,
  assertFits,
  confirmAction,
  DEAD,
  DOWN,
  detailOf,
  type El,
  HEIGHT,
  HOT,
  login,
  openPage,
  type PageDocument,
  POOL,
  READ_ONLY,
  SPARE,
  shotDialog,
  sim,
  site,
  startFieldSite,
  stopFieldSite,
  TECH,
} from "./field-tech-fixtures.ts";

// The page's globals, as far as the callbacks run in the page touch them (no DOM lib in tsconfig).
declare const document: PageDocument;

before(startFieldSite);
after(stopFieldSite);

describe("problems first, then the miner", () => {
  for (const width of [375, 1280]) {
    test(`at ${width}×${HEIGHT}: worst first; a tapped problem opens its miner with every field, nothing wider than the viewport`, async () => {
      const { page, errors } = await openPage(width);
      try {
        await page.waitForFunction(() => document.querySelectorAll("#problems-list li").length === 5);
        const rows = await page.$$eval("#problems-list li", (lis) =>
          lis.map(
            (li) =>
              `${(li as unknown as { dataset: Record<string, string> }).dataset.kind} ${(li as unknown as { dataset: Record<string, string> }).dataset.id}`,
          ),
        );
        assert.deepEqual(rows, [
          `unreachable ${DOWN}`,
          `hot ${HOT}`,
          `wrong-pool ${POOL}`,
          `dead-board ${DEAD}`,
          `cannot-shed ${READ_ONLY}`,
        ]);
        assert.match(
          (await page.textContent(`#problems-list li[data-id="${DEAD}"]`)) ?? "",
          /hashboard 2 at 0 while 2 of 3 hash.*reseat/s,
        );
        assert.match(
          (await page.textContent(`#problems-list li[data-id="${HOT}"]`)) ?? "",
          /the model's limit 82 °C/,
        );
        const overflow = await page.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
        assert.ok(overflow <= 0, `page ${overflow} px wider than the viewport`);
        // the budget card: every number with its unit and its age, no word said twice
        await page.waitForFunction(
          () =>
            /^metered \(\d+(\.\d+)? s old\)$/.test(
              document.getElementById("power-source")?.textContent ?? "",
            ) && document.getElementById("budget-source")?.textContent === "contract limit",
          null,
          { timeout: 10_000 },
        );
        assert.equal(await page.textContent("#budget-reason"), "no lower limit in force");
        assert.match((await page.textContent("#budget-at")) ?? "", /^\d\d:\d\d:\d\d$/);
        await page.screenshot({ path: join(ARTIFACTS, `field-problems-${width}.png`) });

        // tap the dead board: its detail opens
        await page.click(`#problems-list li[data-id="${DEAD}"]`);
        await page.waitForSelector("#d-body:not([hidden])");
        await page.waitForFunction(
          () =>
            Number(
              (document.getElementById("d-spark") as unknown as { dataset: { points?: string } }).dataset
                .points,
            ) >= 2,
          null,
          { timeout: 15_000 },
        );
        assert.equal(await page.textContent("#d-id"), DEAD);
        const facts = Object.fromEntries(
          await page.$$eval("#d-facts dd", (dds) =>
            dds.map((dd) => [
              (dd as unknown as { dataset: { fact: string } }).dataset.fact,
              dd.textContent ?? "",
            ]),
          ),
        );
        for (const key of [
          "location",
          "address",
          "model",
          "nominal",
          "firmware",
          "dialect",
          "capabilities",
          "state",
          "power",
          "power limit",
          "hashrate",
          "uptime",
          "fans",
          "temperature",
          "read",
        ])
          assert.ok(facts[key] && facts[key] !== "—", `fact ${key}: ${facts[key]}`);
        assert.equal(facts.address, "127.167.0.4:4028");
        assert.equal(facts.model, "Antminer S19j Pro");
        assert.match(facts.firmware!, /^luxminer \d{4}\./);
        assert.equal(facts.dialect, "luxos");
        assert.match(facts.capabilities!, /sleep, wake, setPowerLimit, reboot/);
        assert.match(facts.hashrate!, /TH\/s of 10\d(\.\d+)? TH\/s \(\d+ %\)/);
        // the detail tier's age follows when the fans were read on an earlier poll than the rest
        assert.match(facts.fans!, /^\d+ · \d+ · \d+ · \d+ rpm( · [\d.]+ (s|min) ago)?$/);
        assert.match(facts.uptime!, /\d/);
        // boards: three, the dead one marked
        const boards = await page.$$eval("#d-boards tbody tr", (trs) =>
          trs.map((tr) => [tr.className, tr.textContent ?? ""]),
        );
        assert.equal(boards.length, 3);
        assert.deepEqual(
          boards.map(([cls]) => cls),
          ["", "dead", ""],
        );
        assert.match(boards[1]![1]!, /^2 dead0\.00/);
        // pools with user and status; its problem with the next step
        assert.equal(await page.locator("#d-pools li").count(), 3);
        assert.match(
          (await page.textContent("#d-pools li")) ?? "",
          /^1\. Alive · stratum\+tcp:\/\/btc\.sim-pool\.example:3333 · user wattkeeper\.m-127-167-0-4$/,
        );
        assert.match((await page.textContent("#d-problems")) ?? "", /^dead-board: hashboard 2 at 0/);
        assert.equal(await page.locator("#d-spark svg polyline").count(), 2);
        assert.ok((await page.locator("#d-ledger li").count()) >= 1);
        assert.ok((await page.locator("#d-events li").count()) >= 1);
        await assertFits(page, width, "detail");
        // the long location is cut with an ellipsis; a tap shows it whole
        const loc = page.locator('#d-facts dd[data-fact="location"] .trunc');
        const cut = await loc.evaluate(
          (el) => (el as unknown as El).scrollWidth > (el as unknown as El).clientWidth,
        );
        if (width === 375) assert.ok(cut, "the long location is cut at 375 px");
        await loc.click();
        assert.equal(await loc.getAttribute("aria-expanded"), "true");
        assert.ok(
          await loc.evaluate(
            (el) => (el as unknown as El).scrollWidth <= (el as unknown as El).clientWidth + 1,
          ),
          "shown whole",
        );
        await assertFits(page, width, "detail with the location open");
        await page.screenshot({ path: join(ARTIFACTS, `field-detail-${width}.png`), fullPage: false });
        await shotDialog(page, width, `field-detail-full-${width}.png`);

        // a read-only miner: no actions but exclude, and why it cannot be shed
        await page.click("#d-close");
        await page.click(`#problems-list li[data-id="${READ_ONLY}"]`);
        await page.waitForFunction((id) => document.getElementById("d-id")?.textContent === id, READ_ONLY);
        await page.waitForSelector("#d-body:not([hidden])");
        assert.match(
          (await page.textContent("#d-problems")) ?? "",
          /cannot-shed: cannot be shed: stock cgminer's API is read-only/,
        );
        assert.match(
          (await page.textContent('#d-facts dd[data-fact="capabilities"]')) ?? "",
          /^none \(read only\)/,
        );
        await assertFits(page, width, "read-only detail");
        assert.deepEqual(errors, []);
      } finally {
        await page.close();
      }
    });
  }
});

describe("operator actions from the detail, confirmed and read back", () => {
  test("reboot and set power limit at 375 px: a confirmation, the audit entry, the read-back", async () => {
    const { page, errors } = await openPage(375);
    try {
      await login(page);
      await page.click(`#grid .cell[data-id="${TECH}"]`);
      await page.waitForSelector("#d-actions:not([hidden])");
      await page.waitForSelector('#d-buttons button[data-action="reboot"]');
      const offered = await page.$$eval("#d-buttons button", (bs) =>
        bs.map((b) => (b as unknown as { dataset: { action: string } }).dataset.action),
      );
      // locate as two buttons: blink for the default time, and stop
      assert.deepEqual(offered, [
        "sleep",
        "wake",
        "reboot",
        "set-power-limit",
        "locate",
        "locate",
        "exclude",
      ]);
      const uptimeBefore = sim.model.minerView(TECH).uptimeS;

      // cancel first: nothing is sent
      await page.click('#d-buttons button[data-action="reboot"]');
      await page.waitForSelector("#d-confirm:not([hidden])");
      await page.screenshot({ path: join(ARTIFACTS, "field-confirm-reboot-375.png") });
      await page.click("#d-confirm-no");
      assert.equal(await page.isVisible("#d-confirm"), false);
      assert.equal((await detailOf(TECH)).ledger.length, 0, "a cancelled action sends nothing");

      const reboot = await confirmAction(page, "reboot");
      assert.match(reboot.question, /^Reboot m-127-167-0-6\? It stops hashing while it restarts/);
      assert.match(reboot.result, /^done/);
      assert.match(reboot.audit, /^Audit entry #\d+: tech via http at [\d:]+ — device\/action reboot: ok$/);
      // read back: the unit restarted, and the ledger says so
      assert.ok(sim.model.minerView(TECH).uptimeS < uptimeBefore);
      await page.waitForFunction(
        () => /reboot · operator · done/.test(document.getElementById("d-ledger")?.textContent ?? ""),
        null,
        { timeout: 15_000 },
      );
      await page.screenshot({ path: join(ARTIFACTS, "field-reboot-done-375.png") });
      await waitFor("hashing again", () => site.state.miners.get(TECH)?.reading?.state === "hashing", 20_000);

      const limit = await confirmAction(page, "set-power-limit", async (p) => {
        assert.equal(await p.getAttribute("#d-value", "min"), "2086");
        assert.equal(await p.getAttribute("#d-value", "max"), "3400");
        await p.fill("#d-value", "2400");
      });
      assert.match(limit.question, /Between 2,086 W and 3,400 W/);
      assert.match(limit.result, /^done/);
      assert.match(limit.audit, /— device\/action set-power-limit: ok$/);
      // read back: the miner draws at most the limit (LuxOS applies the profile at or below it)
      await waitFor(
        "the lower draw read back",
        async () => ((await detailOf(TECH)).reading.powerW as number) <= 2400,
        15_000,
      );
      assert.ok(sim.model.powerW(TECH) <= 2400);
      await page.waitForFunction(
        () =>
          /setPowerLimit 2\.4 kW · operator · done/.test(
            document.getElementById("d-ledger")?.textContent ?? "",
          ),
        null,
        { timeout: 15_000 },
      );
      await page.waitForFunction(
        () =>
          /^2\.\d kW|^2[0-4]\d\d W/.test(
            document.querySelector('#d-facts dd[data-fact="power"]')?.textContent ?? "",
          ),
        null,
        { timeout: 15_000 },
      );
      await assertFits(page, 375, "after the actions");
      await page.screenshot({ path: join(ARTIFACTS, "field-power-limit-375.png") });

      // outside the range: the page says so before sending anything
      await page.click('#d-buttons button[data-action="set-power-limit"]');
      await page.fill("#d-value", "1000");
      await page.click("#d-confirm-yes");
      assert.match((await page.textContent("#d-result")) ?? "", /^outside 2,086 W–3,400 W/);
      await page.click("#d-confirm-no");
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  test("maintenance with an end: excluded with its end shown, back in automatic control by itself; 'until 16:00' means the next 16:00", async () => {
    const { page, errors } = await openPage(1280);
    try {
      await login(page);
      await page.click(`#grid .cell[data-id="${SPARE}"]`);
      await page.waitForSelector('#d-buttons button[data-action="exclude"]');
      const ex = await confirmAction(page, "exclude", async (p) => {
        await p.fill("#d-reason", "fan swap");
        await p.fill("#d-until", "6s");
      });
      assert.match(ex.question, /^Exclude m-127-167-0-7\? The loop will neither shed nor wake it/);
      assert.match(ex.result, /^done: excluded until \d{4}-/);
      assert.match(ex.audit, /device\/action exclude: ok$/);
      await page.waitForSelector("#d-exclusion:not([hidden])");
      assert.match(
        (await page.textContent("#d-exclusion")) ?? "",
        /^Excluded from automatic control by tech at [\d:]+: fan swap — back in automatic control at [\d:]+$/,
      );
      assert.match((await page.textContent("#d-state")) ?? "", /excluded$/);
      await page.waitForSelector('#d-buttons button[data-action="include"]');
      await page.locator("#d-exclusion").scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS, "field-maintenance-1280.png") });
      assert.equal(site.snapshot().counts.excluded, 1);
      // nobody includes it: it comes back by itself, and the page shows it
      await page.waitForSelector("#d-exclusion", { state: "hidden", timeout: 20_000 });
      await page.waitForFunction(
        () =>
          /back in automatic control: the exclusion by tech \(fan swap\) ended/.test(
            document.getElementById("d-events")?.textContent ?? "",
          ),
        null,
        { timeout: 15_000 },
      );
      await page.waitForSelector('#d-buttons button[data-action="exclude"]');
      assert.equal(site.snapshot().counts.excluded, 0);
      await shotDialog(page, 1280, "field-maintenance-ended-1280.png");

      // "until HH:MM": the next such time on the browser's clock (two hours ahead here)
      const when = await page.evaluate(() => {
        const d = new Date(Date.now() + 2 * 3_600_000);
        return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
      });
      await confirmAction(page, "exclude", async (p) => {
        await p.fill("#d-until", when);
      });
      const until = (await detailOf(SPARE)).exclusion?.until ?? 0;
      const seen = await page.evaluate((ms) => {
        const d = new Date(ms);
        return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}:${d.getSeconds()}`;
      }, until);
      assert.equal(seen, `${when}:0`, "ends at that minute, to the second");
      const inc = await confirmAction(page, "include");
      assert.match(inc.result, /^done/);
      assert.equal((await detailOf(SPARE)).exclusion, null);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
