// The field technician's site for the browser tests: the simulator with one unreachable, one
// hot, one wrong-pool, one dead-board and one read-only miner, a Site on it with an operator,
// Chromium, and the page helpers (open, fit check, dialog shots, login, confirmed actions).

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { hashPassword } from "../../agent/http/password.ts";
import type { DeviceDetail } from "../../agent/http/types.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { ARTIFACTS, CHROMIUM_ARGS, CHROMIUM_PATH } from "./chromium.ts";

// The page's globals, as far as the callbacks run in the page touch them (no DOM lib in tsconfig).
export interface Box {
  left: number;
  right: number;
  width: number;
}
export interface El {
  textContent: string | null;
  scrollWidth: number;
  clientWidth: number;
  id: string;
  tagName: string;
  className: string;
  getBoundingClientRect(): Box;
}
export interface PageDocument {
  getElementById(id: string): El | null;
  querySelector(selector: string): El | null;
  querySelectorAll(selector: string): ArrayLike<El> & Iterable<El>;
  documentElement: { scrollWidth: number; clientWidth: number };
}
declare const document: PageDocument;
declare const window: { innerWidth: number };

export { ARTIFACTS, CHROMIUM_ARGS };
export const PASSWORD = "field-tech-pw";
export const HEIGHT = 800;

export const DOWN = "m-127-167-0-1";
export const HOT = "m-127-167-0-2";
export const POOL = "m-127-167-0-3";
export const DEAD = "m-127-167-0-4";
export const READ_ONLY = "m-127-167-0-5";
export const TECH = "m-127-167-0-6";
export const SPARE = "m-127-167-0-7";

export let browser: Browser;
export let site: Site;
export let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
export let base: string;

/** Starts Chromium, the simulator and the Site, and waits for the five problems. */
export async function startFieldSite() {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  const dir = mkdtempSync(join(tmpdir(), "wk-field-"));
  const file = join(dir, "site.yaml");
  const hash = await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 });
  writeFileSync(
    file,
    `site: { id: field, timezone: UTC, contractLimitW: 1MW }
http:
  operators:
    - { name: tech, passwordHash: "${hash}" }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { host: 127.167.0.1, dialect: luxos, location: container-A/rack-1/slot-1 }
  - { host: 127.167.0.2, dialect: luxos, location: container-A/rack-1/slot-2 }
  - { host: 127.167.0.3, dialect: luxos, location: container-A/rack-2/slot-1, pools: { allow: ["stratum+tcp://pool.example.net:3333"] } }
  - { host: 127.167.0.4, dialect: luxos, location: container-B-north-aisle-behind-the-transformer-bay/rack-12/slot-7 }
  - { host: 127.167.0.5, dialect: cgminer, location: container-B/rack-1/slot-2 }
  - { hosts: 127.167.0.6-127.167.0.8, dialect: luxos, location: container-C }
models:
  - { name: Antminer S19j Pro, nominalW: 3068, nominalThs: 104, powerLimitW: { min: 2000, max: 3400 }, sleepW: 30, wakeUpS: 300, hotChipC: 82 }
control: { tickS: 1, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0 }
sim: { seed: 21, noiseW: 10, auxW: 5kW, models: [antminer-s19j-pro] }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimFromConfig(config, silentLogger());
  sim.model.setExtraTemp(HOT, 20);
  sim.model.setChainDead(DEAD, 1, true);
  site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 500,
    meterPollMs: 250,
    deviceHistoryEveryMs: 1000,
  });
  await site.start();
  base = `http://127.0.0.1:${site.httpAddress()!.port}`;
  await waitFor("all miners hashing", () => site.snapshot().counts.hashing === 8, 20_000);
  await sim.setFaulted(DOWN, true);
  await waitFor(
    "the five problems",
    async () => {
      const j = (await (await fetch(`${base}/api/problems`)).json()) as { problems: Array<{ id: string }> };
      return j.problems.length === 5;
    },
    20_000,
  );
}
export async function stopFieldSite() {
  await browser?.close();
  await site?.stop();
  await sim?.stop();
}

export async function openPage(width: number): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: HEIGHT } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto(`${base}/`);
  await page.waitForSelector("body[data-ready='1']", { timeout: 20_000 });
  return { page, errors };
}

/** Nothing wider than the viewport: no horizontal scroll on the page or in the dialog, no element past its edge. */
export async function assertFits(page: Page, width: number, what: string) {
  const r = await page.evaluate(() => {
    const doc = document.documentElement;
    const dlg = document.getElementById("detail")!;
    const vw = window.innerWidth;
    const wide: string[] = [];
    for (const el of document.querySelectorAll("#detail *")) {
      const b = el.getBoundingClientRect();
      if (b.width === 0) continue;
      if (b.right > vw + 0.5 || b.left < -0.5 || b.width > vw + 0.5)
        wide.push(
          `${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(b.left)}–${Math.round(b.right)}`,
        );
    }
    return {
      page: [doc.scrollWidth, doc.clientWidth],
      dialog: [dlg.scrollWidth, dlg.clientWidth],
      wide,
    };
  });
  assert.ok(
    r.page[0]! <= r.page[1]!,
    `${what} at ${width}: page scrollWidth ${r.page[0]} > clientWidth ${r.page[1]}`,
  );
  assert.ok(
    r.dialog[0]! <= r.dialog[1]!,
    `${what} at ${width}: dialog scrollWidth ${r.dialog[0]} > clientWidth ${r.dialog[1]}`,
  );
  assert.deepEqual(r.wide, [], `${what} at ${width}: elements past the viewport`);
}

/** The whole detail dialog in one picture: a viewport tall enough for all of it, then back. */
export async function shotDialog(page: Page, width: number, name: string) {
  await page.setViewportSize({ width, height: 3000 });
  await page.locator("#detail").screenshot({ path: join(ARTIFACTS, name) });
  await page.setViewportSize({ width, height: HEIGHT });
}

export async function detailOf(id: string): Promise<DeviceDetail> {
  return (await (await fetch(`${base}/api/devices/${id}`)).json()) as DeviceDetail;
}

export async function login(page: Page) {
  await page.click("#login-open");
  await page.fill('#login-form input[name="name"]', "tech");
  await page.fill('#login-form input[name="password"]', PASSWORD);
  await page.click("#login-submit");
  await page.waitForSelector("#logout", { state: "visible" });
}

/** Clicks an action, checks the confirmation, confirms, waits for the answer; returns result and audit lines. */
export async function confirmAction(page: Page, action: string, fill?: (p: Page) => Promise<void>) {
  await page.click(`#d-buttons button[data-action="${action}"]`);
  await page.waitForSelector("#d-confirm:not([hidden])");
  const question = (await page.textContent("#d-confirm-text")) ?? "";
  if (fill) await fill(page);
  await page.click("#d-confirm-yes");
  await page.waitForSelector("#d-result[data-outcome]", { timeout: 60_000 });
  const result = (await page.textContent("#d-result")) ?? "";
  const audit = (await page.textContent("#d-audit")) ?? "";
  await page.evaluate(() => {
    const r = document.getElementById("d-result") as unknown as { removeAttribute(n: string): void };
    r.removeAttribute("data-outcome");
  });
  return { question, result, audit };
}
