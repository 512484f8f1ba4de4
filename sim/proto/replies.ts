// The MDK API reply bodies of the simulated Proto rig (sim/proto/server.ts),
// built from the power model's view of one miner, in the field names and
// units of the OpenAPI spec (1.8), with the drifted firmware's variants.
import type { MinerView } from "../power-model.ts";

/** The rig's default API port in this sim's site (Proto Fleet finds rigs on 443). */
export const PROTO_SIM_DEFAULT_PORT = 443;
export const PROTO_SIM_PASSWORD = "proto-sim-pass";
const PROTO_SIM_VERSION = "1.8.2";
const PROTO_SIM_DRIFT_VERSION = "1.9.0-sim";

/** power-as-string: power_usage_watts sent as "3400"; status-renamed: `mining_status`; auth-changed: login answers {token}. */
type ProtoDrift = "power-as-string" | "status-renamed" | "auth-changed";

export interface ProtoQuirks {
  /** The login password (default PROTO_SIM_PASSWORD). */
  password: string;
  /** Access-token life (its `exp`); default 3600 s. */
  tokenTtlS: number;
  /** Every answer this late (ms): a busy rig. */
  replyDelayMs: number;
  /** A firmware whose replies changed shape (reports PROTO_SIM_DRIFT_VERSION); null = as the spec. */
  drift: ProtoDrift | null;
  /** Targets above this many watts answered 422 (a firmware that cannot raise its target); null = none. */
  refuseTargetAboveW: number | null;
  /** power_target_min_watts / _max_watts (default 2000 / 4000, Proto Fleet's simulator). */
  minTargetW: number;
  maxTargetW: number;
  /** How long a reboot keeps the rig off the network. */
  rebootMs: number;
}

/** What the reply builders need of a rig. */
export interface RigInfo {
  id: string;
  q: ProtoQuirks;
}

const version = (r: RigInfo) => (r.q.drift ? PROTO_SIM_DRIFT_VERSION : PROTO_SIM_VERSION);
const targetOf = (r: RigInfo, v: MinerView) =>
  Math.round(v.powerLimitW ?? Math.min(v.model.nominalW, r.q.maxTargetW));

export function systemInfo(r: RigInfo, v: MinerView) {
  return {
    "system-info": {
      product_name: v.model.type,
      manufacturer: "Proto",
      model: "Rig",
      os: { name: "BTCM Linux Distribution", version: version(r), variant: "release" },
      mining_driver_sw: { name: "mining-driver", version: version(r) },
      uptime_seconds: v.uptimeS,
      board: "C3",
      cb_sn: `SIM${r.id.toUpperCase().replace(/[^A-Z0-9]/g, "")}`,
    },
  };
}

export function miningStatus(r: RigInfo, v: MinerView) {
  const status =
    v.state === "sleeping"
      ? "Stopped"
      : v.state === "starting"
        ? "PoweringOn"
        : v.hashboards === "ok"
          ? "Mining"
          : v.hashboards === "disabled"
            ? "Stopped"
            : "Error";
  const watts = Math.round(v.powerW);
  const inner = {
    status,
    mining_uptime_s: v.state === "hashing" ? v.uptimeS : 0,
    reboot_uptime_s: v.uptimeS,
    average_hashrate_ghs: Math.round(v.avgHashrateThs * 1000 * 10) / 10,
    ideal_hashrate_ghs: Math.round(v.expectedThs * 1000),
    power_usage_watts: r.q.drift === "power-as-string" ? String(watts) : watts,
    power_target_watts: targetOf(r, v),
    average_asic_temp_c: Math.max(...v.chipTempsC),
    average_hb_temp_c: v.boardTempsC.reduce((a, b) => a + b, 0) / Math.max(1, v.boardTempsC.length),
    hw_errors: 0,
    hashboards_installed: v.model.chains,
    hashboards_mining: v.state === "hashing" && v.hashboards === "ok" ? v.model.chains : 0,
  };
  return r.q.drift === "status-renamed" ? { mining_status: inner } : { "mining-status": inner };
}

export function target(r: RigInfo, v: MinerView) {
  return {
    power_target_watts: targetOf(r, v),
    performance_mode: "MaximumHashrate",
    balance_bays: false,
    power_target_min_watts: r.q.minTargetW,
    power_target_max_watts: r.q.maxTargetW,
    default_power_target_watts: Math.min(v.model.nominalW, r.q.maxTargetW),
    hash_on_disconnect: false,
  };
}

export function telemetry(v: MinerView, nowMs: number) {
  const metric = (value: number, unit: string) => ({ value: Math.round(value * 100) / 100, unit });
  return {
    timestamp: new Date(nowMs).toISOString(),
    miner: {
      hashrate: metric(v.hashrateThs, "TH/s"),
      temperature: metric(Math.max(...v.boardTempsC), "°C"),
      power: metric(v.powerW, "W"),
      efficiency: metric(v.hashrateThs > 0 ? v.powerW / v.hashrateThs : 0, "J/TH"),
    },
    hashboards: v.boardTempsC.map((pcb, i) => ({
      index: i,
      serial_number: `HB${i}`,
      hashrate: metric(v.chainRatesThs[i] ?? 0, "TH/s"),
      temperature: { unit: "°C", inlet: pcb - 8, outlet: pcb + 6, average: pcb },
      power: metric(v.powerW / v.boardTempsC.length, "W"),
      efficiency: metric(0, "J/TH"),
      // a few ASICs per board are enough to show a spread around the chip temperature
      asics: {
        hashrate: { unit: "TH/s", values: [0, 1, 2, 3].map(() => (v.chainRatesThs[i] ?? 0) / 120) },
        temperature: { unit: "°C", values: [0, 1, 2, 3].map((k) => (v.chipTempsC[i] ?? pcb) - k) },
      },
    })),
  };
}

export function cooling(v: MinerView) {
  const fans = v.fanRpm.map((rpm, i) => ({ slot: i + 1, rpm, percentage: 60 }));
  return { "cooling-status": { fan_mode: "Auto", target_temperature_c: 50, fans } };
}

export function pools(r: RigInfo) {
  const pool = {
    id: 0,
    name: "",
    priority: 0,
    url: "stratum+tcp://pool.sim.invalid:3333",
    user: `wattkeeper.${r.id}`,
    status: "Active",
    protocol: "Stratum V1",
  };
  return { pools: [pool] };
}
