// Simulated Whatsminer API v3 (TCP 4433): length-prefixed JSON (4-byte little
// endian), several requests per connection, `{code, when, msg, desc}` replies.
// Writes (`set.*`) are checked as the firmware does: account "super", a fresh
// `ts`, and token = first 8 chars of base64(sha256(cmd + password + salt + ts)).
// Codes used here (the real firmware's exact numbers are not documented in our
// sources): 0 ok, -1 bad parameter, -2 unknown command, -3 invalid JSON,
// -4 no permission (write API off or default password), -5 invalid token.
// One listener per miner, closed while the power model has it faulted.
import net from "node:net";
import { type Logger, pino } from "pino";
import { type FaultFollowing, FaultFollowingListeners, type FollowingEntry } from "../fault-listeners.ts";
import { bindListener } from "../listener.ts";
import type { MinerView, PowerModel } from "../power-model.ts";
import { simFrame, simFrameReader, simV3Token } from "./codec.ts";
import {
  cancelWhatsminerTimers,
  ledstat,
  rebootMiner,
  validPowerLimit,
  type WhatsminerSimMiner,
  whatsminerState,
  writesDenied,
} from "./state.ts";

export interface WhatsminerV3SimMiner {
  id: string;
  host: string;
  /** Default 4433; 0 picks a free port. */
  port?: number;
}

export type WhatsminerV3Sim = FaultFollowing;

const IDLE_MS = 10_000;
const TS_SKEW_S = 300;

type Reply = { code: number; msg: unknown };

function fw(v: MinerView): string {
  return `${v.model.firmware.compileTime}.REL`;
}

/** get.device.info: the whole info, or the one `section` asked for. */
function deviceInfo(
  { model, id, v, m }: { model: PowerModel; id: string; v: MinerView; m: WhatsminerSimMiner },
  section: unknown,
): Record<string, unknown> {
  const all: Record<string, unknown> = {
    network: { ip: "", proto: "dhcp", hostname: "WhatsMiner" },
    miner: {
      working: v.state === "hashing" || v.state === "starting" ? "true" : "false",
      type: v.model.type.replace(/^WhatsMiner\s+/i, ""),
      "hash-board": "H60",
      "detect-hash-rate": v.chainRatesThs.map((r) => Math.round(r * 1000)).join(":"),
      cointype: "BTC",
    },
    system: { api: "3.0.1", platform: "H616", fwversion: fw(v), ledstatus: ledstat(model, id) },
    power: { type: "P221B", mode: "normal", vin: 220 },
    salt: m.v3Salt,
  };
  if (typeof section === "string" && section in all) return { [section]: all[section] };
  return all;
}

function minerStatus(v: MinerView): Record<string, unknown> {
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    summary: {
      elapsed: v.uptimeS,
      "bootup-time": v.uptimeS,
      "hash-realtime": r2(v.hashrateThs),
      "hash-average": r2(v.avgHashrateThs),
      "factory-hash": r2(v.expectedThs),
      "power-limit": v.powerLimitW ?? Math.round(v.model.nominalW),
      "power-realtime": Math.round(v.powerW),
      "environment-temperature": 25,
      "fan-speed-in": v.fanRpm[0] ?? 0,
      "fan-speed-out": v.fanRpm[1] ?? v.fanRpm[0] ?? 0,
      "chip-temp-min": v.chipTempsC.length ? Math.min(...v.chipTempsC) : 0,
      "chip-temp-avg": v.chipTempsC.length
        ? r2(v.chipTempsC.reduce((a, b) => a + b, 0) / v.chipTempsC.length)
        : 0,
      "chip-temp-max": v.chipTempsC.length ? Math.max(...v.chipTempsC) : 0,
    },
  };
}

