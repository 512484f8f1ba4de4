// The flood at a low open-file limit (the short version of `npm run flood`):
// the agent, a real `wattkeeper run` child under `prlimit --nofile=512`, meets
// 3,000 half-open connections (more than its whole limit) from 10 addresses,
// 32 live-update streams from one address and 50 refused POSTs a second,
// while a budget step arrives. Every miner stays readable, the shed lands as
// fast as without the flood, a new client loads the page, the agent never
// nears its limit, and the refusals cost the database next to nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runFlood } from "../../bench/flood-run.ts";

test("a flood on HTTP at a low fd limit: miners readable, the shed lands, the page loads, storage bounded", async () => {
  const lines: string[] = [];
  const r = await runFlood({
    minutes: 0.2,
    connections: 3000,
    sources: 10,
    sseStreams: 32,
    sseSources: 1,
    postsPerS: 50,
    miners: 40,
    agentNofile: 512,
    trickleMs: 2000,
    reopenMs: 1000,
    perWorker: 3000,
    sampleS: 2,
    pageEveryS: 3,
    log: (l) => lines.push(l),
  });
  const why = `${JSON.stringify({ ...r, samples: r.samples.slice(-3) }, null, 1)}\n${lines.join("\n")}`;
  assert.equal(r.agentExit, 0, why);
  assert.equal(r.fdLimit, 512, why);
  // 40 miners' share is small: HTTP gets half of the rest
  assert.ok(r.httpLimit! < (512 - r.fdReserved!) / 2 + 1, why);
  assert.ok(r.agentFdsMax < 512 - 64, `the agent held at most ${r.agentFdsMax} fds\n${why}`);
  assert.ok(r.flood.connected > 3000, `the flood reconnected what was closed\n${why}`);
  assert.ok((r.refusedConnections.total ?? 0) + (r.refusedConnections["per-address"] ?? 0) > 1000, why);
  assert.ok(r.samples.length >= 3, why);
  assert.equal(r.minersUnreadable, 0, why);
  assert.ok(r.shedBaselineMs !== null && r.shedFloodMs !== null, why);
  assert.ok(r.shedFloodMs! <= Math.max(3000, 2 * r.shedBaselineMs!), why);
  assert.ok(r.pageLoads.length >= 3 && r.pageLoads.every((p) => p.ok && p.ms < 5000), why);
  assert.ok(r.sse.closedByAgent > 0, why);
  assert.ok(r.posts.sent >= 400, why);
  // every refused POST audited, in a handful of rows
  assert.ok(r.auditRefusals >= r.posts.sent * 0.9, why);
  assert.ok(r.auditRows <= 20, why);
  assert.ok(r.dbGrowthBytes < 256 * 1024, why);
});
