// Simulated Whatsminer API v2 (btminer) on the CGMiner port, as a SimDialect:
// - plaintext reads with Whatsminer field names (summary, devs, pools,
//   devdetails, version) in the cgminer envelope, accepting `cmd` or `command`;
// - `status`, `get_version`, `get_token` in the flat envelope (STATUS a string,
//   Msg an object); `get_*` and `status` cannot be joined with `+`;
// - encrypted writes `{"enc":1,"data":…}` checked against issued tokens
//   (md5-crypt + AES-256-ECB), answered `{"enc":"…"}`; refusals in plaintext;
// - quirks: `""temp0` (missing comma) in devs, and summaries with many
//   `Error Code N` cut at the reply buffer limit.
import type { SimCall, SimDialect } from "../cgminer/dialects/types.ts";
import {
  CODE,
  errorReply,
  Fixed,
  type Item,
  mhsWindows,
  poolsReply,
  type Reply,
  type ReplyContext,
  renderJoined,
  renderJson,
} from "../cgminer/replies.ts";
import type { MinerView, PowerModel } from "../power-model.ts";
import { simMd5Crypt, simOpen, simSeal } from "./codec.ts";
import {
  ledstat,
  rebootMiner,
  saltChars,
  validPowerLimit,
  type WhatsminerSimMiner,
  whatsminerState,
  writesDenied,
} from "./state.ts";

const WM_DESCRIPTION = "btminer";
const CODE_OK = 131;
const CODE_ERR = 132;
const CODE_TOKEN = 134;
const CODE_TOKEN_ERR = 135;
const TOKENS_PER_IP = 32;

const mhs = (ths: number) => new Fixed(ths * 1e6, 2);
const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

function fwVersion(v: MinerView): string {
  return `${v.model.firmware.compileTime}.REL`;
}

function summaryReply(v: MinerView, m: WhatsminerSimMiner): Reply {
  const limit = v.powerLimitW ?? Math.round(v.model.nominalW);
  const chipMax = v.chipTempsC.length ? Math.max(...v.chipTempsC) : 0;
  const chipMin = v.chipTempsC.length ? Math.min(...v.chipTempsC) : 0;
  const item: Item = {
    Elapsed: v.uptimeS,
    ...mhsWindows(v, 2),
    "HS RT": mhs(v.hashrateThs),
    Accepted: Math.floor(v.workTh / 281),
    Rejected: Math.floor(v.workTh / 281 / 1500),
    "Total MH": new Fixed(v.workTh * 1e6, 4),
    Temperature: new Fixed(avg(v.boardTempsC), 2),
    freq_avg: v.state === "hashing" ? 590 : 0,
    "Fan Speed In": v.fanRpm[0] ?? 0,
    "Fan Speed Out": v.fanRpm[1] ?? v.fanRpm[0] ?? 0,
    Power: Math.round(v.powerW),
    "Power Rate": new Fixed(v.hashrateThs > 0 ? v.powerW / v.hashrateThs : 0, 2),
    "Pool Rejected%": new Fixed(0.05, 4),
    "Pool Stale%": new Fixed(0, 4),
    "Last getwork": 0,
    Uptime: v.uptimeS,
    "Security Mode": 0,
    "Hash Stable": v.state === "hashing",
    "Hash Stable Cost Seconds": 1800,
    "Hash Deviation%": new Fixed(0.1, 4),
    "Target Freq": 590,
    "Target MHS": mhs(v.expectedThs),
    "Env Temp": new Fixed(25, 2),
    "Power Mode": "Normal",
    "Factory GHS": Math.round(v.expectedThs * 1000),
    "Power Limit": limit,
    "Chip Temp Min": new Fixed(chipMin, 2),
    "Chip Temp Max": new Fixed(chipMax, 2),
    "Chip Temp Avg": new Fixed(avg(v.chipTempsC), 2),
    Debug: "-0.0_100.0_360",
    "Btminer Fast Boot": "disable",
  };
  for (let i = 0; i < m.cfg.errorCodes; i++) item[`Error Code ${i}`] = 2000 + (i % 900);
  return {
    severity: "S",
    code: CODE.SUMM,
    msg: "Summary",
    section: { name: "SUMMARY", textPrefix: true, items: [item] },
  };
}

