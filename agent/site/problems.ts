// What needs fixing on the site, worst first: the list a field technician
// opens the page for (`GET /api/problems`, the top of the status page,
// `wattkeeper_problems{kind,severity}`). Pure: built from the views the page
// already reads, plus when each device's outage began.
import type { ErrorCode } from "../../drivers/errors.ts";
import { formatSignificant } from "../../drivers/number-text.ts";
import { printable } from "../../drivers/printable.ts";
import type { MinerBoard } from "../../drivers/types.ts";
import {
  HOT_CHIP_C,
  LOW_HASHRATE_FRACTION,
  LOW_HASHRATE_SUSTAIN_MS,
  type MinerHealth,
} from "../devices/miner-health.ts";
import type { HttpSite, LeanDevicesView, Problem, ProblemSeverity, SiteView } from "../http/types.ts";
import type { ProblemMiner } from "./device-rows.ts";

export type { Problem };
export { HOT_CHIP_C };

/** Dialects whose sleep goes through the Antminer web CGI: without credentials, nothing can shed them. */
const STOCK_DIALECTS = new Set(["antminer", "auto", ""]);

const RANK: Record<ProblemSeverity, number> = { critical: 0, warning: 1 };

/**
 * Within a severity, worst first: a miner that mines nothing or may damage
 * itself, then one whose work goes elsewhere, then lost hashrate, then what
 * only limits control. The critical kinds stand equal (oldest first).
 */
const KIND_RANK: Record<Problem["kind"], number> = {
  "meter-stale": 0,
  "signal-stale": 0,
  "gpu-node-faulted": 0,
  unreachable: 1,
  faulted: 2,
  hot: 3,
  "fan-failed": 4,
  "wrong-pool": 5,
  "dead-board": 6,
  "low-hashrate": 7,
  "firmware-changed": 8,
  "cannot-shed": 9,
};

