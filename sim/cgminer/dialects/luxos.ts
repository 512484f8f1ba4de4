// Simulated LuxOS on the CGMiner API port (docs/research.md §2). Reads are the
// stock ones with LuxOS markers (VERSION[0].LUXminer; stats temperatures as
// "a-b-c-d" strings only) plus `power`, `config` (CurtailMode), `profiles`, `atm`
// and `session`. Privileged commands take the session id first: `curtail
// <sid>,sleep|wakeup` (Code 335), `profileset <sid>,<name>`, `atmset
// <sid>,enabled=…`, `rebootdevice <sid>`, `ledset <sid>,red|green,on|off|blink|auto`
// (pyasic, asic-rs; `config` reports RedLed/GreenLed, "auto" by default; the red
// LED blinking is the locate, held until told), `logoff <sid>`. One session at a time:
// a second `logon` gets E Code 402. A curtailed unit still answers and reports
// its standby watts. Codes other than 335 and 402 are the sim's own choice.
import type { MinerView, PowerModel } from "../../power-model.ts";
import { CODE, errorReply, type Item, type Reply, statsReply } from "../replies.ts";
import type { SimCall, SimDialect } from "./types.ts";

const LUX_VERSION = "2024.6.13.213518-a7c1b3f";
const REBOOT_MS = 300;

/** Power profiles of a unit: steps of its nominal frequency (watts and TH/s scale with them). */
export function luxosProfiles(
  v: MinerView,
): Array<{ name: string; step: number; watts: number; ths: number }> {
  const out = [];
  for (let step = -4; step <= 2; step++) {
    const freq = 500 + step * 25;
    out.push({
      name: step === 0 ? "default" : `${freq}MHz`,
      step,
      watts: Math.round(v.model.nominalW * (1 + step * 0.08)),
      ths: Math.round(v.model.nominalThs * (1 + step * 0.065) * 10) / 10,
    });
  }
  return out;
}

// --- test hooks (module state, by miner id) ------------------------------------

export interface LuxosSessionCounters {
  logons: number;
  logoffs: number;
  /** Logons refused with 402 because a session was open. */
  busy: number;
}
const counters = new Map<string, LuxosSessionCounters>();
const refusals = new Map<string, Set<string>>();

/** Makes the sim answer E to `command` from this miner (on = false lifts it). */
export function refuseLuxosCommand(minerId: string, command: string, on = true): void {
  const set = refusals.get(minerId) ?? new Set<string>();
  if (on) set.add(command);
  else set.delete(command);
  refusals.set(minerId, set);
}

/** How many logons / logoffs / refused logons a miner has seen. */
export function luxosSessionCounters(minerId: string): LuxosSessionCounters {
  return { ...(counters.get(minerId) ?? { logons: 0, logoffs: 0, busy: 0 }) };
}

function count(id: string, key: keyof LuxosSessionCounters): void {
  const c = counters.get(id) ?? { logons: 0, logoffs: 0, busy: 0 };
  c[key]++;
  counters.set(id, c);
}

// --- replies -------------------------------------------------------------------

/** A success reply, with its section when it has one. */
const ok = (code: number, msg: string, section?: { name: string; items: Item[] }): Reply => ({
  severity: "S",
  code,
  msg,
  section: section ? { name: section.name, textPrefix: false, items: section.items } : undefined,
});

function sessionOf(call: SimCall): string | null {
  return (call.state.get("session") as string | null | undefined) ?? null;
}

/** Checks the session id (first parameter); returns the remaining arguments or an error reply. */
function authorise(call: SimCall): string[] | Reply {
  const [sid = "", ...rest] = call.param.split(",");
  const open = sessionOf(call);
  if (!open || sid.trim() !== open) return errorReply(401, "Invalid session id");
  if (refusals.get(call.id)?.has(call.command)) {
    return errorReply(399, `Command '${call.command}' refused by the miner`);
  }
  return rest.map((s) => s.trim());
}

function reboot(model: PowerModel, id: string, state: Map<string, unknown>): void {
  state.delete("session");
  // fault after the reply has left (faulting closes the listener and its sockets)
  const t1 = setTimeout(() => {
    try {
      model.setFaulted(id, true);
    } catch {
      return; // miner gone
    }
    const t2 = setTimeout(() => {
      try {
        model.setFaulted(id, false);
      } catch {
        // miner gone
      }
    }, REBOOT_MS);
    t2.unref();
  }, 50);
  t1.unref();
}

/** The red LED as `config` reports it: what ledset set while the board shows it, else "auto". */
function redLed(c: SimCall): string {
  const set = (c.state.get("redLed") as string | undefined) ?? "auto";
  if (c.model.leds.isOn(c.id)) return set;
  return set === "off" ? "off" : "auto";
}

