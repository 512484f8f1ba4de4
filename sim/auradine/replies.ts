// The FluxOS web API's replies, built from the power model (the sim's own
// encoders). Every reply is `{"STATUS":[{STATUS,Code,Msg,Description,When}],
// "<Section>":[…],"id":1}` as recorded from real units (asic-rs fixtures:
// mode, psu, ipreport, fan, temperature, led). Wattages are strings with a unit
// ("3452.00W"), `Mode[0].Sleep` is "on"/"off".
//
// Shapes: "current" is the above. "older" changes two types the way asic-rs
// says firmware does (Sleep a boolean, PowerIn a number); which firmware emits
// them is not documented, the name is the sim's. "drifted" is a shape nobody
// documented (Sleep an object, PowerIn an object): a driver must say so, not guess.
// Status codes for writes and errors are the sim's own choice.
import type { MinerView } from "../power-model.ts";

export type FluxShape = "current" | "older" | "drifted";

export interface FluxUnit {
  shape: FluxShape;
  version: string;
  modelName: string;
  /** PSU PoutMax (W); null = the psu reply has none. */
  maxPowerW: number | null;
  ledCode: number;
}

type Json = Record<string, unknown>;

function description(u: FluxUnit): string {
  return `${u.shape === "current" ? "FluxOS" : "GCMiner"}-${u.version}-9bf070ee4408866329c93a70f2dfdc6248938aaa`;
}

/** The STATUS envelope of every reply: S(uccess) or E(rror), with its code and message. */
export function envelope(
  u: FluxUnit,
  when: number,
  { letter, code, msg }: { letter: "S" | "E"; code: number; msg: string },
): Json {
  return {
    STATUS: [{ Code: code, Description: description(u), Msg: msg, STATUS: letter, When: when }],
    id: 1,
  };
}

const watts = (w: number) => `${w.toFixed(2)}W`;

function sleepField(u: FluxUnit, on: boolean): unknown {
  if (u.shape === "older") return on;
  if (u.shape === "drifted") return { enabled: on };
  return on ? "on" : "off";
}

export function modeReply(u: FluxUnit, v: MinerView, when: number): Json {
  const sleeping = v.state === "sleeping";
  const row: Json = { Mode: v.powerLimitW !== null ? "custom" : "normal", Sleep: sleepField(u, sleeping) };
  if (v.powerLimitW !== null) {
    row.Power = Math.round(v.powerLimitW);
    row.Ths = Math.round(v.expectedThs);
  }
  const msg = `Operating mode: '${row.Mode}', sleep: '${sleeping}'`;
  return { ...envelope(u, when, { letter: "S", code: 540, msg: msg }), Mode: [row] };
}

export function psuReply(u: FluxUnit, v: MinerView, when: number): Json {
  const row: Json = {
    FanSpeed1: `${v.state === "faulted" ? 0 : 4052}.00 RPM`,
    Iin: `${(v.powerW / 245).toFixed(2)}A`,
    PowerIn: u.shape === "current" ? watts(v.powerW) : u.shape === "older" ? v.powerW : { value: v.powerW },
    PowerOut: watts(v.powerW * 0.95),
    Vin: "245.00V",
    Vout: "11.53V",
  };
  if (u.maxPowerW !== null) row.PoutMax = watts(u.maxPowerW);
  return { ...envelope(u, when, { letter: "S", code: 570, msg: "PSU status" }), PSU: [row] };
}

export function ipReport(u: FluxUnit, { id, host }: { id: string; host: string }, when: number): Json {
  return {
    ...envelope(u, when, { letter: "S", code: 620, msg: "IP Report" }),
    IPReport: [
      {
        CBSerialNo: `AU-SIM-${id}`,
        HBSerialNo: ["QAHB-SIM-1", "QAHB-SIM-2", "QAHB-SIM-3"],
        InternalType: "T1",
        SerialNo: `AU-SIM-${id}`,
        command: "ipreport",
        hostname: `teraflux-${id}`,
        ip: host,
        mac: "1c:00:00:0e:3b:2b",
        model: u.modelName,
        version: u.version,
      },
    ],
  };
}

export function fanReply(u: FluxUnit, v: MinerView, when: number): Json {
  const fans = v.fanRpm.map((rpm, i) => ({ ID: i + 1, Max: 7700, Speed: rpm, Target: rpm > 0 ? 7000 : 0 }));
  return { ...envelope(u, when, { letter: "S", code: 510, msg: `Total fans: ${fans.length}` }), Fan: fans };
}

export function temperatureReply(u: FluxUnit, v: MinerView, when: number): Json {
  const boards = v.boardTempsC.map((pcb, i) => ({
    BoardTemp: [
      { ID: 0, Temperature: pcb - 1 },
      { ID: 1, Temperature: pcb },
    ],
    ChipTemp: [{ ID: 0, Temperature: v.chipTempsC[i] ?? pcb }],
    ID: i + 1,
    Name: `Hash Board ${i + 1}`,
  }));
  const control = { BoardTemp: [{ ID: 0, Temperature: 24.9 }], ChipTemp: null, ID: 0, Name: "Control Board" };
  return {
    ...envelope(u, when, { letter: "S", code: 590, msg: "System temperature" }),
    Temperature: [control, ...boards],
  };
}

export function ledReply(u: FluxUnit, when: number): Json {
  const msg = u.ledCode === 3 ? "Locate miner" : "Normal";
  return {
    ...envelope(u, when, { letter: "S", code: 530, msg: "Total LEDs 2" }),
    LED: [{ Code: u.ledCode, LED1: 1, LED2: 1, Msg: msg }],
  };
}
