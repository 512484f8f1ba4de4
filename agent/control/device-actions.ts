// Runs an operator's action on one device: exclude/include change the stored
// settings (kept across restarts); sleep, wake, reboot, set-power-limit and
// locate go through the control loop as operator steps, one after the other (a
// node's GPUs), each written to the ledger first and confirmed by read-back. A
// locate the firmware would leave on is handed to the locate ends, which end
// it when its time is up.
import type { SiteConfig } from "../../config/schema.ts";
import type { LocateEnds } from "../devices/locate-ends.ts";
import type { SiteState } from "../site/state.ts";
import type { NewSiteEvent } from "../store/events.ts";
import type { Ledger } from "../store/ledger.ts";
import type { Settings } from "../store/settings.ts";
import { type Actor, type DeviceAction, type IntentResult, locateSeconds } from "./intents.ts";
import type { ControlLoop } from "./loop.ts";
import { operatorSteps } from "./operator-steps.ts";

export interface DeviceActionDeps {
  config: SiteConfig;
  state: SiteState;
  /** null while the site is not running. */
  settings: Settings | null;
  loop: ControlLoop | null;
  ledger: Ledger | null;
  /** Ends the locates the firmware would leave on; null while the site is not running. */
  locates?: LocateEnds | null;
  emitEvent(e: NewSiteEvent): void;
}

export async function runDeviceAction(
  req: DeviceAction,
  actor: Actor,
  deps: DeviceActionDeps,
): Promise<IntentResult> {
  const minerCfg = deps.config.miners.find((m) => m.id === req.id);
  const gpuCfg = minerCfg ? undefined : deps.config.gpuNodes.find((g) => g.id === req.id);
  if (!minerCfg && !gpuCfg) return { ok: false, error: `unknown device "${req.id}"` };
  const { settings, loop } = deps;
  if (!settings || !loop) return { ok: false, error: "the site is not running" };
  const why = `operator ${actor.who}${req.reason ? `: ${req.reason}` : ""}`;

  if (req.action === "exclude" || req.action === "include") {
    const now = Date.now();
    const until = req.action === "exclude" && req.untilS !== undefined ? now + req.untilS * 1000 : null;
    if (req.action === "exclude")
      settings.exclude(req.id, { by: actor.who, reason: req.reason ?? null, at: now, until });
    else if (!settings.include(req.id)) return { ok: true, detail: "was not excluded" };
    const end = until === null ? "" : ` until ${new Date(until).toISOString()}`;
    deps.emitEvent({
      at: now,
      kind: req.action === "exclude" ? "device-excluded" : "device-included",
      severity: "info",
      deviceId: req.id,
      message: `${req.id} ${req.action === "exclude" ? `excluded from automatic control${end}` : "back in automatic control"} (${why})`,
      data: { by: actor.who, via: actor.via, until },
    });
    loop.wakeNow();
    return until === null
      ? { ok: true }
      : { ok: true, detail: `excluded until ${new Date(until).toISOString()}` };
  }

  const steps = operatorSteps(req, why, {
    miner: minerCfg ?? null,
    gpuNode: gpuCfg ?? null,
    minerReading: deps.state.miners.get(req.id)?.reading ?? null,
    gpuReading: deps.state.gpuNodes.get(req.id) ?? null,
    sleptPowerW: deps.ledger?.view(Date.now()).devices.get(req.id)?.sleptPowerW ?? null,
  });
  if ("error" in steps) return { ok: false, error: steps.error };
  const failures: string[] = [];
  let detail = "";
  for (const step of steps.actions) {
    const out = await loop.manual(step);
    if (!out.ok)
      failures.push(step.gpuIndex !== undefined ? `GPU ${step.gpuIndex}: ${out.reason}` : out.reason);
    else detail = out.reason;
    if (out.ok && step.kind === "locate")
      detail +=
        deps.locates?.noted(req.id, { seconds: locateSeconds(req), report: out.locate, by: actor.who }) ?? "";
  }
  if (failures.length > 0) return { ok: false, error: failures.join("; ") };
  return { ok: true, detail: steps.actions.length > 1 ? `${steps.actions.length} GPU(s) limited` : detail };
}
