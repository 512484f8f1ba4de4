import { mkdirSync } from "node:fs";
import { after, before } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { ARTIFACTS, CHROMIUM_ARGS, CHROMIUM_PATH } from "./chromium.ts";

export interface El {
  textContent: string | null;
  mark?: number;
}
export interface Canvas {
  width: number;
  height: number;
  getContext(kind: "2d"): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  };
}
export interface Doc {
  getElementById(id: string): El | null;
  querySelector(selector: string): unknown;
  querySelectorAll(selector: string): ArrayLike<El> & Iterable<El>;
  documentElement: { scrollWidth: number };
  body: { dataset: Record<string, string | undefined>; classList: { contains(c: string): boolean } };
}
export type Win = { innerWidth: number; wattkeeper: { refreshDevices(): Promise<void> } };

export { ARTIFACTS, CHROMIUM_ARGS };
export const PASSWORD = "browser-test-pw";

let browser: Browser;
/** Chromium for this file's tests: launched before them, closed after. */
export function useBrowser(): void {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });
  after(() => browser?.close());
}

export async function openPage(url: string, width: number): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto(url);
  await page.waitForSelector("body[data-ready='1']", { timeout: 20_000 });
  return { page, errors };
}
