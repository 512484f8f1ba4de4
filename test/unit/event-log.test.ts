// The event log's commits: an event has its id at once, is committed with the
// rest of its turn, is seen by every read of the log before that, keeps its id
// order across a reopen (pruned ids are never given again), and a row SQLite
// refuses is dropped alone.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { EventLog, type NewSiteEvent } from "../../agent/store/events.ts";

const dbPath = () => join(mkdtempSync(join(tmpdir(), "wk-events-")), "state.db");
const shed = (i: number): NewSiteEvent => ({
  at: 1000 + i,
  kind: "shed",
  severity: "info",
  deviceId: `m-${i}`,
  message: `slept m-${i}`,
  data: { i },
});

test("events get their ids at once and are committed together at the end of the turn", async () => {
  const path = dbPath();
  const log = new EventLog(path);
  log.open();
  const other = new Database(path, { readonly: true });
  const stored = () =>
    (other.prepare("SELECT id FROM events ORDER BY id").all() as { id: number }[]).map((r) => r.id);
  const ids = [0, 1, 2].map((i) => log.append(shed(i)).id);
  assert.deepEqual(ids, [1, 2, 3]);
  assert.deepEqual(stored(), [], "nothing committed within the turn");
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(stored(), [1, 2, 3]);
  // a read of the log commits what is queued first
  log.append(shed(3));
  assert.deepEqual(
    log.after(2).map((e) => [e.id, e.deviceId, e.data]),
    [
      [3, "m-2", { i: 2 }],
      [4, "m-3", { i: 3 }],
    ],
  );
  assert.equal(log.usage.rows, 4);
  // close commits the rest; the ids go on after a reopen, past pruned ones too
  log.append(shed(4));
  log.close();
  assert.deepEqual(stored(), [1, 2, 3, 4, 5]);
  const again = new EventLog(path);
  again.open();
  assert.equal(again.prune(Number.MAX_SAFE_INTEGER, 1000), 5);
  assert.equal(again.append(shed(5)).id, 6);
  again.close();
  other.close();
});

test("a row SQLite refuses is dropped alone and reported once", async () => {
  const path = dbPath();
  const dropped: Array<[string, number]> = [];
  const log = new EventLog(path, { onDropped: (err, count) => dropped.push([String(err), count]) });
  log.open();
  log.append(shed(0));
  // NOT NULL message: the batch fails, the others are stored one by one
  log.append({ ...shed(1), message: null as unknown as string });
  log.append(shed(2));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    log.recent(10).map((e) => e.deviceId),
    ["m-2", "m-0"],
  );
  assert.equal(dropped.length, 1);
  assert.match(dropped[0]![0], /NOT NULL/);
  assert.equal(dropped[0]![1], 1);
  assert.equal(log.usage.rows, 2);
  log.close();
});
