// Security totals (`npm run security`): one real Site on the simulator (4
// LuxOS miners, a site meter), reached through a broker (aedes, MQTT 3.1.1)
// and over HTTP, meets every kind of attack the project knows, many times
// over. Each attack is a counted case: attempted, refused, applied (what got
// through where it must not: the goal is 0), and after each one whether the
// agent still ticks and whether every miner stayed readable throughout.
// Control cases (a valid command, a valid price, the real operator's login)
// go through the same paths, so a site that refuses everything cannot pass.
// This file is the runner and the report; the site under attack is in
// security-target.ts, the cases in one module per attack family.
//
// Adding a case: return a SecurityCase (bench/security-case.ts) from the
// family's module (its item names the issue or defect it covers); `run`
// returns its counts, the harness does the rest.
import { parseArgs } from "node:util";
import { cliCases } from "./security-cli.ts";
import { hostKeyCase } from "./security-gpu.ts";
import { httpCases } from "./security-http.ts";
import { commandCases, sparkplugCase } from "./security-mqtt.ts";
import { priceCases, pricesTaken } from "./security-prices.ts";
import { MINERS, startTarget } from "./security-target.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "50" },
    ssh: { type: "string", default: "100" },
    // connections of the half-open flood case (this process holds them: at most its open-file limit)
    connections: { type: "string", default: "5000" },
  },
});
const ROUNDS = Number(values.rounds);
const SSH_ATTEMPTS = Number(values.ssh);
const FLOOD_CONNECTIONS = Number(values.connections);

const target = await startTarget();
const { site, events, sign, send } = target;
const priceControl = await pricesTaken(target);
const cases = [
  ...commandCases(target, ROUNDS),
  ...priceCases(target, ROUNDS),
  ...httpCases(target, { floodConnections: FLOOD_CONNECTIONS }),
  hostKeyCase(SSH_ATTEMPTS),
  sparkplugCase(target, ROUNDS),
  // the config file and the command line (reload, check-config, probe, scan)
  ...cliCases,
];

// ---------------------------------------------------------------- the harness

interface Row {
  item: string;
  case: string;
  attempted: number;
  refused: number;
  expectedReason: number | string;
  applied: number;
  ticking: string;
  minersReadable: string;
  note: string;
}

/** Miners readable: every configured miner in the snapshot, none unreachable or faulted. */
function minersReadable(): boolean {
  const c = site.snapshot().counts;
  return c.unreachable === 0 && c.faulted === 0 && c.hashing + c.sleeping + c.starting === MINERS;
}

function nextTick(timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const off = site.onTick(() => {
      off();
      clearTimeout(t);
      resolve(true);
    });
    const t = setTimeout(() => {
      off();
      resolve(false);
    }, timeoutMs);
  });
}

const rows: Row[] = [];
const auditedBefore = site.audit!.refusalCount();
for (const k of cases) {
  let unreadable = 0;
  let sampled = 0;
  const sampler = setInterval(() => {
    sampled++;
    if (!minersReadable()) unreadable++;
  }, 250);
  const c = await k.run();
  clearInterval(sampler);
  const ticking = (await nextTick(3000)) && site.unhealthyReason() === null;
  if (!minersReadable()) unreadable++;
  rows.push({
    item: k.item,
    case: k.name,
    attempted: c.attempted,
    refused: c.refused,
    expectedReason: c.expectedReason ?? "–",
    applied: c.applied,
    ticking: ticking ? "yes" : "NO",
    minersReadable: unreadable === 0 ? `yes (${sampled + 1} samples)` : `NO (${unreadable}/${sampled + 1})`,
    note: c.note ?? "",
  });
  process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
}

// control: a valid command through the same path is applied
const valid = sign("budget/set", { watts: 800_000, ttlS: 60, reason: "valid control" });
const validR = await send("budget/set", JSON.stringify(valid), valid.id);
const validApplied = validR?.ok === true && site.budgetLease?.watts === 800_000;
site.clearBudgetLease();
// the config's own power strings through the same path (defect 10: "250kW" was refused)
const stringy = sign("budget/set", { watts: "750kW", ttlS: "1m", reason: "valid control" });
const stringyR = await send("budget/set", JSON.stringify(stringy), stringy.id);
const stringsApplied = stringyR?.ok === true && site.budgetLease?.watts === 750_000;
site.clearBudgetLease();

const forgedApplied = events.filter(
  (e) =>
    (e.kind === "lease-set" && (e.data as { reason?: string })?.reason !== "valid control") ||
    e.kind === "mode-changed",
).length;
const mqttAudited = site
  .audit!.recent(100_000)
  .filter((a) => a.via === "mqtt" && !a.ok)
  .reduce((n, a) => ({ refusals: n.refusals + a.count, rows: n.rows + 1 }), { refusals: 0, rows: 0 });
const audited = site.audit!.refusalCount() - auditedBefore;
await target.stop();

console.log(
  `security totals: ${ROUNDS} of each forged command and price kind, ${SSH_ATTEMPTS} unknown SSH host keys, HTTP floods; agent ticking and miners readable checked after and during each case`,
);
console.table(rows.map(({ note: _n, ...r }) => r));
for (const r of rows) if (r.note) console.log(`  ${r.item} / ${r.case}: ${r.note}`);
const total = rows.reduce((a, r) => a + r.attempted, 0);
const refused = rows.reduce((a, r) => a + r.refused, 0);
const applied = rows.reduce((a, r) => a + r.applied, 0) + forgedApplied;
const allTicking = rows.every((r) => r.ticking === "yes");
const allReadable = rows.every((r) => r.minersReadable.startsWith("yes"));
const mqttRows = rows.filter((r) => r.item === "MQTT commands");
const mqttOk = mqttRows.every((r) => r.refused === r.attempted && r.expectedReason === r.attempted);
console.log(
  `cases: ${rows.length}; attempts: ${total}, refused ${refused}, applied ${applied}; agent ticking after every case: ${allTicking}; miners readable throughout: ${allReadable}`,
);
console.log(
  `MQTT: ${mqttRows.reduce((a, r) => a + r.refused, 0)}/${mqttRows.reduce((a, r) => a + r.attempted, 0)} refused with the expected reason; ${mqttAudited.refusals} refusals audited in ${mqttAudited.rows} rows; all refusals audited ${audited}; valid control command applied: ${validApplied} (with "750kW"/"1m" strings: ${stringsApplied}); valid signed prices taken: ${priceControl}`,
);
const ok =
  applied === 0 && allTicking && allReadable && mqttOk && validApplied && stringsApplied && priceControl;
console.log(ok ? "PASS" : "FAIL");
process.exit(ok ? 0 : 1);
