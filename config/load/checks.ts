// Checks across sections, made once each section has parsed: control values
// against each other and against the contract, operator hashes, and the
// addresses the simulated site can serve.
import { isLoopback } from "../hosts.ts";
import type { MinerConfig } from "../schema.ts";
import { formatPowerW } from "../units.ts";
import type { Problem } from "./problems.ts";
import type { Entries, Parsed } from "./sections.ts";

/**
 * Control: values against each other and against the contract. Returns the
 * fail-safe budget, or null when control or site did not parse.
 */
export function checkControl(parsed: Parsed, mqttGiven: boolean, problems: Problem[]): number | null {
  const { control, site } = parsed;
  if (!control) return null;
  checkPairs(control, problems);
  if (parsed.polling && control.meterStaleS <= parsed.polling.metersS) {
    problems.push({
      path: "control.meterStaleS",
      message: `must be greater than polling.metersS (${control.meterStaleS} s ≤ ${parsed.polling.metersS} s), or every reading would count as stale`,
    });
  }
  let failsafeBudgetW: number | null = null;
  if (site) {
    failsafeBudgetW = control.failsafeBudgetW ?? site.contractLimitW / 2;
    if (failsafeBudgetW > site.contractLimitW) {
      problems.push({
        path: "control.failsafeBudgetW",
        message: `must not exceed site.contractLimitW (${formatPowerW(failsafeBudgetW)} > ${formatPowerW(site.contractLimitW)})`,
      });
    }
  }
  if (control.economics && !mqttGiven) {
    for (const k of ["hashpriceTopic", "energyPriceTopic"] as const) {
      if (control.economics[k] !== null) {
        problems.push({
          path: `control.economics.${k}`,
          message: "needs an mqtt section: the price is read from the broker",
        });
      }
    }
  }
  if (control.economics?.signedPrices && (parsed.mqtt?.commandKeys.length ?? 0) === 0) {
    problems.push({
      path: "control.economics.signedPrices",
      message: "needs mqtt.commandKeys: price messages are verified with the command keys",
    });
  }
  return failsafeBudgetW;
}

/** Values that must be ordered against each other. */
function checkPairs(control: NonNullable<Parsed["control"]>, problems: Problem[]): void {
  if (control.restoreMarginW <= control.shedMarginW) {
    problems.push({
      path: "control.restoreMarginW",
      message:
        `must be greater than shedMarginW (${formatPowerW(control.restoreMarginW)} ≤ ${formatPowerW(control.shedMarginW)}): ` +
        "the gap between them is the hysteresis that keeps the loop from shedding and restoring the same miners every tick",
    });
  }
  if (control.meterStaleS <= control.tickS) {
    problems.push({
      path: "control.meterStaleS",
      message: `must be greater than tickS (${control.meterStaleS} s ≤ ${control.tickS} s), or every reading would count as stale`,
    });
  }
}

/**
 * Operators: a hash that is well-formed but not base64 is most likely the
 * documentation's placeholder; the agent runs, that operator cannot log in.
 */
export function checkOperators(http: Parsed["http"], warnings: Problem[]): void {
  http?.operators.forEach((o, i) => {
    const [, , , , salt, hash] = o.passwordHash.split("$");
    if (!isBase64(salt ?? "") || !isBase64(hash ?? "")) {
      warnings.push({
        path: `http.operators[${i}].passwordHash`,
        message: `salt or hash is not base64 (a placeholder?); operator "${o.name}" cannot log in`,
      });
    }
  });
}

function isBase64(s: string): boolean {
  return s.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(s);
}

/** The simulated site serves loopback addresses only. */
export function checkSimAddresses(
  miners: MinerConfig[],
  meters: Entries["meters"],
  warnings: Problem[],
): void {
  for (const m of miners) {
    if (!isLoopback(m.host)) {
      warnings.push({
        path: `${m.source}`,
        message: `sim: ${m.host} is not a loopback address; the simulated site cannot serve it`,
      });
      break;
    }
  }
  for (const [i, m] of meters.entries()) {
    if (m && (m.modbus.kind === "rtu" || !isLoopback(m.modbus.host))) {
      warnings.push({
        path: `meters[${i}].modbus`,
        message: "sim: not a loopback TCP address; the simulated site cannot serve it",
      });
    }
  }
}

/** Without a site meter the loop estimates; worth a warning on a config that is otherwise good. */
export interface SiteMeterCheck {
  parsed: Parsed;
  siteMeter: string | null;
  problems: Problem[];
  warnings: Problem[];
}

export function checkSiteMeter({ parsed, siteMeter, problems, warnings }: SiteMeterCheck): void {
  if (parsed.site && !siteMeter && problems.length === 0) {
    warnings.push({
      path: "meters",
      message:
        "no meter has role site: the loop estimates site power from device reports + control.unmeteredW",
    });
  }
}

/** Signals that lean on other sections: a target on the site's own broker needs an mqtt section. */
export function checkSignals(parsed: Parsed, problems: Problem[]): void {
  const t = parsed.signals?.target;
  if (t && t.url === null && !parsed.mqtt) {
    problems.push({
      path: "signals.target.url",
      message: "give the aggregator's broker URL, or add an mqtt section: the target is read from a broker",
    });
  }
}

/** Exports publish on a broker: Home Assistant on the site's, Sparkplug on the site's unless it names its own. */
export function checkExports(parsed: Parsed, problems: Problem[]): void {
  const e = parsed.exports;
  if (e?.homeAssistant && !parsed.mqtt) {
    problems.push({
      path: "exports.homeAssistant",
      message: "add an mqtt section: discovery and states are published on the site's broker",
    });
  }
  if (e?.sparkplug && e.sparkplug.url === null && !parsed.mqtt) {
    problems.push({
      path: "exports.sparkplug.url",
      message: "give the SCADA broker's URL, or add an mqtt section: the edge node publishes on a broker",
    });
  }
}
