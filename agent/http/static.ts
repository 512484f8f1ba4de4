// The page's own files, served by the agent (a site LAN often has no
// internet, so no CDN): agent/http/public/ resolved from this module's URL so
// the compiled dist/ tree finds its copy too, and uPlot from its package. All
// are read once at start (a few hundred KiB) and served from memory with an
// ETag, so a phone on a weak link revalidates instead of downloading again.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PUBLIC_DIR = fileURLToPath(new URL("./public/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
};

export interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

function entry(path: string): StaticFile {
  const body = readFileSync(path);
  return {
    body,
    type: TYPES[extname(path)] ?? "application/octet-stream",
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
  };
}

/** URL path → file, for the public folder (index.html also at "/") and the vendored uPlot. */
export function loadStaticFiles(dir: string = PUBLIC_DIR): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    files.set(`/${name}`, entry(path));
  }
  const index = files.get("/index.html");
  if (index) files.set("/", index);
  const require = createRequire(import.meta.url);
  for (const name of ["uPlot.iife.min.js", "uPlot.min.css"]) {
    files.set(`/vendor/${name}`, entry(require.resolve(`uplot/dist/${name}`)));
  }
  return files;
}