function devsReply(v: MinerView): Reply {
  const items: Item[] = v.chainRatesThs.map((rate, i) => ({
    ASC: i,
    Name: "SM",
    ID: i,
    Slot: i,
    Enabled: "Y",
    Status: v.state === "faulted" ? "Dead" : "Alive",
    Temperature: new Fixed(v.boardTempsC[i] ?? 0, 2),
    "Chip Frequency": v.state === "hashing" ? 590 : 0,
    "MHS av": mhs(v.avgHashrateThs / v.chainRatesThs.length),
    "MHS 5s": mhs(rate),
    "MHS 1m": mhs(rate),
    "MHS 5m": mhs(rate),
    "MHS 15m": mhs(rate),
    "HS RT": mhs(rate),
    "Factory GHS": Math.round((v.expectedThs / v.chainRatesThs.length) * 1000),
    "Upfreq Complete": 1,
    "Effective Chips": v.state === "hashing" || v.state === "starting" ? v.model.chipsPerChain : 0,
    "PCB SN": `HEM${v.id.replace(/[^A-Za-z0-9]/g, "").toUpperCase()}${i}`.slice(0, 16),
    temp0: new Fixed(v.chipTempsC[i] ?? 0, 2),
    "Chip Temp Min": new Fixed((v.chipTempsC[i] ?? 0) - 4, 2),
    "Chip Temp Max": new Fixed((v.chipTempsC[i] ?? 0) + 3, 2),
    "Chip Temp Avg": new Fixed(v.chipTempsC[i] ?? 0, 2),
  }));
  return {
    severity: "S",
    code: CODE.DEVS,
    msg: `${items.length} ASC(s)`,
    section: { name: "DEVS", textPrefix: false, items },
  };
}

function devdetailsReply(v: MinerView): Reply {
  const items: Item[] = v.chainRatesThs.map((_, i) => ({
    DEVDETAILS: i,
    Name: "SM",
    ID: i,
    Driver: "bitmicro",
    Kernel: "",
    Model: v.model.type,
  }));
  return {
    severity: "S",
    code: CODE.DEVDETAILS,
    msg: "Device Details",
    section: { name: "DEVDETAILS", textPrefix: false, items },
  };
}

function versionReply(v: MinerView): Reply {
  return {
    severity: "S",
    code: CODE.VERSION,
    msg: "BTMiner versions",
    section: {
      name: "VERSION",
      textPrefix: true,
      items: [{ Miner: v.model.firmware.miner, API: "2.0.5", Type: v.model.type, Firmware: fwVersion(v) }],
    },
  };
}

type ReadHandler = (v: MinerView, m: WhatsminerSimMiner) => Reply;
const READS: Record<string, ReadHandler> = {
  summary: summaryReply,
  devs: (v) => devsReply(v),
  pools: (v) => poolsReply(v, { statsQuirk: false, poolUser: `wattkeeper.${v.id}` }),
  devdetails: (v) => devdetailsReply(v),
  version: (v) => versionReply(v),
};
const FLAT = new Set(["status", "get_version", "get_token", "get_miner_info"]);

/** A set_led pattern the firmware takes: red or green, and whole milliseconds. */
function ledPattern(req: Record<string, unknown>): boolean {
  const ms = (v: unknown) => Number.isInteger(Number(v)) && Number(v) >= 0;
  return (
    (req.color === "red" || req.color === "green") && ms(req.period) && ms(req.duration) && ms(req.start)
  );
}

/** The flat v2 envelope: STATUS a string, Msg a string or an object. */
function flat(
  when: number,
  { letter, code, msg }: { letter: "S" | "E"; code: number; msg: unknown },
): string {
  return JSON.stringify({ STATUS: letter, When: when, Code: code, Msg: msg, Description: "" });
}

