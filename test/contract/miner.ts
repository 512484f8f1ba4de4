// The miner contract: one capability-gated set of checks every dialect meets,
// run against its simulator (which speaks the firmware's own wire format) and,
// for recorded fixture sets, against a replay of real replies. What a dialect
// declares decides which checks run: a dialect without `setPowerLimit` is not
// asked for one, but it is asked to refuse one without a byte on the wire.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadModelFiles } from "../../config/load.ts";
import type { DialectName, MinerEndpoint } from "../../drivers/cgminer/driver.ts";
import { createMiner, type Miner } from "../../drivers/cgminer/miner.ts";
import { ModelCatalog } from "../../drivers/cgminer/models.ts";
import { MINER_CAPABILITIES, type MinerCapability, type MinerReading } from "../../drivers/types.ts";
import type { PowerModel } from "../../sim/power-model.ts";
import { type SimMinerSpec, type SimSite, type SimSiteOptions, startSimSite } from "../../sim/site.ts";
import { waitFor } from "../helpers/ports.ts";

/** One dialect as the contract meets it: how its simulator is started and how the agent reaches it. */
export interface ContractTarget {
  dialect: DialectName;
  /** What the sim serves for each miner beyond id/host/port/dialect (model, firmware quirks…). */
  sim?: Partial<Omit<SimMinerSpec, "id" | "host" | "port" | "dialect">>;
  /** Site-wide sim options (the stock Antminer web CGI). */
  site?: Partial<Pick<SimSiteOptions, "antminerWeb">>;
  /** The API port the agent is configured with (default 4028). */
  port?: number;
  /** What else the agent is configured with: credentials, webPort, grpcPort. */
  endpoint?: Partial<Omit<MinerEndpoint, "host" | "port">>;
  /** What the dialect must declare, with those credentials. */
  capabilities: readonly MinerCapability[];
  /** A power limit inside the simulated model's range (setPowerLimit only). */
  limitW?: number;
  /** The firmware string a reading names, as a pattern. */
  firmware: RegExp;
  /**
   * locate only: how the firmware ends a locate ("asked": after the time asked; a number: its
   * own fixed time; null, the default: when told) and whether it reports its LED state
   * (default true). A firmware that does not may state it in its reply (a toggle's answer).
   */
  locate?: { endsAfter: "asked" | number | null; readBack: boolean };
  /**
   * Poll tiers: the dialect reads the essentials alone between detail reads (DialectContext
   * `detail`); one that does not reads everything every time, which the tiers allow too.
   */
  splitsDetail?: boolean;
}

const CONFIRM = { confirmTimeoutMs: 4000, pollMs: 100 };
const EXCHANGE = { connectTimeoutMs: 1000, readTimeoutMs: 2000 };
/** Miners per dialect: each write check gets one of its own, so they do not depend on each other. */
const MINERS = 7;
/** The miner the poll-tier check reads (no write check touches it). */
const TIER_MINER = 6;

const close = (a: number, b: number, frac: number) => Math.abs(a - b) <= Math.abs(b) * frac;

/**
 * Registers the contract's tests for one dialect. `block` is the test file's loopback block
 * (127.X): miner k of this dialect listens on 127.X.`index`.k.
 */
