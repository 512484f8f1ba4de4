// The simulated ePIC UMC unit's JSON bodies, built from the power model's view
// of one miner: GET /summary, /capabilities, /temps/chip, and the errors. The
// shapes follow ePIC's OpenAPI (UMC API 1.22.5 and 1.30.0) and a PowerPlay-BMS
// 1.5.13 capture (asic-rs test data); the figures are the model's.
//
// Firmware variants:
// - "1.30": errors as the bare variant name ("BadPassword"), or {"Variant": data}.
// - "1.22": every error as {"Variant": "text"} ({"BadPassword": "Authentication failed"}).
// - "drifted": a made-up later build whose summary changed shape ("Input Power"
//   as a string with its unit, Session."Uptime" renamed): a driver must notice.
import type { MinerView } from "../power-model.ts";

export type EpicFirmware = "1.30" | "1.22" | "drifted";

/** What the made-up drifted build calls itself. */
const DRIFTED_SOFTWARE = "PowerPlay-BMS v2.0.0";

/** What the unit's tuner runs when no power target is set: a hashrate target (TH/s). */
interface HashrateTune {
  algo: "VoltageOptimizer" | "ChipTune" | "BoardTune";
  targetThs: number;
}

export interface UnitState {
  firmware: EpicFirmware;
  software: string;
  hostname: string;
  /** Whether /capabilities lists the "Power" tuner algorithm (and /perpetualtune/algo takes it). */
  powerTuning: boolean;
  hashrateTune: HashrateTune;
  pools: Array<{ pool: string; login: string; password: string }>;
  lastCommand: string | null;
  lastCommandResult: string | null;
}

const ERROR_TEXT: Record<string, string> = {
  BadPassword: "Authentication failed",
  MissingParam: "Missing param",
  LastCmdStillPending: "Last command is still pending",
  NoHashboardsConnected: "there is no hashboard connected",
  NoHashboardsEnabled: "there is no hashboard enabled",
};

/** An ApiError/MinerError without data, as this firmware writes it. */
export function epicError(fw: EpicFirmware, variant: string): unknown {
  return fw === "1.22" ? { [variant]: ERROR_TEXT[variant] ?? variant } : variant;
}

/** An error variant that carries a text ({"UnknownError": "…"}), the same in both versions. */
export function epicErrorWithText(variant: string, text: string): unknown {
  return { [variant]: text };
}

/** The tuner's power range the sim's units report (W): half to 110 % of nominal. */
export function powerRange(view: MinerView): { min: number; max: number } {
  return { min: Math.round(view.model.nominalW * 0.5), max: Math.round(view.model.nominalW * 1.1) };
}

function operatingState(view: MinerView): string {
  switch (view.state) {
    case "hashing":
      return view.hashboards === "ok" ? "Mining" : "Idling";
    case "starting":
      return "Initializing";
    default:
      return "Idling";
  }
}

function lastError(fw: EpicFirmware, view: MinerView): unknown {
  if (view.state !== "hashing" || view.hashboards === "ok") return null;
  return epicError(fw, view.hashboards === "disabled" ? "NoHashboardsEnabled" : "NoHashboardsConnected");
}

function tuneSummary(u: UnitState, view: MinerView): Record<string, unknown> {
  // the model holds the power target, whoever set it
  if (view.powerLimitW !== null) {
    return {
      Running: true,
      Algorithm: {
        Power: {
          "Min Throttle Target": null,
          Optimized: view.state === "hashing",
          Target: Math.round(view.powerLimitW),
          "Throttle Step": null,
          "Throttle Target": null,
          Unit: "W",
        },
      },
    };
  }
  return {
    Running: true,
    Algorithm: {
      [u.hashrateTune.algo]: {
        "Min Throttle Target": 50,
        Optimized: view.state === "hashing",
        Target: u.hashrateTune.targetThs,
        "Throttle Step": 5,
        "Throttle Target": null,
        Unit: "TH/s",
      },
    },
  };
}

