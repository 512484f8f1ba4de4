// `npm run scenario`: the scenario (bench/scenario-run.ts) once per strategy,
// one after the other in fresh processes (the same simulated site, seed and
// steps), then the control-quality figures side by side: seconds over budget,
// tracking error (B − P while under), unused headroom while curtailed, the
// largest site ramp in any 60 s (up and down), miner toggles and target
// changes, opposite moves within minOnS, AI capped seconds. Writes
// bench/results/scenario.json with both runs and the checks of issue-level
// goals (track vs sleep).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { resultsDir } from "./results-dir.ts";
import type { StepFigures } from "./scenario-figures.ts";

interface Run {
  strategy: string;
  rampUpWPerMin: number;
  oneMinerW: number;
  steps: StepFigures[];
  ers: { secondsToTarget: number | null; deadlineHeld: boolean; agentSaid: string } | null;
}

const strategies = (process.env.SCENARIO_STRATEGIES ?? "sleep,track").split(",");
const out = resultsDir(import.meta.url);
mkdirSync(out, { recursive: true });
const runner = fileURLToPath(
  new URL(`./scenario-run.${import.meta.url.endsWith(".js") ? "js" : "ts"}`, import.meta.url),
);

const runs: Run[] = [];
for (const strategy of strategies) {
  const file = join(out, `scenario-${strategy}.json`);
  console.log(`scenario: running strategy ${strategy}…`);
  const r = spawnSync(process.execPath, [...process.execArgv, runner], {
    env: { ...process.env, SCENARIO_STRATEGY: strategy, SCENARIO_OUT: file },
    stdio: "inherit",
  });
  if (r.status !== 0) {
    console.error(`scenario: the ${strategy} run failed (exit ${r.status})`);
    process.exit(1);
  }
  runs.push(JSON.parse(readFileSync(file, "utf8")) as Run);
}

const kw = (w: number | null) => (w === null ? "—" : (w / 1000).toFixed(1));
for (const run of runs) {
  console.log(`\nstrategy: ${run.strategy}`);
  console.table(
    run.steps.map((s) => ({
      step: s.step,
      "over s": s.secondsOverBudget,
      "B−P mean kW": kw(s.trackingErrorMeanW),
      "B−P p95 kW": kw(s.trackingErrorP95W),
      "unused kW": kw(s.unusedHeadroomW),
      "ramp60 ↑ kW": kw(s.ramp60UpW),
      "ramp60 ↓ kW": kw(s.ramp60DownW),
      "AI move %": s.aiMovePct,
      toggles: s.minerToggles,
      targets: s.targetChanges,
      "opposite<minOn": s.oppositeMovesWithinMinOn,
      "AI capped s": s.aiCappedS,
    })),
  );
  if (run.ers)
    console.log(
      `ERS-10: under the setpoint in ${run.ers.secondsToTarget ?? "—"} s; deadline ${run.ers.deadlineHeld ? "held" : "MISSED"}; the agent said: ${run.ers.agentSaid}`,
    );
}

// track against sleep, step by step: the goals
const sleep = runs.find((r) => r.strategy === "sleep");
const track = runs.find((r) => r.strategy === "track");
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const checks: Record<string, unknown> = {};
if (sleep && track) {
  const unused = (r: Run) =>
    mean(r.steps.flatMap((s) => (s.unusedHeadroomW === null ? [] : [s.unusedHeadroomW])));
  const swing = (r: Run) => r.steps.find((s) => s.step.startsWith("AI swing"));
  const u = { sleep: unused(sleep), track: unused(track) };
  checks.overBudgetMaxS = {
    sleep: Math.max(...sleep.steps.map((s) => s.secondsOverBudget)),
    track: Math.max(...track.steps.map((s) => s.secondsOverBudget)),
  };
  checks.meanUnusedHeadroomW = u;
  checks.unusedTrackOverSleep = u.sleep && u.track !== null ? Number((u.track / u.sleep).toFixed(3)) : null;
  checks.swingRamp60W = {
    limit: track.rampUpWPerMin + track.oneMinerW,
    sleep: swing(sleep) ? Math.max(swing(sleep)!.ramp60UpW, swing(sleep)!.ramp60DownW) : null,
    track: swing(track) ? Math.max(swing(track)!.ramp60UpW, swing(track)!.ramp60DownW) : null,
    aiMovePct: swing(track)?.aiMovePct ?? null,
  };
  checks.aiCappedS = {
    sleep: sleep.steps.reduce((a, s) => a + s.aiCappedS, 0),
    track: track.steps.reduce((a, s) => a + s.aiCappedS, 0),
  };
  checks.oppositeMovesWithinMinOn = {
    sleep: sleep.steps.reduce((a, s) => a + s.oppositeMovesWithinMinOn, 0),
    track: track.steps.reduce((a, s) => a + s.oppositeMovesWithinMinOn, 0),
  };
  console.log("\ntrack vs sleep:");
  console.log(JSON.stringify(checks, null, 2));
}
writeFileSync(join(out, "scenario.json"), `${JSON.stringify({ runs, checks }, null, 2)}\n`);
console.log(
  `JSON: ${join(out, "scenario.json")} (per strategy: scenario-<strategy>.json); M&V: mnv.json, mnv.csv`,
);
