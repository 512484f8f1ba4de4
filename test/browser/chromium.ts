// The headless Chromium every browser test launches: where it is, its flags (no
// sandbox in CI containers, nothing that phones home) and where screenshots go.
export const CHROMIUM_PATH = "/usr/bin/chromium";
export const ARTIFACTS = new URL("../artifacts/", import.meta.url).pathname;
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
