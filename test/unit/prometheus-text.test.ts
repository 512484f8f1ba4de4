// The scrape's own gauges, written straight into the text exposition format:
// label values escaped (backslash, newline, quote), HELP text escaped, a
// series set twice kept once with its last value, an unknown value absent, the
// shared registry's metrics before them; and, where Debian's promtool is
// installed, the whole text passes `promtool check metrics`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { SiteMetrics } from "../../agent/http/prometheus.ts";
import { standInSite } from "../helpers/stand-in-site.ts";

const PROMTOOL = "/usr/bin/promtool";

function siteMetricsOf(budgetReason: string, minerCount = 2): SiteMetrics {
  const site = standInSite(
    {
      devicesView: () => ({ miners: [], meters: [], gpuNodes: [] }),
      leanDevicesView: () => ({
        meters: [],
        gpuNodes: [],
        miners: [
          { id: "m-1", state: "hashing" as const, powerW: 3100, hashrateThs: 100 },
          { id: "m-2", state: "sleeping" as const, powerW: null, hashrateThs: 0 },
          ...Array.from({ length: minerCount - 2 }, (_, i) => ({
            id: `m-${i + 3}`,
            state: "hashing" as const,
            powerW: 3000 + i,
            hashrateThs: 100,
          })),
        ].map((m) => ({
          ...m,
          host: "127.0.0.1",
          port: 4028,
          excluded: false,
          dialect: "luxos",
          configuredDialect: "luxos" as const,
          capabilities: ["sleep"],
          withdrawn: [],
          poolPolicy: null,
          firmwareChange: null,
          health: null,
        })),
      }),
    },
    { powerW: 3200, budgetW: 5000, budgetReason },
  );
  return new SiteMetrics(site, () => ({ sseClients: 0 }));
}

const scrapeOf = (budgetReason: string): Promise<string> => siteMetricsOf(budgetReason).scrape();

test("label values and HELP text escaped; a series once; an unknown value absent; promtool accepts it", async () => {
  const text = await scrapeOf('lease "night" from C:\\ops\nsecond line');
  assert.ok(
    text.includes(
      'wattkeeper_budget_info{source="contract",reason="lease \\"night\\" from C:\\\\ops\\nsecond line"} 1\n',
    ),
    text.split("\n").find((l) => l.startsWith("wattkeeper_budget_info")),
  );
  assert.ok(text.includes('wattkeeper_device_power_watts{id="m-1",class="mining"} 3100\n'));
  assert.ok(!text.includes('id="m-2"'), "a miner without a power reading has no power series");
  assert.ok(text.includes("\nwattkeeper_site_hashrate_ths 100\n"));
  assert.match(
    text,
    /^# HELP wattkeeper_devices Devices by class and state\n# TYPE wattkeeper_devices gauge$/m,
  );
  assert.ok(text.includes('wattkeeper_devices{class="mining",state="hashing"} 1\n'));
  assert.ok(text.includes('wattkeeper_devices{class="mining",state="faulted"} 0\n'));
  // every series once
  const series = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  const names = series.map((l) => l.slice(0, l.lastIndexOf(" ")));
  assert.equal(new Set(names).size, names.length, "a series twice");
  assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"));
  // the shared registry's metrics come first, the scrape's gauges after a blank line
  assert.ok(text.indexOf("wattkeeper_site_power_watts") > 0);

  await promtoolAccepts(text);
});

test("a large scrape comes as UTF-8 in buffers of 16 KiB, outside V8's heap, that join into one valid text", async () => {
  // the status of 5,000 miners was one string (two-byte once any HELP character was
  // outside Latin-1) and one buffer, each megabytes of RSS at every scrape; then strings of
  // 16 KiB, each a rope of its lines that lived long enough to be copied into the old generation
  const pieces = await siteMetricsOf("contract limit", 3000).scrapePieces();
  assert.ok(pieces.length > 5, `${pieces.length} pieces`);
  for (const piece of pieces) {
    assert.ok(Buffer.isBuffer(piece));
    assert.ok(piece.length > 0 && piece.length <= 48 * 1024, `a piece of ${piece.length} bytes`);
    // no character is cut between two pieces: each decodes on its own
    assert.ok(!piece.toString("utf8").includes("\uFFFD"));
  }
  const text = Buffer.concat(pieces).toString("utf8");
  const power = text.split("\n").filter((l) => l.startsWith("wattkeeper_device_power_watts{"));
  assert.equal(power.length, 2999, "every miner with a power reading, once");
  assert.equal(new Set(power).size, power.length);
  assert.ok(power.includes('wattkeeper_device_power_watts{id="m-3000",class="mining"} 5997'));
  // each family's HELP after a blank line, the text's end one newline
  assert.doesNotMatch(text, /[^\n]\n# HELP|\n\n\n/);
  assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"));
  await promtoolAccepts(text);
});

async function promtoolAccepts(text: string): Promise<void> {
  if (!existsSync(PROMTOOL)) return; // the peers suite needs it; a bare dev machine may not have it
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = execFile(PROMTOOL, ["check", "metrics"], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
    child.stdin!.end(text);
  });
  // promtool's lint may warn about names (exit 3, "lint"); a parse error is exit 1
  assert.notEqual(code, 1, out);
  assert.doesNotMatch(out, /error while linting|parse/i, out);
}
