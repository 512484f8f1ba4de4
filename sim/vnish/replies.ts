// The VNish sim's reply bodies (its own encoders): /summary and /info from one
// sample of the power model, the preset list a unit offers, the uptime text.
// Field names and forms follow the VNish 1.2.6 API reference (docs/research.md).
import type { MinerView } from "../power-model.ts";

export interface ReplyQuirks {
  version: string;
  /** Numbers in /summary sent as strings (a drifted firmware). */
  numbersAsStrings: boolean;
  powerField: "both" | "power_consumption" | "power_usage";
}

/** The presets a unit offers: "disabled", then steps around its nominal draw. */
export function vnishPresets(v: MinerView, withSteps: boolean) {
  const out: Array<{ name: string; pretty: string; status: string; modded_psu_required: boolean }> = [
    { name: "disabled", pretty: "Disabled", status: "untuned", modded_psu_required: false },
  ];
  if (!withSteps) return out;
  for (const f of [0.55, 0.65, 0.75, 0.85, 0.95, 1.05, 1.2]) {
    const watts = Math.round((v.model.nominalW * f) / 10) * 10;
    const ths = Math.round(v.model.nominalThs * f ** 0.8);
    out.push({
      name: String(watts),
      pretty: `${watts} watt ~ ${ths} TH`,
      status: f === 1.2 ? "untuned" : "tuned",
      // the top step needs a stronger PSU, as the biggest presets do on real units
      modded_psu_required: f === 1.2,
    });
  }
  return out;
}

function uptimeText(s: number): string {
  const days = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const hm = `${h}:${String(m).padStart(2, "0")}`;
  return days > 0 ? `${days} day${days === 1 ? "" : "s"}, ${hm}` : hm;
}

export function summaryReply(
  id: string,
  v: MinerView,
  { state, quirks: q }: { state: string; quirks: ReplyQuirks },
): unknown {
  const n = (x: number) => (q.numbersAsStrings ? String(x) : x);
  const miner: Record<string, unknown> = {
    miner_status: { miner_state: state, miner_state_time: 60 },
    miner_type: `${v.model.type} (Vnish ${q.version})`,
    hr_stock: n(Math.round(v.expectedThs * 1000)),
    hr_realtime: n(Math.round(v.hashrateThs * 1000 * 100) / 100),
    hr_average: n(Math.round(v.avgHashrateThs * 1000 * 100) / 100),
    power_efficiency: n(v.hashrateThs > 0 ? Math.round((v.powerW / v.hashrateThs) * 10) / 10 : 0),
    chains: v.boardTempsC.map((pcb, i) => ({
      id: i + 1,
      hashrate_rt: n(Math.round((v.chainRatesThs[i] ?? 0) * 1000)),
      pcb_temp: { min: n(pcb - 3), max: n(pcb) },
      chip_temp: { min: n((v.chipTempsC[i] ?? pcb) - 4), max: n(v.chipTempsC[i] ?? pcb) },
      status: { state: state === "mining" ? "mining" : "stopped" },
    })),
    cooling: {
      fan_num: v.fanRpm.length,
      fans: v.fanRpm.map((rpm, i) => ({ id: i, rpm: n(rpm), status: "ok", max_rpm: 6000 })),
      settings: { mode: { name: "auto" } },
      fan_duty: v.state === "hashing" ? 80 : 10,
    },
    pools: [
      {
        id: 0,
        url: "DevFee",
        pool_type: "DevFee",
        user: "DevFee",
        status: "working",
        accepted: 1,
        rejected: 0,
      },
      {
        id: 1,
        url: "stratum+tcp://pool.sim.invalid:3333",
        pool_type: "UserPool",
        user: `wattkeeper.${id}`,
        status: "working",
        accepted: Math.floor(v.workTh / 100),
        rejected: 0,
      },
    ],
  };
  const w = n(Math.round(v.powerW));
  if (q.powerField !== "power_usage") miner.power_consumption = w;
  if (q.powerField !== "power_consumption") miner.power_usage = w;
  return { miner };
}

export function infoReply(
  { id, host }: { id: string; host: string },
  v: MinerView,
  version: string,
): unknown {
  return {
    miner: v.model.type,
    model: v.model.key,
    fw_name: "Vnish",
    fw_version: version,
    build_name: "vnishnet",
    platform: "xil",
    algorithm: "sha256d",
    hr_measure: "GH/s",
    system: {
      os: "GNU/Linux",
      miner_name: v.model.key,
      network_status: { mac: "FE:07:26:3C:BE:1B", hostname: id, ip: host },
      uptime: uptimeText(v.uptimeS),
    },
    serial: "N/A",
  };
}
