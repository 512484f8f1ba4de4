// The few lines `wattkeeper check-config` prints for a valid file, so a site
// tech can see at a glance that the agent read what they meant (the right
// contract limit, the right number of miners) before starting it.
import { formatGrouped } from "../drivers/number-text.ts";
import type { SiteConfig } from "./schema.ts";
import { formatDurationS, formatPowerW } from "./units.ts";

function count(n: number, one: string, many = `${one}s`): string {
  return `${formatGrouped(n)} ${n === 1 ? one : many}`;
}

function countBy<T>(items: T[], key: (t: T) => string): string {
  const m = new Map<string, number>();
  for (const t of items) m.set(key(t), (m.get(key(t)) ?? 0) + 1);
  return [...m].map(([k, n]) => `${n} ${k}`).join(", ");
}

export function summarizeConfig(config: SiteConfig): string {
  const c = config.control;
  const lines: string[] = [];
  lines.push(`site        ${config.site.id} (${config.site.name}), ${config.site.timezone}`);
  lines.push(`contract    ${formatPowerW(config.site.contractLimitW)}`);
  const minerLocations = new Set(config.miners.map((m) => m.location ?? "-")).size;
  lines.push(
    `miners      ${count(config.miners.length, "miner")}` +
      (config.miners.length > 0
        ? ` in ${count(minerLocations, "location")} (${countBy(config.miners, (m) => m.dialect)})`
        : ""),
  );
  lines.push(`GPU nodes   ${count(config.gpuNodes.length, "node")}`);
  lines.push(
    `meters      ${count(config.meters.length, "meter")}` +
      (config.meters.length > 0 ? ` (${countBy(config.meters, (m) => `${m.role}`)})` : ""),
  );
  lines.push(
    `control     tick ${formatDurationS(c.tickS)}, shed margin ${formatPowerW(c.shedMarginW)}, ` +
      `restore margin ${formatPowerW(c.restoreMarginW)}, emergency margin ${formatPowerW(c.emergencyMarginW)}`,
  );
  lines.push(
    `            strategy ${c.strategy}, ramp ${formatPowerW(c.rampUpWPerMin)}/min, ` +
      `min on ${formatDurationS(c.minOnS)}, min off ${formatDurationS(c.minOffS)}, retries ${c.retries}`,
  );
  lines.push(
    `            fail-safe budget ${formatPowerW(c.failsafeBudgetW)} (meter stale after ${formatDurationS(c.meterStaleS)}, ` +
      `unmetered ${formatPowerW(c.unmeteredW)})`,
  );
  if (c.schedule.length === 0) lines.push("schedule    none");
  c.schedule.forEach((w, i) => {
    const months = w.months.length === 12 ? "all months" : `months ${w.months.join(",")}`;
    const days = w.days.length === 7 ? "every day" : w.days.join(",");
    lines.push(
      `${i === 0 ? "schedule    " : "            "}${w.name}: ${w.from}–${w.to}${w.toMinute < w.fromMinute ? " (over midnight)" : ""}, ` +
        `${days}, ${months} → ${formatPowerW(w.budgetW)}`,
    );
  });
  if (c.economics) {
    const e = c.economics;
    const hash = e.hashpricePerThDay !== null ? `${e.hashpricePerThDay}/TH/day` : `topic ${e.hashpriceTopic}`;
    const energy =
      e.energyPricePerKwh !== null ? `${e.energyPricePerKwh}/kWh` : `topic ${e.energyPriceTopic}`;
    lines.push(`economics   hashprice ${hash}, energy ${energy}`);
  } else lines.push("economics   off");
  lines.push(
    config.mqtt
      ? `mqtt        on: ${config.mqtt.url}, root ${config.mqtt.topicRoot}/${config.site.id}, ${count(config.mqtt.commandKeys.length, "command key")}`
      : "mqtt        off (local only)",
  );
  const ex = config.exports;
  const sp = ex?.sparkplug;
  const ha = ex?.homeAssistant;
  if (sp || ha) {
    const parts = [
      sp
        ? `Sparkplug B spBv1.0/${sp.groupId}/…/${sp.edgeNodeId ?? config.site.id}${sp.url ? ` on ${sp.url}` : ""}, commands ${sp.acceptCommands ? "accepted" : "refused"}`
        : null,
      ha
        ? `Home Assistant discovery under ${ha.discoveryPrefix}/, commands ${ha.acceptCommands ? "offered" : "none"}`
        : null,
    ].filter((p) => p !== null);
    lines.push(`exports     ${parts.join("; ")}`);
  }
  lines.push(
    `http        ${config.http.listen.host}:${config.http.listen.port}, ` +
      (config.http.operators.length > 0
        ? count(config.http.operators.length, "operator")
        : "read-only (no operators)"),
  );
  lines.push(`store       ${config.store.path}`);
  if (config.sim)
    lines.push(
      `sim         on (seed ${config.sim.seed}): the embedded simulated site serves these devices` +
        (config.sim.gpuNodes > 0 && config.gpuNodes.length === 0
          ? `, plus ${config.sim.gpuNodes} simulated GPU nodes (8 GPUs each)`
          : ""),
    );
  return lines.join("\n");
}