export function summaryBody(
  u: UnitState,
  view: MinerView,
  { nowMs, locating = false }: { nowMs: number; locating?: boolean },
): Record<string, unknown> {
  const mining = operatingState(view) === "Mining";
  const boards = view.boardTempsC.map((t, i) => {
    const mhs = mining ? Math.round((view.chainRatesThs[i] ?? 0) * 1e6) : 0;
    const ideal = view.expectedThs / Math.max(1, view.boardTempsC.length);
    return {
      "Core Clock": [],
      "Core Clock Avg": mining ? 487.5 : 0,
      Hashrate: [mhs, ideal > 0 ? Math.round((mhs / 1e6 / ideal) * 1000) / 10 : 0, 0.8],
      Index: i,
      "Input Current": 0,
      "Input Power": 0,
      "Input Voltage": 12.6,
      "Output Current": 0,
      "Output Power": 0,
      "Output Voltage": 0,
      Temperature: t,
    };
  });
  const fans: Record<string, number | null> = {};
  for (let i = 1; i <= 12; i++) fans[`Fans Speed ${i}`] = view.fanRpm[i - 1] ?? null;
  const startupS = Math.floor(nowMs / 1000) - view.uptimeS;
  const powerW = Math.round(view.powerW * 100) / 100;
  const body: Record<string, unknown> = {
    "Disable Board On Failure": true,
    "Enable Boards On Idle": false,
    Fans: {
      "Fan Mode": { Auto: { "Idle Speed": 20, "Target Temperature": 60 } },
      "Fans Speed": 100,
      "Minimum Working Fans": 0,
    },
    "Fans Rpm": fans,
    HBStatus: boards.map((_, i) => ({ Detected: view.hashboards !== "none", Enabled: mining, Index: i })),
    HBs: boards,
    Hostname: u.hostname,
    HwConfig: { "Boards Target Clock": boards.map((_, i) => ({ Data: 485, Index: i })) },
    IdleOnConnectionLost: true,
    "Last License Error": null,
    Mining: { Algorithm: "SHA-256", Coin: "BTC" },
    Misc: { "Critical Temp": 100, "Locate Miner State": locating, "Shutdown Temp": 85 },
    "OS Type": "umcOS",
    Overdrive: false,
    PerpetualTune: tuneSummary(u, view),
    "Power Supply Stats": {
      "Input Current": 0,
      "Input Power": powerW,
      "Input Voltage": 0,
      "Output Current": 0,
      "Output Power": 0,
      "Output Voltage": 12.595,
      "Target Voltage": 12600,
    },
    PresetInfo: { "Target Power": Math.round(view.model.nominalW) },
    Session: {
      Accepted: Math.floor(view.workTh / 50),
      "Active HBs": mining ? boards.length : 0,
      "Average MHs": Math.round(view.avgHashrateThs * 1e6),
      Difficulty: 262144,
      "Last Accepted Share Timer": mining ? 25 : null,
      "Last Accepted Share Timestamp": mining ? Math.floor(nowMs / 1000) - 25 : null,
      "Last Work Timer": mining ? 3 : null,
      "Last Work Timestamp": mining ? Math.floor(nowMs / 1000) - 3 : null,
      LastAverageMHs: null,
      Rejected: 0,
      "Startup String": new Date(startupS * 1000).toUTCString(),
      "Startup Timestamp": startupS,
      Submitted: Math.floor(view.workTh / 50),
      Uptime: view.uptimeS,
      WorkReceived: Math.floor(view.uptimeS / 30),
    },
    Software: u.firmware === "drifted" ? DRIFTED_SOFTWARE : u.software,
    Status: {
      "Last Command": u.lastCommand,
      "Last Command Result": u.lastCommandResult,
      "Last Error": lastError(u.firmware, view),
      "Operating State": operatingState(view),
    },
    Stratum: {
      "Average Latency": 0.038,
      "Config Id": 0,
      "Current Pool": (u.pools[0]?.pool ?? "").replace(/^[a-z+]+:\/\//, ""),
      "Current User": u.pools[0]?.login ?? "",
      IsPoolConnected: u.pools.length > 0,
      "Worker Unique Id": false,
      "Worker Unique Id Variant": "IpAddress",
    },
    StratumConfigs: u.pools.map((p) => ({ ...p })),
  };
  if (u.firmware !== "1.22") body["PreInitCooldown Max Duration"] = 300;
  if (u.firmware === "drifted") {
    (body["Power Supply Stats"] as Record<string, unknown>)["Input Power"] = `${powerW} W`;
    const session = body.Session as Record<string, unknown>;
    session["Uptime Secs"] = session.Uptime;
    delete session.Uptime;
  }
  return body;
}

export function capabilitiesBody(u: UnitState, view: MinerView): Record<string, unknown> {
  const ths = Math.round(view.model.nominalThs);
  const hashrateRange = { min: Math.round(ths * 0.4), max: Math.round(ths * 1.5) };
  const tuners: Array<Record<string, unknown>> = [
    {
      algorithm: "VoltageOptimizer",
      name: "Voltage Optimizer",
      description: "Hashrate target, voltage tuned.",
      ...hashrateRange,
    },
    {
      algorithm: "ChipTune",
      name: "Chip Tune",
      description: "Hashrate target, chip clocks tuned.",
      ...hashrateRange,
    },
    {
      algorithm: "BoardTune",
      name: "Board Tune",
      description: "Hashrate target, board clocks tuned.",
      ...hashrateRange,
    },
  ];
  if (u.powerTuning) {
    const r = powerRange(view);
    tuners.push({
      algorithm: "Power",
      name: "Power",
      description: "Power target in watts.",
      min: r.min,
      max: r.max,
    });
  }
  const nominalW = view.model.nominalW;
  return {
    "Board Serial Numbers": view.boardTempsC.map((_, i) => `SIM${view.id.toUpperCase()}B${i}`.slice(0, 17)),
    "Chip Type": "BM1366",
    "Chips Per Bank": 10,
    Coins: ["BTC"],
    "Control Board Version": {
      cpuHardware: "STM32 (Device Tree Support)",
      cpuSerial: "sim",
      somBoardVersion: "7.1.0",
    },
    "Default Clock": 485,
    "Default Hashrate": ths,
    "Default Voltage": 12900,
    Display: ["ClksAndVoltage", "ShutdownTemp", "PerpetualTune"],
    "Max Clock Configs": 1,
    "Max HBs": view.model.chains,
    Model: view.model.type,
    "Model Subtype": null,
    "Performance Estimator": { "Chip Count": view.model.chipsPerChain, "Hashes Per Second Per Chip": 894 },
    PerpetualTune: tuners,
    "Psu Info": { FW: 25, "Max Vout": 15182, "Min Vout": 11877, "PSU Type": 118 },
    "Temp Sensor Info": { Count: view.model.chains, Type: "Board" },
    "Tune Presets": [0.6, 0.8, 1].map((f) => ({
      clk: Math.round(485 * f),
      hashrate: Math.round(ths * f),
      power: Math.round(nominalW * f),
      voltage: 12300 + Math.round(600 * f),
    })),
    "Voltage Estimator": { Slope: 0.0041, "Y Intercept": 11 },
  };
}

/** GET /temps/chip: every board's chips around its chip temperature (0 while the boards are off). */
export function chipTempsBody(view: MinerView): unknown[] {
  return view.chipTempsC.map((t, i) => ({
    Data: Array.from({ length: 8 }, (_, c) => (view.state === "hashing" ? t - (c % 4) : 0)),
    Index: i,
    Total: 0,
  }));
}