/** Applies the reply-side quirks: the devs missing comma and the buffer cut. */
function quirks(out: string, m: WhatsminerSimMiner): string {
  if (m.cfg.devsQuirk) out = out.replace(/","temp0":/g, '""temp0":');
  if (out.length > m.cfg.replyLimitBytes) out = out.slice(0, m.cfg.replyLimitBytes);
  return out;
}

function obsoleteMsg(): string {
  return "API v2 is obsolete on this firmware: use API v3 (port 4433)";
}

/** A write token for the client at `ip`, issued at `when` (s). */
function issueToken(
  m: WhatsminerSimMiner,
  { model, ip, when }: { model: PowerModel; ip: string; when: number },
): string {
  const now = model.now();
  m.tokens = m.tokens.filter((t) => now - t.issuedAt < m.cfg.tokenTtlMs);
  const mine = m.tokens.filter((t) => t.ip === ip);
  if (mine.length >= TOKENS_PER_IP) m.tokens.splice(m.tokens.indexOf(mine[0]!), 1);
  const time = String(when);
  const newsalt = saltChars(8);
  const key = simMd5Crypt(m.cfg.password, m.salt);
  m.tokens.push({ sign: simMd5Crypt(key + time, newsalt), issuedAt: now, ip });
  m.stats.tokensIssued++;
  return flat(when, { letter: "S", code: CODE_TOKEN, msg: { time, salt: m.salt, newsalt } });
}

/** Who is answering: the call, the unit's own state and the reply's time (s). */
interface Answering<C extends keyof SimCall> {
  call: Pick<SimCall, C>;
  m: WhatsminerSimMiner;
  when: number;
}

function flatRead(
  cmd: string,
  { call, m, when }: Answering<"id" | "view" | "model" | "remoteAddress">,
): string {
  const v = call.view;
  switch (cmd) {
    case "status":
      return flat(when, {
        letter: "S",
        code: CODE_OK,
        msg: {
          mineroff: v.state === "sleeping" ? "true" : "false",
          mineroff_reason: v.state === "sleeping" ? "power_off by API" : "",
          mineroff_time: "",
          FirmwareVersion: `'${fwVersion(v)}'`,
          power_mode: "",
          hash_percent: "",
        },
      });
    case "get_miner_info":
      return flat(when, {
        letter: "S",
        code: CODE_OK,
        msg: {
          ip: "",
          proto: "dhcp",
          netmask: "255.255.255.0",
          hostname: "WhatsMiner",
          mac: "C6:07:20:00:1A:2B",
          ledstat: ledstat(call.model, call.id),
        },
      });
    case "get_version":
      return flat(when, {
        letter: "S",
        code: CODE_OK,
        msg: {
          api_ver: "2.0.5",
          fw_ver: fwVersion(v),
          platform: "H6OS",
          chip: "K58",
        },
      });
    default: // get_token
      if (m.cfg.v2Writes === "obsolete") return flat(when, { letter: "E", code: 14, msg: obsoleteMsg() });
      return issueToken(m, { model: call.model, ip: call.remoteAddress, when });
  }
}

/** Runs one decrypted write command; returns the plaintext reply (to be encrypted). */
function runWrite(
  cmd: string,
  req: Record<string, unknown>,
  { call, m, when }: Answering<"id" | "view" | "model">,
): string {
  const { model, id, view } = call;
  const ok = (msg = "API command OK") => flat(when, { letter: "S", code: CODE_OK, msg: msg });
  m.stats.writes++;
  switch (cmd) {
    case "power_off":
      model.sleep(id);
      return ok();
    case "power_on":
      model.wake(id);
      return ok();
    case "adjust_power_limit": {
      const w = Number(req.power_limit);
      if (!validPowerLimit(view.model.nominalW, w))
        return flat(when, { letter: "E", code: CODE_ERR, msg: "power_limit out of range" });
      // the firmware applies a new limit by rebooting
      rebootMiner(model, m, () => model.setPowerLimit(id, Math.round(w)));
      return ok();
    }
    case "reboot":
      rebootMiner(model, m);
      return ok();
    case "set_led":
      // "auto" gives the LED back to the firmware; a pattern holds until told otherwise
      if (req.param === "auto") model.leds.off(id);
      else if (ledPattern(req)) model.leds.on(id);
      else return flat(when, { letter: "E", code: CODE_ERR, msg: "invalid led param" });
      return ok();
    default:
      return flat(when, { letter: "E", code: CODE_ERR, msg: "invalid cmd" });
  }
}

function answerEncrypted(req: Record<string, unknown>, who: Answering<"id" | "view" | "model">): string {
  const { call, m, when } = who;
  if (m.cfg.v2Writes === "obsolete") return flat(when, { letter: "E", code: 14, msg: obsoleteMsg() });
  if (writesDenied(m)) {
    m.stats.denied++;
    return flat(when, { letter: "E", code: 45, msg: "can't access write cmd" });
  }
  const reject = () => {
    m.stats.tokenRejects++;
    return flat(when, { letter: "E", code: CODE_TOKEN_ERR, msg: "check token err" });
  };
  if (typeof req.data !== "string") return reject();
  const plain = simOpen(req.data, m.aesKey());
  let inner: Record<string, unknown>;
  try {
    inner = JSON.parse(plain ?? "") as Record<string, unknown>;
  } catch {
    return reject(); // a wrong password gives a wrong AES key: garbage
  }
  const now = call.model.now();
  m.tokens = m.tokens.filter((t) => now - t.issuedAt < m.cfg.tokenTtlMs);
  if (typeof inner.token !== "string" || !m.tokens.some((t) => t.sign === inner.token)) return reject();
  const cmd = typeof inner.cmd === "string" ? inner.cmd : "";
  const reply = runWrite(cmd, inner, who);
  return JSON.stringify({ enc: simSeal(reply, m.aesKey()) });
}

function answerRaw(call: Omit<SimCall, "command" | "param">, raw: Buffer): string | null {
  if (raw[0] !== 0x7b) return null; // text form: the stock parser with our handlers
  let req: Record<string, unknown>;
  try {
    req = JSON.parse(raw.toString("utf8").replace(/[\s\0]+$/, "")) as Record<string, unknown>;
  } catch {
    return null; // the stock server answers Code 23
  }
  if (!req || typeof req !== "object") return null;
  const m = whatsminerState(call.model, call.id);
  const when = Math.floor(call.model.now() / 1000);
  const ctx: ReplyContext = { when, description: WM_DESCRIPTION };
  if (req.enc !== undefined) return answerEncrypted(req, { call, m, when });
  const cmd = typeof req.cmd === "string" ? req.cmd : typeof req.command === "string" ? req.command : null;
  if (cmd === null) return renderJson(errorReply(CODE.MISCMD, "Missing JSON 'command'"), ctx);
  if (cmd.includes("+")) {
    const names = [...new Set(cmd.split("+").filter((c) => c !== ""))];
    // btminer cannot join get_* or status
    if (names.some((c) => c.startsWith("get_") || FLAT.has(c))) {
      return renderJson(errorReply(CODE.INVCMD, "Invalid command"), ctx);
    }
    const parts = names.map((c) => {
      const h = READS[c];
      return { cmd: c, reply: h ? h(call.view, m) : errorReply(CODE.INVCMD, "Invalid command") };
    });
    return quirks(renderJoined(parts, ctx, true), m);
  }
  if (FLAT.has(cmd)) return flatRead(cmd, { call, m, when });
  const h = READS[cmd];
  if (h) return quirks(renderJson(h(call.view, m), ctx), m);
  return renderJson(errorReply(CODE.INVCMD, "Invalid command"), ctx);
}

export const whatsminerSimDialect: SimDialect = {
  name: "whatsminer",
  description: WM_DESCRIPTION,
  // text-form requests go through the stock parser with these handlers
  handlers: Object.fromEntries(
    Object.entries(READS).map(([name, h]) => [
      name,
      (c: SimCall) => h(c.view, whatsminerState(c.model, c.id)),
    ]),
  ),
  answerRaw,
};
