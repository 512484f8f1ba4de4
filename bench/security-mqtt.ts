// `npm run security` cases through the broker: forged, stale, oversized or
// malformed signed commands, replays of a valid one, and Sparkplug B writes
// (NCMD/DCMD) while the export's acceptCommands is off (the default).
import { randomBytes, randomUUID } from "node:crypto";
import { encode as encodeSparkplug } from "../agent/exports/sparkplug/codec.ts";
import { buildEnvelope } from "../agent/mqtt/signing.ts";
import { type Counts, counts, type SecurityCase } from "./security-case.ts";
import { MAX_BYTES, SKEW_S, type Target } from "./security-target.ts";

type Kind = { kind: string; expect: string; make: () => { name: string; payload: string; id: string } };

const lease = (w: number) => ({ watts: w, ttlS: 600, reason: "forged" });
const iso = (offsetS: number) => new Date(Date.now() + offsetS * 1000).toISOString();

function forgedKinds(t: Target): Kind[] {
  /** A signed command as sent: its envelope, serialised. */
  const signed = (name: string, body: unknown, o?: Parameters<Target["sign"]>[2]) => {
    const e = t.sign(name, body, o);
    return { name, payload: JSON.stringify(e), id: e.id };
  };
  return [
    {
      kind: "unsigned",
      expect: "unsigned",
      make: () => {
        const e = t.sign("budget/set", lease(1)) as Record<string, unknown>;
        delete e.sig;
        return { name: "budget/set", payload: JSON.stringify(e), id: e.id as string };
      },
    },
    {
      kind: "unknown key",
      expect: "unknown-key",
      make: () => signed("budget/set", lease(2), { keyName: "nobody" }),
    },
    {
      kind: "wrong key",
      expect: "bad-signature",
      make: () => signed("mode/set", { mode: "hold" }, { key: t.rogue }),
    },
    {
      kind: "tampered body",
      expect: "bad-signature",
      make: () => {
        const e = t.sign("budget/set", lease(900_000));
        return { name: "budget/set", payload: JSON.stringify({ ...e, body: lease(3) }), id: e.id };
      },
    },
    {
      kind: "signed for another site",
      expect: "bad-signature",
      make: () => {
        const e = buildEnvelope(t.opsKey, {
          siteId: "other-site",
          name: "mode/set",
          keyName: "ops",
          body: { mode: "hold" },
        });
        return { name: "mode/set", payload: JSON.stringify(e), id: e.id };
      },
    },
    {
      kind: "stale",
      expect: "stale",
      make: () => signed("budget/set", lease(4), { issuedAt: iso(-SKEW_S - 30) }),
    },
    {
      kind: "from the future",
      expect: "future",
      make: () => signed("budget/set", lease(5), { issuedAt: iso(SKEW_S + 30) }),
    },
    {
      kind: "oversized",
      expect: "oversized",
      make: () => signed("budget/set", { ...lease(6), reason: "x".repeat(MAX_BYTES) }),
    },
    { kind: "unknown command", expect: "unknown-command", make: () => signed("site/self-destruct", {}) },
    {
      kind: "schema-invalid",
      expect: "schema",
      make: () => signed("budget/set", { watts: -5, ttlS: 600, reason: "negative" }),
    },
    {
      kind: "malformed JSON",
      expect: "malformed",
      make: () => {
        const id = randomUUID();
        return { name: "budget/set", payload: `{"id":"${id}","sig":${randomBytes(8).toString("hex")}`, id };
      },
    },
  ];
}

/** Every forged kind `rounds` times, then replays: a valid ping accepted once, refused again. */
export function commandCases(t: Target, rounds: number): SecurityCase[] {
  const { site } = t;
  const cases: SecurityCase[] = forgedKinds(t).map((k) => ({
    item: "MQTT commands",
    name: k.kind,
    run: async () => {
      const c = counts();
      for (let i = 0; i < rounds; i++) {
        const m = k.make();
        const b = { lease: site.budgetLease, mode: site.mode };
        const r = await t.send(m.name, m.payload, m.id);
        c.attempted++;
        if (r && !r.ok) {
          c.refused++;
          if ((r.error ?? "").startsWith(k.expect)) c.expectedReason!++;
        }
        if (site.budgetLease !== b.lease || site.mode !== b.mode) c.applied++;
      }
      return c;
    },
  }));
  cases.push({
    item: "MQTT commands",
    name: "replayed",
    run: async () => {
      const c = counts();
      let firstOk = 0;
      for (let i = 0; i < rounds; i++) {
        const e = t.sign("ping", {});
        const first = await t.send("ping", JSON.stringify(e), e.id);
        if (first?.ok) firstOk++;
        t.responses.delete(e.id);
        const again = await t.send("ping", JSON.stringify(e), e.id);
        c.attempted++;
        if (again && !again.ok) {
          c.refused++;
          if ((again.error ?? "").startsWith("replayed")) c.expectedReason!++;
        }
      }
      return { ...c, note: `${firstOk}/${rounds} first sends accepted (control)` };
    },
  });
  return cases;
}

/** Sparkplug B writes from the broker with acceptCommands off: each one refused and audited. */
export function sparkplugCase(t: Target, rounds: number): SecurityCase {
  const { site } = t;
  return {
    item: "Sparkplug B",
    name: "NCMD and DCMD writes with commands off",
    run: async (): Promise<Counts> => {
      const c = counts(false);
      const before = site.audit!.refusalCount();
      const minerId = site.config.miners[0]!.id;
      for (let i = 0; i < rounds; i++) {
        const now = Date.now();
        const ncmd = encodeSparkplug({
          timestamp: now,
          metrics: [
            { name: "Control/Mode", type: "String", value: "hold", timestamp: now },
            { name: "Control/Lease W", type: "Double", value: 1000, timestamp: now },
            { name: "Control/Lease TTL S", type: "Double", value: 3600, timestamp: now },
          ],
        });
        const dcmd = encodeSparkplug({
          timestamp: now,
          metrics: [{ name: "Control/Action", type: "String", value: "sleep", timestamp: now }],
        });
        await t.central.publishAsync("spBv1.0/sec/NCMD/gw", ncmd, { qos: 1 });
        await t.central.publishAsync(`spBv1.0/sec/DCMD/gw/${minerId}`, dcmd, { qos: 1 });
        c.attempted += 2;
      }
      await new Promise((r) => setTimeout(r, 1500));
      const audited = site.audit!.refusalCount() - before;
      c.refused = Math.min(c.attempted, audited);
      // applied: the mode, a lease or a sleep that got through
      if (site.mode !== "auto") c.applied++;
      if (site.budgetLease) c.applied++;
      if (site.snapshot().counts.sleeping > 0) c.applied++;
      return { ...c, note: `${audited} refusals audited (commands-off; one per metric written)` };
    },
  };
}
