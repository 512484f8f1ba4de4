// The budget sources the site derives from its own readings and the ledger
// (docs/design.md, Effective budget): the economic cut — miners whose revenue
// is below their energy cost — and the flexible load a target signal's share
// is measured against. Pure: the site hands in the snapshot the policy plans
// on, the ledger's devices and the prices in force.
import { economicBudget, type Prices } from "./budget.ts";
import type { FlexView } from "./signal-budget.ts";
import type { DeviceLedger, PlanSnapshot } from "./types.ts";

type LedgerDevices = ReadonlyMap<string, DeviceLedger>;

/** The economic cut as a budget source; null while a price is unknown or no miner loses money. */
export interface EconomicInput {
  view: PlanSnapshot;
  devices: LedgerDevices;
  prices: Prices;
  shedMarginW: number;
}

export function economicSource({
  view,
  devices,
  prices,
  shedMarginW,
}: EconomicInput): { watts: number; reason: string } | null {
  if (prices.energyPricePerKwh === null || prices.hashpricePerThDay === null) return null;
  // a miner the agent has just slept may still read as hashing until its next poll:
  // counted as running too, its draw would be cut twice and one more miner shed
  const running = view.miners.filter(
    (m) => (m.state === "hashing" || m.state === "starting") && devices.get(m.id)?.sleptAt == null,
  );
  const slept = [...devices]
    .filter(([, d]) => d.sleptAt != null)
    .map(([id, d]) => ({
      id,
      sleptPowerW: d.sleptPowerW ?? null,
      efficiencyJPerTh: d.efficiencyJPerTh ?? null,
    }));
  return economicBudget({ powerW: view.powerW, running, sleptByAgent: slept, prices, shedMarginW });
}

/** What a target signal's share is measured against: the mining that runs and what the agent slept. */
export function flexView(view: PlanSnapshot, devices: LedgerDevices): FlexView {
  let runningMiningW = 0;
  for (const m of view.miners) {
    if ((m.state === "hashing" || m.state === "starting") && !m.excluded) runningMiningW += m.powerW ?? 0;
  }
  let sleptByAgentW = 0;
  for (const d of devices.values()) {
    if (d.sleptAt != null) sleptByAgentW += d.sleptPowerW ?? 0;
  }
  return { powerW: view.powerW, runningMiningW, sleptByAgentW };
}