export interface ProblemInputs {
  /** Only its signals are judged (a device's own list passes none). */
  site: Pick<SiteView, "signals">;
  /** The miners one at a time (a `GET /api/devices` row, or device-rows.ts's lean one). */
  devices: LeanDevicesView;
  /** When each device's open outage began (epoch ms). */
  outageSince: (id: string) => number | null;
  /** Now (epoch ms): how long a slow miner has been slow. */
  now?: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function listProblems({ site, devices, outageSince, now = Date.now() }: ProblemInputs): Problem[] {
  const out: Problem[] = [];
  for (const m of devices.meters) {
    if (m.ok) continue;
    out.push({
      kind: "meter-stale",
      severity: m.role === "site" ? "critical" : "warning",
      id: m.id,
      location: null,
      since: iso(outageSince(m.id)),
      message: `${m.role} meter without a fresh reading${m.ageS !== null ? ` for ${Math.round(m.ageS)} s` : ""}${"reason" in m && m.reason ? `: ${m.reason}` : ""}`,
      fix:
        m.role === "site"
          ? "the loop runs on the fail-safe budget: check the meter's power, its RS-485/Ethernet link and unit id (wattkeeper probe meter)"
          : "check the meter's power and link (wattkeeper probe meter)",
    });
  }
  for (const s of site.signals ?? []) {
    if (s.state !== "stale" && s.state !== "error") continue;
    out.push({
      kind: "signal-stale",
      severity: "critical",
      id: s.name,
      location: null,
      since: s.since,
      message: `grid signal ${s.name} (${s.kind}) is ${s.state}${s.reason ? `: ${s.reason}` : ""}`,
      fix: "the program's link is down: call the QSE or aggregator; wattkeeper probe signal from the gateway",
    });
  }
  for (const g of devices.gpuNodes) {
    if (g.state === "ok" || g.state === null || g.excluded) continue;
    out.push({
      kind: "gpu-node-faulted",
      severity: "critical",
      id: g.id,
      location: g.location ?? null,
      since: iso(outageSince(g.id)),
      message: `GPU node ${g.state}${g.reason ? `: ${g.reason}` : ""}`,
      fix:
        g.state === "unreachable"
          ? "check the node's network and SSH (wattkeeper probe gpu)"
          : "a GPU is lost or needs a reset: tell the AI tenant before rebooting the node",
    });
  }
  for (const m of devices.miners) {
    if (m.excluded) continue;
    const reason = "reason" in m && typeof m.reason === "string" ? m.reason : null;
    // a reply shaped differently from what the dialect knows: the firmware's API changed under us
    if (m.state === "faulted" && reason?.startsWith("WK_FIRMWARE_CHANGED" satisfies ErrorCode)) {
      out.push({
        kind: "firmware-changed",
        severity: "warning",
        id: m.id,
        location: m.location ?? null,
        since: iso(outageSince(m.id)),
        message: reason,
        fix: "its firmware answers in a way the agent does not know: run wattkeeper selftest miner on it, and report the firmware version",
      });
      continue;
    }
    if (m.state === "unreachable" || m.state === "faulted") {
      out.push({
        kind: m.state,
        severity: "warning",
        id: m.id,
        location: m.location ?? null,
        since: iso(outageSince(m.id)),
        message: reason ?? m.state,
        fix:
          m.state === "unreachable"
            ? `nothing answers on ${m.host}:${m.port}: check its power, network cable and IP`
            : "open the miner's page: hashboards, fans and pools; reboot if it does not recover",
      });
      continue;
    }
    const health: MinerHealth | null = m.health ?? null;
    const hot = hotMessage(m, health);
    if (hot) {
      out.push({
        kind: "hot",
        severity: "warning",
        id: m.id,
        location: m.location ?? null,
        since: iso(health?.hotSince ?? null),
        message: hot,
        fix: "check its fans, filters and the container's airflow; sleep it if it keeps climbing",
      });
    }
    const dead = health?.deadBoards ?? [];
    if (m.state === "hashing" && dead.length > 0) {
      const boards = "boards" in m && Array.isArray(m.boards) ? m.boards : [];
      out.push({
        kind: "dead-board",
        severity: "warning",
        id: m.id,
        location: m.location ?? null,
        since: iso(health?.deadSince ?? null),
        message: `hashboard${dead.length > 1 ? "s" : ""} ${dead.join(", ")} at 0 while ${boards.length - dead.length} of ${boards.length} hash`,
        fix: "reboot it once; if the board stays at 0, reseat its data and power cables, then replace the board",
      });
    } else if (
      m.state === "hashing" &&
      health?.lowSince != null &&
      health.expectedThs !== null &&
      now - health.lowSince >= LOW_HASHRATE_SUSTAIN_MS
    ) {
      const ths = "hashrateThs" in m && typeof m.hashrateThs === "number" ? m.hashrateThs : 0;
      const pct = Math.round((ths / health.expectedThs) * 100);
      out.push({
        kind: "low-hashrate",
        severity: "warning",
        id: m.id,
        location: m.location ?? null,
        since: iso(health.lowSince),
        message: `${formatThs(ths)} of ${formatThs(health.expectedThs)} expected (${pct} %, below ${Math.round(LOW_HASHRATE_FRACTION * 100)} % for ${Math.round((now - health.lowSince) / 60_000)} min)`,
        fix: "open its boards: a chain with few chips or many errors, a dirty heatsink, or a throttling PSU; reboot, then check its pool's reject rate",
      });
    }
    const fans = "fanRpm" in m && Array.isArray(m.fanRpm) ? m.fanRpm : [];
    // the fleet's every miner, every check: nothing allocated for spinning fans
    const stopped = fans.includes(0) ? fans.flatMap((rpm, i) => (rpm === 0 ? [i + 1] : [])) : [];
    // some fans spin and some do not: a fan has failed (all at 0 is immersion or hydro cooling)
    if (
      (m.state === "hashing" || m.state === "starting") &&
      stopped.length > 0 &&
      stopped.length < fans.length
    ) {
      out.push({
        kind: "fan-failed",
        severity: "warning",
        id: m.id,
        location: m.location ?? null,
        since: null,
        message: `fan${stopped.length > 1 ? "s" : ""} ${stopped.join(", ")} stopped (${fans.join("/")} rpm)`,
        fix: "replace the fan before the boards overheat; sleep or exclude the miner meanwhile",
      });
    }
    const poolProblem = wrongPool(m);
    if (poolProblem) {
      out.push({
        kind: "wrong-pool",
        severity: "warning",
        id: m.id,
        location: m.location ?? null,
        since: null,
        message: poolProblem,
        fix: "set the miner's pools back to the site's (its web page, or the fleet tool); a changed pool can mean a compromised miner",
      });
    }
    const fw = m.firmwareChange ?? null;
    if (fw) {
      out.push({
        kind: "firmware-changed",
        severity: "warning",
        id: m.id,
        location: m.location ?? null,
        since: iso(fw.at),
        message: `firmware changed from ${printable(fw.from)} to ${printable(fw.to)}`,
        fix: "check who updated it; run wattkeeper probe miner (and selftest) to see that sleep, wake and limits still work",
      });
    }
    const caps = m.capabilities ?? [];
    const canShed = caps.includes("sleep") || caps.includes("setPowerLimit");
    if (!canShed && m.state !== null) {
      const withdrawn = (m.withdrawn ?? []).filter(
        (w) => w.capability === "sleep" || w.capability === "setPowerLimit",
      );
      const stock = STOCK_DIALECTS.has(m.dialect ?? m.configuredDialect ?? "");
      out.push({
        kind: "cannot-shed",
        severity: "warning",
        id: m.id,
        location: m.location ?? null,
        since: null,
        message:
          withdrawn.length > 0
            ? `cannot be shed: ${withdrawn.map((w) => `${w.capability} withdrawn (${w.reason})`).join("; ")}`
            : stock
              ? "cannot be shed: stock firmware sleeps through its web interface, and no web credentials are set"
              : (m.dialect ?? m.configuredDialect) === "cgminer"
                ? "cannot be shed: stock cgminer's API is read-only (a stock Antminer is the antminer dialect, with web credentials)"
                : `cannot be shed: its ${m.dialect ?? m.configuredDialect} API offers no sleep or power limit here`,
        fix:
          withdrawn.length > 0 || stock
            ? "give the miner's web or API credentials in the config (miners[].credentials: username, passwordFile), or allow the gateway in its API allow-list"
            : "set the miner's dialect or firmware so the loop can shed it, or exclude it",
      });
    }
  }
  return out.sort(
    (a, b) =>
      RANK[a.severity] - RANK[b.severity] ||
      KIND_RANK[a.kind] - KIND_RANK[b.kind] ||
      byCodeUnits(a.since ?? "9999", b.since ?? "9999") ||
      byCodeUnits(a.id, b.id),
  );
}

// code-unit order: the same on every machine, and no ICU collator (localeCompare loads one)
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const formatThs = (ths: number) => `${formatSignificant(ths, 3)} TH/s`;

const DEFAULT_HOT = Object.freeze({ chipC: HOT_CHIP_C, boardC: null, fromModel: false });

/**
 * Chips or boards at or over the limit (the model's, else the default for chips); null when not
 * hot. Asked of every miner at every problems check: a cool one costs no list and no string.
 */
function hotMessage(m: ProblemMiner, health: MinerHealth | null): string | null {
  const limits = health?.hot ?? DEFAULT_HOT;
  const of = limits.fromModel ? "the model's" : "the default";
  const chip = "chipTempMaxC" in m && typeof m.chipTempMaxC === "number" ? m.chipTempMaxC : null;
  const boards = "boards" in m && Array.isArray(m.boards) ? m.boards : [];
  const hotChip = (b: MinerBoard) => b.chipTempC !== null && b.chipTempC >= limits.chipC;
  const chipHot = chip !== null && chip >= limits.chipC;
  if (chipHot || boards.some(hotChip)) {
    const hotChips = boards.filter(hotChip);
    const where = hotChips.length > 0 ? ` (board ${hotChips.map((b) => b.index).join(", ")})` : "";
    const t = chipHot ? chip : Math.max(...hotChips.map((b) => b.chipTempC!));
    return `chips at ${t} °C${where}, ${of} limit ${limits.chipC} °C`;
  }
  if (limits.boardC !== null) {
    let t = 0;
    if ("boardTempsC" in m && Array.isArray(m.boardTempsC)) for (const x of m.boardTempsC) t = Math.max(t, x);
    for (const b of boards) t = Math.max(t, b.boardTempC ?? 0);
    if (t >= limits.boardC) return `boards at ${t} °C, the model's limit ${limits.boardC} °C`;
  }
  return null;
}

/** Pools outside the miner's pool policy (miners[].pools), in one line; null when none. */
function wrongPool(m: ProblemMiner): string | null {
  const policy = m.poolPolicy ?? null;
  const pools = "pools" in m && Array.isArray(m.pools) ? m.pools : [];
  if (!policy || pools.length === 0) return null;
  const norm = (u: string) => u.trim().replace(/\/+$/, "").toLowerCase();
  const allow = policy.allow ? new Set(policy.allow.map(norm)) : null;
  const worker = policy.workerPattern ? new RegExp(policy.workerPattern) : null;
  const wrong: string[] = [];
  for (const p of pools) {
    if (allow && p.url !== null && !allow.has(norm(p.url)))
      wrong.push(`pool ${printable(p.url)} is not allowed`);
    if (worker && p.user !== null && !worker.test(p.user))
      wrong.push(`worker ${printable(p.user)} does not match ${policy.workerPattern}`);
  }
  return wrong.length > 0 ? wrong.join("; ") : null;
}

/** The site's problems now, worst first. */
export function problemsOf(site: HttpSite): Problem[] {
  return listProblems({
    site: site.siteView(),
    devices: site.leanDevicesView?.() ?? site.devicesView(),
    outageSince: (id) => site.outageSince?.(id) ?? null,
    now: Date.now(),
  });
}