function handle(model: PowerModel, id: string, req: Record<string, unknown>): Reply {
  const cmd = typeof req.cmd === "string" ? req.cmd : "";
  const m = whatsminerState(model, id);
  const v = model.minerView(id);
  if (cmd === "get.device.info") return { code: 0, msg: deviceInfo({ model, id, v, m }, req.param) };
  if (cmd === "get.miner.status") {
    return { code: 0, msg: req.param === "summary" || req.param === undefined ? minerStatus(v) : {} };
  }
  if (!cmd.startsWith("set.")) return { code: -2, msg: "invalid command" };

  if (writesDenied(m)) {
    m.stats.denied++;
    return { code: -4, msg: "no permission: API write access disabled or default password in use" };
  }
  const ts = typeof req.ts === "number" ? req.ts : Number(req.ts);
  const nowS = Math.floor(model.now() / 1000);
  if (
    req.account !== "super" ||
    !Number.isFinite(ts) ||
    Math.abs(nowS - ts) > TS_SKEW_S ||
    req.token !== simV3Token({ cmd, password: m.cfg.password, salt: m.v3Salt, ts })
  ) {
    m.stats.tokenRejects++;
    return { code: -5, msg: "invalid token" };
  }
  m.stats.writes++;
  switch (cmd) {
    case "set.miner.service":
      if (req.param === "stop") model.sleep(id);
      else if (req.param === "start") model.wake(id);
      else if (req.param === "restart") rebootMiner(model, m);
      else return { code: -1, msg: "invalid param" };
      return { code: 0, msg: "ok" };
    case "set.miner.power_limit": {
      const w = Number(req.param);
      if (!validPowerLimit(v.model.nominalW, w))
        return { code: -1, msg: "invalid param: power limit out of range" };
      model.setPowerLimit(id, Math.round(w));
      return { code: 0, msg: "ok" };
    }
    case "set.system.reboot":
      rebootMiner(model, m);
      return { code: 0, msg: "ok" };
    case "set.system.led":
      if (req.param === "auto") model.leds.off(id);
      else if (Array.isArray(req.param) && req.param.length > 0) model.leds.on(id);
      else return { code: -1, msg: "invalid param" };
      return { code: 0, msg: "ok" };
    default:
      return { code: -2, msg: "invalid command" };
  }
}

export async function startWhatsminerV3Sim(opts: {
  model: PowerModel;
  miners: WhatsminerV3SimMiner[];
  logger?: Logger;
}): Promise<WhatsminerV3Sim> {
  const { model } = opts;
  const log = (opts.logger ?? pino({ level: "silent" })).child({ component: "sim-whatsminer-v3" });

  function onConnection(e: FollowingEntry, sock: net.Socket): void {
    e.sockets.add(sock);
    const reader = simFrameReader();
    sock.setNoDelay(true);
    sock.setTimeout(IDLE_MS, () => sock.destroy());
    sock.on("data", (chunk: Buffer) => {
      const frames = reader.feed(chunk);
      if (!frames) {
        sock.destroy();
        return;
      }
      for (const f of frames) {
        let reply: Reply;
        let desc = "";
        try {
          const req = JSON.parse(f.toString("utf8")) as Record<string, unknown>;
          desc = typeof req?.cmd === "string" ? req.cmd : "";
          reply = handle(model, e.id, req ?? {});
        } catch (err) {
          if (err instanceof SyntaxError) reply = { code: -3, msg: "invalid json" };
          else {
            log.debug({ miner: e.id, err }, "reply failed");
            sock.destroy();
            return;
          }
        }
        const when = Math.floor(model.now() / 1000);
        sock.write(simFrame(JSON.stringify({ code: reply.code, when, msg: reply.msg, desc })));
      }
    });
    sock.on("end", () => sock.end());
    sock.on("error", (err) => log.trace({ miner: e.id, err }, "socket error"));
    sock.on("close", () => e.sockets.delete(sock));
  }

  const listeners = new FaultFollowingListeners<FollowingEntry>({
    label: "whatsminer v3 sim",
    model,
    log,
    listen: (e) =>
      bindListener(
        e,
        net.createServer((s) => onConnection(e, s)),
        { label: "whatsminer v3 sim", log: log },
      ),
    onStop: () => cancelWhatsminerTimers(model),
  });
  for (const cfg of opts.miners) {
    if (!model.hasMiner(cfg.id)) model.addMiner(cfg.id, "whatsminer-m50s");
    whatsminerState(model, cfg.id);
    listeners.add({ id: cfg.id, host: cfg.host, port: cfg.port ?? 4433 });
  }
  await listeners.start();
  return listeners;
}
