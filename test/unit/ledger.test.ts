// The curtailment ledger: written before the command, interrupted rows on
// restart, agent-slept miners survive a reopen, failure back-off, the view.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { INTERRUPTED_REASON, Ledger, type LedgerAction } from "../../agent/store/ledger.ts";

const T0 = 1_700_000_000_000;
const dir = mkdtempSync(join(tmpdir(), "wk-ledger-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const dbPath = () => join(dir, `ledger-${n++}.db`);

function sleepAction(id: string, powerW: number, at = T0): LedgerAction {
  return {
    deviceId: id,
    kind: "sleep",
    expectedDeltaW: -powerW,
    reason: "over budget",
    at,
    beforeW: powerW,
    efficiencyJPerTh: 30,
  };
}

describe("Ledger", () => {
  test("a shed confirmed after the meter reading still counts as pending, at most 10 s", () => {
    const l = new Ledger(":memory:");
    l.open(T0);
    const id = l.begin(sleepAction("m1", 3000, T0));
    l.finish(id, { ok: true, reason: "confirmed" }, T0 + 400);
    // the reading was taken before the confirmation: the drop is not in P yet
    assert.equal(l.view(T0 + 500, T0 + 300).devices.get("m1")?.pendingShed?.expectedW, 3000);
    // a reading taken after it: P has the drop, nothing pending
    assert.equal(l.view(T0 + 900, T0 + 800).devices.get("m1")?.pendingShed ?? null, null);
    // a meter stuck on an old reading does not hold the action pending for ever
    assert.equal(l.view(T0 + 20_000, T0 + 300).devices.get("m1")?.pendingShed ?? null, null);
    // without a reading time (an estimate): confirmed means settled
    assert.equal(l.view(T0 + 500).devices.get("m1")?.pendingShed ?? null, null);
    l.close();
  });

  test("beginMany writes a fleet's actions in one commit, all or none", () => {
    const path = dbPath();
    const ledger = new Ledger(path);
    ledger.open(T0);
    const ids = ledger.beginMany([sleepAction("m1", 3000), sleepAction("m2", 3100)]);
    assert.equal(ids.length, 2);
    const other = new Database(path, { readonly: true });
    const rows = other.prepare("SELECT device_id, state FROM actions ORDER BY id").all();
    assert.deepEqual(rows, [
      { device_id: "m1", state: "pending" },
      { device_id: "m2", state: "pending" },
    ]);
    // one bad row (NOT NULL kind) → nothing of the batch is written
    const bad = { ...sleepAction("m4", 1), kind: null } as unknown as LedgerAction;
    assert.throws(() => ledger.beginMany([sleepAction("m3", 2900), bad]));
    assert.equal((other.prepare("SELECT count(*) AS n FROM actions").get() as { n: number }).n, 2);
    other.close();
    ledger.close();
  });

  test("begin commits the pending row before the command is sent", () => {
    const path = dbPath();
    const ledger = new Ledger(path);
    ledger.open(T0);
    const id = ledger.begin(sleepAction("m1", 3000));
    // a second connection (another process after a crash) already sees it
    const other = new Database(path, { readonly: true });
    const row = other.prepare("SELECT state, device_id, kind FROM actions WHERE id = ?").get(id);
    other.close();
    assert.deepEqual(row, { state: "pending", device_id: "m1", kind: "sleep" });
    assert.deepEqual(ledger.view(T0).devices.get("m1")?.pendingShed, { expectedW: 3000, issuedAt: T0 });

    ledger.finish(id, { ok: true, reason: "power fell" }, T0 + 1000);
    const e = ledger.get(id)!;
    assert.equal(e.state, "done");
    assert.equal(e.finishedAt, T0 + 1000);
    const d = ledger.view(T0 + 1000).devices.get("m1")!;
    assert.equal(d.pendingShed ?? null, null);
    assert.equal(d.sleptAt, T0 + 1000);
    assert.equal(d.sleptPowerW, 3000);
    assert.equal(d.efficiencyJPerTh, 30);
    ledger.close();
  });

  test("a turn's finishes are committed together; any read of the ledger sees them first", async () => {
    const path = dbPath();
    const errors: unknown[] = [];
    const ledger = new Ledger(path, { onFlushError: (err) => errors.push(err) });
    ledger.open(T0);
    const ids = ledger.beginMany([sleepAction("m1", 3000), sleepAction("m2", 3100), sleepAction("m3", 2900)]);
    const other = new Database(path, { readonly: true });
    const states = () =>
      (other.prepare("SELECT state FROM actions ORDER BY id").all() as { state: string }[]).map(
        (r) => r.state,
      );
    ledger.finish(ids[0]!, { ok: true, reason: "power fell" }, T0 + 1000);
    ledger.finish(ids[1]!, { ok: false, reason: "not confirmed" }, T0 + 1000);
    // not committed within the turn: another connection (a crash now) still sees them pending
    assert.deepEqual(states(), ["pending", "pending", "pending"]);
    // this ledger's own reads commit them first
    assert.equal(ledger.get(ids[0]!)?.state, "done");
    assert.deepEqual(states(), ["done", "failed", "pending"]);
    // the rest of a turn goes at its end, unknown ids reported without losing the others
    ledger.finish(ids[2]!, { ok: true, reason: "power fell" }, T0 + 2000);
    ledger.finish(9999, { ok: true, reason: "power fell" }, T0 + 2000);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(states(), ["done", "failed", "done"]);
    assert.match(String(errors[0]), /no ledger action 9999/);
    const view = ledger.view(T0 + 2000);
    assert.equal(view.devices.get("m3")?.sleptAt, T0 + 2000);
    assert.ok((view.devices.get("m2")?.failedUntil ?? 0) > T0 + 1000, "the failure backs m2 off");
    // a finish queued at close is committed by it
    const [id4] = ledger.beginMany([sleepAction("m4", 3000)]);
    ledger.finish(id4!, { ok: true, reason: "power fell" }, T0 + 3000);
    ledger.close();
    assert.deepEqual(states(), ["done", "failed", "done", "done"]);
    other.close();
  });

  test("a batch of finishes that cannot be committed is reported; the rows stay pending and reads go on", () => {
    const path = dbPath();
    const errors: unknown[] = [];
    const ledger = new Ledger(path, { onFlushError: (err) => errors.push(err) });
    ledger.open(T0);
    const [id] = ledger.beginMany([sleepAction("m1", 3000)]);
    // the file refuses the update (as a full disk would refuse the commit)
    const other = new Database(path);
    other.exec(
      "CREATE TRIGGER refuse BEFORE UPDATE ON actions BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    );
    ledger.finish(id!, { ok: true, reason: "power fell" }, T0 + 1000);
    const view = ledger.view(T0 + 1000);
    assert.match(String(errors[0]), /disk says no/);
    assert.equal(view.devices.get("m1")?.pendingShed?.expectedW, 3000, "still counted as pending");
    assert.equal(ledger.get(id!)?.state, "pending");
    assert.equal(errors.length, 1, "dropped, not tried again at every read");
    other.close();
    ledger.close();
  });

  test("open marks rows left pending by a crash as interrupted; the shed is kept as slept", () => {
    const path = dbPath();
    const a = new Ledger(path);
    a.open(T0);
    const id = a.begin(sleepAction("m1", 3000));
    const wakeId = a.begin({
      deviceId: "m2",
      kind: "wake",
      expectedDeltaW: 2500,
      reason: "under budget",
      at: T0,
    });
    a.close(); // crash: never finished

    const b = new Ledger(path);
    b.open(T0 + 5000);
    const e = b.get(id)!;
    assert.equal(e.state, "failed");
    assert.equal(e.outcomeReason, INTERRUPTED_REASON);
    assert.equal(b.get(wakeId)!.outcomeReason, INTERRUPTED_REASON);
    const v = b.view(T0 + 5000);
    // the sleep may have reached the miner: recorded, so it is never stranded
    assert.equal(v.devices.get("m1")?.sleptAt, T0);
    assert.equal(v.devices.get("m1")?.pendingShed ?? null, null);
    // the interrupted wake still counts against the ramp
    assert.deepEqual(v.restores, [{ deviceId: "m2", expectedW: 2500, at: T0, kind: "wake" }]);
    b.close();
  });

  test("sheds of the last 60 s are in the view (rampDownWPerMin counts them); failed ones are not", () => {
    const l = new Ledger(":memory:");
    l.open(T0);
    l.finish(l.begin(sleepAction("m1", 3200, T0)), { ok: true, reason: "ok" }, T0 + 100);
    l.finish(l.begin(sleepAction("m2", 3100, T0 + 10_000)), { ok: false, reason: "refused" }, T0 + 10_100);
    l.begin(sleepAction("m3", 3000, T0 + 20_000)); // pending: issued, counts
    assert.deepEqual(l.view(T0 + 30_000).sheds, [
      { deviceId: "m1", expectedW: 3200, at: T0 },
      { deviceId: "m3", expectedW: 3000, at: T0 + 20_000 },
    ]);
    assert.deepEqual(l.view(T0 + 61_000).sheds, [{ deviceId: "m3", expectedW: 3000, at: T0 + 20_000 }]);
    l.close();
  });

  test("a miner the agent slept stays recorded as slept across a reopen", () => {
    const path = dbPath();
    const a = new Ledger(path);
    a.open(T0);
    a.finish(a.begin(sleepAction("m1", 3200)), { ok: true, reason: "ok" }, T0 + 100);
    a.finish(a.begin(sleepAction("m2", 3100)), { ok: true, reason: "ok" }, T0 + 100);
    a.finish(
      a.begin({ deviceId: "m2", kind: "wake", expectedDeltaW: 3100, reason: "w", at: T0 + 200 }),
      { ok: true, reason: "ok" },
      T0 + 300,
    );
    a.close();

    const b = new Ledger(path);
    b.open(T0 + 3_600_000);
    const v = b.view(T0 + 3_600_000);
    assert.equal(v.devices.get("m1")?.sleptAt, T0 + 100);
    assert.equal(v.devices.get("m1")?.sleptPowerW, 3200);
    assert.equal(v.devices.get("m2")?.sleptAt, null);
    assert.equal(v.devices.get("m2")?.wokeAt, T0 + 300);
    assert.deepEqual(v.restores, []); // older than the restore history
    b.close();
  });

  test("a failure backs the device off, doubling; a success clears it", () => {
    const l = new Ledger(":memory:", { failBackoffMs: 10_000 });
    l.open(T0);
    l.finish(l.begin(sleepAction("m1", 3000)), { ok: false, reason: "timeout" }, T0);
    assert.equal(l.view(T0).devices.get("m1")?.failedUntil, T0 + 10_000);
    assert.equal(l.view(T0).devices.get("m1")?.sleptAt, null);
    l.finish(l.begin(sleepAction("m1", 3000, T0 + 20_000)), { ok: false, reason: "timeout" }, T0 + 20_000);
    assert.equal(l.view(T0 + 20_000).devices.get("m1")?.failedUntil, T0 + 40_000);
    l.finish(l.begin(sleepAction("m1", 3000, T0 + 50_000)), { ok: true, reason: "ok" }, T0 + 50_000);
    assert.equal(l.view(T0 + 50_000).devices.get("m1")?.failedUntil, null);
    assert.equal(l.events(10)[0]?.state, "done");
    assert.equal(l.events(10).length, 3);
    l.close();
  });

  test("power limits and GPU caps keep the value from before the first lowering", () => {
    const l = new Ledger(":memory:");
    l.open(T0);
    const lim = (valueW: number, prior: number) =>
      l.finish(
        l.begin({
          deviceId: "m1",
          kind: "setPowerLimit",
          valueW,
          expectedDeltaW: -500,
          reason: "r",
          at: T0,
          priorLimitW: prior,
        }),
        { ok: true, reason: "ok" },
        T0,
      );
    lim(3000, 3500);
    lim(2500, 3000);
    assert.deepEqual(l.view(T0).devices.get("m1")?.powerLimit, { originalW: 3500, at: T0 });
    const cap = (kind: "capGpu" | "uncapGpu", valueW: number, prior: number | null) =>
      l.finish(
        l.begin({
          deviceId: "n1",
          kind,
          gpuIndex: 1,
          valueW,
          expectedDeltaW: kind === "capGpu" ? -100 : 100,
          reason: "r",
          at: T0,
          priorLimitW: prior,
        }),
        { ok: true, reason: "ok" },
        T0,
      );
    cap("capGpu", 500, 700);
    cap("capGpu", 400, 500);
    assert.deepEqual([...(l.view(T0).devices.get("n1")?.gpuCaps ?? [])], [[1, { originalW: 700, at: T0 }]]);
    cap("uncapGpu", 600, null); // partial
    assert.equal(l.view(T0).devices.get("n1")?.gpuCaps?.size, 1);
    cap("uncapGpu", 700, null);
    assert.equal(l.view(T0).devices.get("n1")?.gpuCaps ?? null, null);
    // uncaps are restores: in the ramp window
    assert.equal(l.view(T0 + 1000).restores.length, 2);
    l.close();
  });

  test("settleMs keeps a confirmed action counted as pending for a while", () => {
    const l = new Ledger(":memory:", { settleMs: 5000 });
    l.open(T0);
    l.finish(l.begin(sleepAction("m1", 3000)), { ok: true, reason: "ok" }, T0 + 1000);
    assert.equal(l.view(T0 + 2000).devices.get("m1")?.pendingShed?.expectedW, 3000);
    assert.equal(l.view(T0 + 7000).devices.get("m1")?.pendingShed ?? null, null);
    l.close();
  });
});
