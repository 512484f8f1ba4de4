// `npm run security` cases for prices as a trusted input (issue item 3):
// signed prices out of range and unsigned prices while signedPrices is on must
// move neither the prices nor the budget; valid signed prices are the control.
import { buildPriceEnvelope } from "../agent/mqtt/signing.ts";
import { sleep } from "./flood-tools.ts";
import { counts, type SecurityCase } from "./security-case.ts";
import { ENERGY_TOPIC, HASH_TOPIC, type Target } from "./security-target.ts";

const publishPrice = (t: Target, topic: string, payload: string) =>
  t.central.publishAsync(topic, payload, { qos: 1, retain: true });
const signedPrice = (t: Target, topic: string, value: number) =>
  JSON.stringify(buildPriceEnvelope(t.opsKey, { topic, keyName: "ops", value }));

/** Control: valid signed prices are taken (and stay in force through every refusal after). */
export async function pricesTaken(t: Target): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    await publishPrice(t, ENERGY_TOPIC, signedPrice(t, ENERGY_TOPIC, 0.04));
    await publishPrice(t, HASH_TOPIC, signedPrice(t, HASH_TOPIC, 0.05));
    await sleep(300);
    const s = t.site.priceStatus();
    if (s.energyPricePerKwh.value === 0.04 && s.hashpricePerThDay.value === 0.05) return true;
  }
  return false;
}

/** The agent's own count of refused price messages, in all and by reason. */
async function refusedPrices(t: Target): Promise<{ total: number; by: Map<string, number> }> {
  const text = await t.metrics();
  const by = new Map<string, number>();
  let total = 0;
  for (const m of text.matchAll(/^wattkeeper_prices_refused_total\{[^}]*reason="([^"]+)"[^}]*\} (\S+)$/gm)) {
    by.set(m[1]!, (by.get(m[1]!) ?? 0) + Number(m[2]));
    total += Number(m[2]);
  }
  return { total, by };
}

function priceCase(
  t: Target,
  rounds: number,
  c0: { name: string; topic: string; payload: () => string; expect: string },
): SecurityCase {
  const { site } = t;
  return {
    item: "3 prices",
    name: c0.name,
    run: async () => {
      const c = counts();
      const refusedBefore = await refusedPrices(t);
      for (let i = 0; i < rounds; i++) {
        const before = site.priceStatus();
        const b = t.budgetW();
        await publishPrice(t, c0.topic, c0.payload());
        await sleep(30);
        c.attempted++;
        const after = site.priceStatus();
        const moved =
          after.energyPricePerKwh.value !== before.energyPricePerKwh.value ||
          after.hashpricePerThDay.value !== before.hashpricePerThDay.value;
        if (moved) c.applied++;
        if (t.budgetW() !== b) c.applied++;
      }
      await sleep(200);
      const refusedAfter = await refusedPrices(t);
      c.expectedReason = (refusedAfter.by.get(c0.expect) ?? 0) - (refusedBefore.by.get(c0.expect) ?? 0);
      c.refused = Math.min(c.attempted, refusedAfter.total - refusedBefore.total);
      const alarms = t.events.filter((e) => e.kind === "price-refused" && e.data?.code === c0.expect).length;
      return {
        ...c,
        note: `${alarms} price-refused alarm event(s); budget ${((t.budgetW() ?? 0) / 1000).toFixed(0)} kW`,
      };
    },
  };
}

export function priceCases(t: Target, rounds: number): SecurityCase[] {
  return [
    {
      name: "energy price 1e6 (signed)",
      topic: ENERGY_TOPIC,
      payload: () => signedPrice(t, ENERGY_TOPIC, 1e6),
      expect: "out-of-range",
    },
    {
      name: "hashprice -1e308 (signed)",
      topic: HASH_TOPIC,
      payload: () => signedPrice(t, HASH_TOPIC, -1e308),
      expect: "out-of-range",
    },
    {
      name: "unsigned price (signedPrices on)",
      topic: ENERGY_TOPIC,
      payload: () => "1000000",
      expect: "unsigned",
    },
  ].map((c) => priceCase(t, rounds, c));
}