export function minerContract(t: ContractTarget, block: number, index: number): void {
  const hosts = Array.from({ length: MINERS }, (_, k) => `127.${block}.${index}.${k + 1}`);
  const port = t.port ?? 4028;
  const ids = hosts.map((_, k) => `${t.dialect}-${k}`);
  let site: SimSite;
  let model: PowerModel;
  // the shipped models, as the agent has them: the nameplate estimate and the range checks
  let models: ModelCatalog;
  const miners: Miner[] = [];
  const minerAt = (k: number, dialect: DialectName | "auto" = t.dialect) => {
    const m = createMiner({ host: hosts[k]!, port, models, ...t.endpoint }, dialect, {
      confirm: CONFIRM,
      exchange: EXCHANGE,
    });
    miners.push(m);
    return m;
  };

  describe(`miner contract: ${t.dialect}`, () => {
    before(async () => {
      models = new ModelCatalog(await loadModelFiles([]));
      site = await startSimSite({
        seed: block * 100 + index,
        noiseW: 0,
        miners: hosts.map((host, k) => ({ ...t.sim, id: ids[k]!, host, port, dialect: t.dialect })),
        meters: [],
        ...t.site,
      });
      model = site.model;
    });
    after(async () => {
      await Promise.all(miners.map((m) => m.close()));
      await site?.stop();
    });

    test(`declares ${t.capabilities.join(", ") || "nothing"} (confirmed at first contact)`, async () => {
      const m = minerAt(0);
      await m.read();
      await m.confirmed();
      assert.deepEqual(
        [...m.capabilities].sort(),
        [...t.capabilities].sort(),
        `withdrawn: ${m.withdrawn.map((w) => `${w.capability} (${w.reason})`).join("; ") || "none"}`,
      );
    });

    test("reads a hashing miner: hashrate and power as the unit says, firmware and model named", async () => {
      const r = await minerAt(0).read();
      assert.equal(r.state, "hashing", r.reason ?? "");
      const ths = model.hashrateThs(ids[0]!);
      assert.ok(r.hashrateThs !== null && close(r.hashrateThs, ths, 0.1), `${r.hashrateThs} vs ${ths} TH/s`);
      const w = model.powerW(ids[0]!);
      assert.ok(
        r.powerW !== null && close(r.powerW, w, r.powerEstimated ? 0.25 : 0.05),
        `${r.powerW} vs ${w} W`,
      );
      assert.match(r.firmware ?? "", t.firmware);
      assert.ok(r.model, "model named");
      assert.ok(r.uptimeS === null || r.uptimeS >= 0);
    });

    test(`poll tiers: ${t.splitsDetail ? "essentials fresh between detail reads, the detail carried with its time" : "every read a full one"}; a change of state read in full`, async () => {
      let nowMs = Date.now();
      const m = createMiner({ host: hosts[TIER_MINER]!, port, models, ...t.endpoint }, t.dialect, {
        exchange: EXCHANGE,
        detailEveryMs: 60_000,
        random: () => 1,
        now: () => nowMs,
      });
      miners.push(m);
      const id = ids[TIER_MINER]!;
      const detail = (r: MinerReading) => ({
        boardTempsC: r.boardTempsC,
        chipTempMaxC: r.chipTempMaxC,
        fanRpm: r.fanRpm,
        boards: r.boards,
        pools: r.pools,
      });
      const full = await m.read();
      assert.equal(full.state, "hashing", full.reason ?? "");
      assert.equal(full.detailAt, undefined, "the first read is a full one");
      nowMs += 5000;
      // hotter from now on: a summary-only read still shows the last detail read's temperatures
      site.model.setExtraTemp(id, 25);
      const light = await m.read();
      assert.equal(light.state, "hashing", light.reason ?? "");
      if (t.splitsDetail) {
        assert.equal(light.detailAt, full.at, "detail carried, with the time it was read");
        assert.deepEqual(detail(light), detail(full));
      } else assert.equal(light.detailAt, undefined);
      const ths = model.hashrateThs(id);
      assert.ok(
        light.hashrateThs !== null && close(light.hashrateThs, ths, 0.1),
        `${light.hashrateThs} vs ${ths}`,
      );
      const w = model.powerW(id);
      assert.ok(
        light.powerW !== null && close(light.powerW, w, light.powerEstimated ? 0.25 : 0.05),
        `${light.powerW} vs ${w} W`,
      );
      for (const k of [
        "firmware",
        "model",
        "powerLimitW",
        "minPowerLimitW",
        "maxPowerLimitW",
        "powerLimitStepsW",
      ] as const)
        assert.deepEqual(light[k], full[k], k);
      // the period is up: a full read again, with the new temperatures where the firmware reports any
      nowMs += 60_000;
      const again = await m.read();
      assert.equal(again.detailAt, undefined);
      if (full.chipTempMaxC !== null || full.boardTempsC.length > 0)
        assert.notDeepEqual(detail(again), detail(full), "the detail read anew");
      site.model.setExtraTemp(id, 0);
      // asleep: the summary shows it first, and a change of state is judged on a full read
      nowMs += 5000;
      site.model.sleep(id);
      const slept = await m.read();
      assert.notEqual(slept.state, "hashing");
      assert.equal(slept.detailAt, undefined, "a change of state is read in full");
      site.model.wake(id);
    });

    test(`dialect auto detects ${t.dialect} without writing anything`, async () => {
      const before = model.state(ids[1]!);
      const m = minerAt(1, "auto");
      const r = await m.read();
      assert.equal(m.dialect, t.dialect, r.reason ?? "");
      assert.equal(model.state(ids[1]!), before);
    });

    test("a host where nothing listens reads unreachable within its deadline, with a coded reason", async () => {
      const m = createMiner({ host: `127.${block}.${index}.250`, port, ...t.endpoint }, t.dialect, {
        exchange: EXCHANGE,
      });
      miners.push(m);
      const started = Date.now();
      const r: MinerReading = await m.read();
      assert.equal(r.state, "unreachable", r.reason ?? "");
      assert.match(r.reason ?? "", /^WK_[A-Z0-9_]+: /);
      assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
    });

    const lacking = MINER_CAPABILITIES.find((c) => !t.capabilities.includes(c));
    if (lacking) {
      test(`refuses ${lacking} (not declared) without sending anything`, async () => {
        const m = minerAt(2);
        await m.read();
        await m.confirmed();
        const out = await m.write(lacking, lacking === "setPowerLimit" ? 2000 : undefined);
        assert.equal(out.ok, false);
        assert.equal(out.attempts, 0);
        assert.ok(out.reason, "a reason");
      });
    }

    if (t.capabilities.includes("sleep")) {
      test("sleep: confirmed by the miner's power falling", async () => {
        const m = minerAt(3);
        const before = model.powerW(ids[3]!);
        const out = await m.write("sleep");
        assert.equal(out.ok, true, out.reason ?? "");
        assert.equal(out.after?.state, "sleeping");
        assert.equal(model.state(ids[3]!), "sleeping");
        assert.ok(model.powerW(ids[3]!) < before * 0.5, `${model.powerW(ids[3]!)} W asleep`);
        if (out.before?.powerW != null && out.after?.powerW != null)
          assert.ok(out.after.powerW < out.before.powerW, "the read-back shows the fall");
      });
    }
    if (t.capabilities.includes("wake")) {
      test("wake: a sleeping miner leaves sleep", async () => {
        model.sleep(ids[4]!);
        const m = minerAt(4);
        const out = await m.write("wake");
        assert.equal(out.ok, true, out.reason ?? "");
        assert.ok(["hashing", "starting"].includes(out.after?.state ?? ""), out.after?.state);
        assert.notEqual(model.state(ids[4]!), "sleeping");
      });
    }
    if (t.capabilities.includes("setPowerLimit")) {
      test("setPowerLimit inside the model's range: read back", async () => {
        assert.ok(t.limitW, "the target gives a limit in range");
        const m = minerAt(5);
        const out = await m.write("setPowerLimit", t.limitW);
        assert.equal(out.ok, true, out.reason ?? "");
        const r = out.after!;
        assert.ok(
          (r.powerLimitW !== null && r.powerLimitW <= t.limitW! * 1.02) ||
            (r.powerW !== null && r.powerW <= t.limitW! * 1.05),
          `limit ${r.powerLimitW} W, power ${r.powerW} W for ${t.limitW} W`,
        );
      });
    }
    if (t.capabilities.includes("locate")) {
      const how = t.locate ?? { endsAfter: null, readBack: true };
      const ledOf = (k: number) => model.leds.isOn(ids[k]!);
      test("locate: on → the simulator's LED is on; off → off again, each as confirmed as the firmware allows", async () => {
        const m = minerAt(1);
        const on = await m.write("locate", 120);
        assert.equal(on.ok, true, on.reason ?? "");
        assert.equal(ledOf(1), true, "the LED is on");
        assert.equal(model.state(ids[1]!), "hashing", "locating does not stop the miner");
        assert.equal(on.locate?.on, true);
        const confirmedBy = how.readBack ? "read-back" : t.dialect === "espminer" ? "reply" : null;
        assert.equal(on.locate?.confirmedBy, confirmedBy, on.reason ?? "");
        if (confirmedBy === null) assert.match(on.reason ?? "", /NOT confirmed/);
        const ends = how.endsAfter === "asked" ? 120 : how.endsAfter;
        assert.equal(on.locate?.firmwareEndsAfterS, ends);
        // asked again while on (a toggle firmware must not be toggled off by it)
        const again = await m.write("locate", 120);
        assert.equal(again.ok, true, again.reason ?? "");
        assert.equal(ledOf(1), true, "still on");
        const off = await m.write("locate", 0);
        assert.equal(off.ok, true, off.reason ?? "");
        assert.equal(off.locate?.on, false);
        assert.equal(ledOf(1), false, "the LED is off again");
        const offAgain = await m.write("locate", 0);
        assert.equal(offAgain.ok, true, offAgain.reason ?? "");
        assert.equal(ledOf(1), false, "still off");
      });
      if (how.endsAfter === "asked") {
        test("locate ends by itself after the time asked (the firmware times it)", async () => {
          const m = minerAt(1);
          const askedAt = Date.now();
          const on = await m.write("locate", 1);
          assert.equal(on.ok, true, on.reason ?? "");
          assert.equal(ledOf(1), true);
          await waitFor("the LED off by itself", () => !ledOf(1), 5_000, 20);
          const litMs = Date.now() - askedAt;
          assert.ok(litMs >= 900, `off after ${litMs} ms, not the 1 s asked`);
        });
      }
    }
    if (t.capabilities.includes("reboot")) {
      test("reboot: the unit comes back with a fresh uptime", async () => {
        const m = minerAt(2);
        const out = await m.write("reboot");
        assert.equal(out.ok, true, out.reason ?? "");
        assert.ok((out.after?.uptimeS ?? 1e9) < (out.before?.uptimeS ?? 0));
      });
    }
  });
}