/** The simulated luxos firmware on the CGMiner API port. */
export const luxosSimDialect: SimDialect = {
  name: "luxos",
  description: `LUXminer ${LUX_VERSION.split(".").slice(0, 3).join(".")}`,
  handlers: {
    version: (c) =>
      ok(CODE.VERSION, "LUXminer versions", {
        name: "VERSION",
        items: [{ LUXminer: LUX_VERSION, API: "3.7", Miner: LUX_VERSION, Type: c.view.model.type }],
      }),
    stats: (c) => {
      const r = statsReply(c.view, { statsQuirk: false, poolUser: `wattkeeper.${c.id}` });
      const [, st] = r.section!.items;
      r.section!.items[0] = { LUXminer: LUX_VERSION, API: "3.7", Type: c.view.model.type };
      // LuxOS gives temperatures only as "a-b-c-d" strings (temp_chipN, temp_pcbN)
      if (st) for (const k of Object.keys(st)) if (/^temp2?_?\d+$/.test(k)) delete st[k];
      return r;
    },
    power: (c) =>
      ok(300, "Power", {
        name: "POWER",
        items: [{ Watts: Math.round(c.view.powerW), PSU: c.view.state !== "faulted" }],
      }),
    config: (c) =>
      ok(CODE.MINECONFIG, "LUXminer config", {
        name: "CONFIG",
        items: [
          {
            "ASC Count": c.view.model.chains,
            GreenLed: (c.state.get("greenLed") as string | undefined) ?? "auto",
            RedLed: redLed(c),
            "Pool Count": 3,
            CurtailMode: c.view.state === "sleeping" ? "Sleep" : "None",
            Profile: (c.state.get("profile") as string | undefined) ?? "default",
            IsAtmEnabled: (c.state.get("atm") as boolean | undefined) ?? true,
          },
        ],
      }),
    profiles: (c) =>
      ok(301, "Profiles", {
        name: "PROFILES",
        items: luxosProfiles(c.view).map((p) => ({
          "Profile Name": p.name,
          Step: String(p.step),
          Frequency: 500 + p.step * 25,
          Voltage: 13.2 + p.step * 0.3,
          Hashrate: p.ths,
          Watts: p.watts,
          IsTuned: false,
          IsDynamic: false,
        })),
      }),
    atm: (c) =>
      ok(302, "ATM", {
        name: "ATM",
        items: [{ Enabled: (c.state.get("atm") as boolean | undefined) ?? true }],
      }),
    session: (c) => ok(303, "Session", { name: "SESSION", items: [{ SessionID: sessionOf(c) ?? "" }] }),
    logon: (c) => {
      if (sessionOf(c)) {
        count(c.id, "busy");
        return errorReply(402, "Another session is active");
      }
      const n = ((c.state.get("sessionSeq") as number | undefined) ?? 0) + 1;
      const sid = `${(0x5e551000 + n).toString(16)}`;
      c.state.set("sessionSeq", n);
      c.state.set("session", sid);
      count(c.id, "logons");
      return ok(304, "Logon", { name: "SESSION", items: [{ SessionID: sid }] });
    },
    logoff: (c) => {
      const sid = c.param.split(",")[0]?.trim() ?? "";
      if (!sid || sid !== sessionOf(c)) return errorReply(401, "Invalid session id");
      c.state.delete("session");
      count(c.id, "logoffs");
      return ok(305, "Logoff", { name: "SESSION", items: [{ SessionID: "" }] });
    },
    curtail: (c) => {
      const args = authorise(c);
      if (!Array.isArray(args)) return args;
      if (args[0] === "sleep") {
        if (c.view.state === "faulted") return errorReply(336, "Curtail failed: miner faulted");
        c.model.sleep(c.id);
        return ok(335, "Curtail sleep");
      }
      if (args[0] === "wakeup") {
        c.model.wake(c.id);
        return ok(335, "Curtail wakeup");
      }
      return errorReply(336, `Invalid curtail mode '${args[0] ?? ""}'`);
    },
    profileset: (c) => {
      const args = authorise(c);
      if (!Array.isArray(args)) return args;
      const profile = luxosProfiles(c.view).find((p) => p.name === args[0]);
      if (!profile) return errorReply(337, `Unknown profile '${args[0] ?? ""}'`);
      c.state.set("profile", profile.name);
      c.model.setPowerLimit(c.id, profile.watts);
      return ok(306, `Profile set to ${profile.name}`);
    },
    atmset: (c) => {
      const args = authorise(c);
      if (!Array.isArray(args)) return args;
      const m = /^enabled=(true|false)$/i.exec(args[0] ?? "");
      if (!m) return errorReply(338, "Invalid atmset parameter");
      c.state.set("atm", m[1]!.toLowerCase() === "true");
      return ok(307, "ATM set");
    },
    ledset: (c) => {
      const args = authorise(c);
      if (!Array.isArray(args)) return args;
      const [color = "", mode = ""] = args.map((a) => a.toLowerCase());
      if (!["red", "green"].includes(color) || !["on", "off", "blink", "auto"].includes(mode)) {
        return errorReply(339, `Invalid ledset parameters '${args.join(",")}'`);
      }
      if (color === "green") {
        c.state.set("greenLed", mode);
        return ok(309, "LED set");
      }
      c.state.set("redLed", mode);
      if (mode === "on" || mode === "blink") c.model.leds.on(c.id);
      else c.model.leds.off(c.id);
      return ok(309, "LED set");
    },
    rebootdevice: (c) => {
      const args = authorise(c);
      if (!Array.isArray(args)) return args;
      reboot(c.model, c.id, c.state);
      return ok(308, "Rebooting device");
    },
  },
};
