// Home Assistant MQTT discovery, as data: which entities a site offers (the
// site itself, each GPU node, each miner location), their discovery configs,
// and the state payloads their templates read. Pure: the session
// (export.ts) publishes what this returns.
import type { DevicesView, SiteView } from "../../http/types.ts";

export interface HaContext {
  siteId: string;
  siteName: string;
  /** `<topicRoot>/<siteId>`: the site's MQTT base; HA states live under `<base>/ha/`. */
  base: string;
  /** The site's status topic (retained `{"online":…}`, the agent's will): the entities' availability. */
  statusTopic: string;
  discoveryPrefix: string;
  version: string;
  contractLimitW: number;
  minerGroups: boolean;
  acceptCommands: boolean;
}

export interface HaEntity {
  /** sensor, select, number. */
  component: string;
  objectId: string;
  /** The discovery topic: `<prefix>/<component>/<nodeId>/<objectId>/config`. */
  topic: string;
  config: Record<string, unknown>;
}

/** The node id every discovery topic of a site carries (how a restart finds the ones it made before). */
export function nodeId(siteId: string): string {
  return `wattkeeper_${slug(siteId)}`;
}

/** Lower-case [a-z0-9_]: what HA's object ids allow. */
function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

const stateTopics = {
  site: (base: string) => `${base}/ha/site`,
  gpu: (base: string, id: string) => `${base}/ha/gpu/${slug(id)}`,
  group: (base: string, location: string) => `${base}/ha/group/${slug(location)}`,
};
export const commandTopics = {
  mode: (base: string) => `${base}/ha/set/mode`,
  leaseKw: (base: string) => `${base}/ha/set/lease_kw`,
};

/** A miner's location, or "unplaced": the group it is shown in. */
function groupOf(location: string | null | undefined): string {
  return location && location.trim() !== "" ? location : "unplaced";
}

interface SensorSpec {
  key: string;
  name: string;
  unit?: string;
  deviceClass?: string;
  stateClass?: "measurement";
  icon?: string;
}

const SITE_SENSORS: SensorSpec[] = [
  { key: "power_w", name: "Site power", unit: "W", deviceClass: "power", stateClass: "measurement" },
  { key: "budget_w", name: "Budget", unit: "W", deviceClass: "power", stateClass: "measurement" },
  { key: "mining_w", name: "Mining power", unit: "W", deviceClass: "power", stateClass: "measurement" },
  { key: "ai_w", name: "AI power", unit: "W", deviceClass: "power", stateClass: "measurement" },
  { key: "hashrate_ths", name: "Hashrate", unit: "TH/s", stateClass: "measurement", icon: "mdi:pickaxe" },
  { key: "hashing", name: "Miners hashing", stateClass: "measurement", icon: "mdi:server" },
  { key: "sleeping", name: "Miners sleeping", stateClass: "measurement", icon: "mdi:sleep" },
  { key: "unreachable", name: "Miners unreachable", stateClass: "measurement", icon: "mdi:lan-disconnect" },
  { key: "faulted", name: "Miners faulted", stateClass: "measurement", icon: "mdi:alert" },
  {
    key: "meter_age_s",
    name: "Site meter age",
    unit: "s",
    deviceClass: "duration",
    stateClass: "measurement",
  },
  { key: "budget_source", name: "Budget source", icon: "mdi:scale-balance" },
  { key: "budget_reason", name: "Budget reason", icon: "mdi:text" },
  { key: "mode", name: "Control mode", icon: "mdi:cog" },
];
const GPU_SENSORS: SensorSpec[] = [
  { key: "power_w", name: "Power", unit: "W", deviceClass: "power", stateClass: "measurement" },
  { key: "state", name: "State", icon: "mdi:expansion-card" },
  { key: "gpus_capped", name: "GPUs capped", stateClass: "measurement", icon: "mdi:speedometer-slow" },
];
const GROUP_SENSORS: SensorSpec[] = [
  { key: "power_w", name: "Power", unit: "W", deviceClass: "power", stateClass: "measurement" },
  { key: "hashrate_ths", name: "Hashrate", unit: "TH/s", stateClass: "measurement", icon: "mdi:pickaxe" },
  { key: "hashing", name: "Miners hashing", stateClass: "measurement", icon: "mdi:server" },
  { key: "sleeping", name: "Miners sleeping", stateClass: "measurement", icon: "mdi:sleep" },
];

/** Every entity the site offers now (GPU nodes and groups from the config and the devices view). */
export function discoveryEntities(ctx: HaContext, devices: DevicesView): HaEntity[] {
  const node = nodeId(ctx.siteId);
  const siteDevice = {
    identifiers: [node],
    name: ctx.siteName,
    manufacturer: "wattkeeper",
    model: "Site agent",
    sw_version: ctx.version,
  };
  const availability = [
    { topic: ctx.statusTopic, value_template: "{{ 'online' if value_json.online else 'offline' }}" },
  ];
  const out: HaEntity[] = [];
  const add = (component: string, objectId: string, config: Record<string, unknown>) => {
    out.push({
      component,
      objectId,
      topic: `${ctx.discoveryPrefix}/${component}/${node}/${objectId}/config`,
      config: { ...config, unique_id: `${node}_${objectId}`, object_id: `${node}_${objectId}`, availability },
    });
  };
  /** One device's sensors: object ids start with `prefix`, values come from `stateTopic`. */
  const sensors = (
    specs: SensorSpec[],
    { prefix, stateTopic, device }: { prefix: string; stateTopic: string; device: Record<string, unknown> },
  ) => {
    for (const s of specs) {
      add("sensor", `${prefix}${s.key}`, {
        name: s.name,
        state_topic: stateTopic,
        value_template: `{{ value_json.${s.key} }}`,
        ...(s.unit ? { unit_of_measurement: s.unit } : {}),
        ...(s.deviceClass ? { device_class: s.deviceClass } : {}),
        ...(s.stateClass ? { state_class: s.stateClass } : {}),
        ...(s.icon ? { icon: s.icon } : {}),
        device,
      });
    }
  };
  sensors(SITE_SENSORS, { prefix: "site_", stateTopic: stateTopics.site(ctx.base), device: siteDevice });
  if (ctx.acceptCommands) {
    add("select", "site_mode_set", {
      name: "Control mode",
      state_topic: stateTopics.site(ctx.base),
      value_template: "{{ value_json.mode }}",
      command_topic: commandTopics.mode(ctx.base),
      options: ["auto", "hold"],
      icon: "mdi:cog",
      device: siteDevice,
    });
    add("number", "site_lease_kw", {
      name: "Budget lease",
      state_topic: stateTopics.site(ctx.base),
      value_template: "{{ value_json.lease_kw }}",
      command_topic: commandTopics.leaseKw(ctx.base),
      min: 0,
      max: Math.round(ctx.contractLimitW / 1000),
      step: 1,
      mode: "box",
      unit_of_measurement: "kW",
      icon: "mdi:transmission-tower",
      device: siteDevice,
    });
  }
  for (const g of devices.gpuNodes) {
    const device = {
      identifiers: [`${node}_gpu_${slug(g.id)}`],
      name: `${ctx.siteName} GPU node ${g.id}`,
      manufacturer: "wattkeeper",
      model: "GPU node",
      via_device: node,
    };
    sensors(GPU_SENSORS, {
      prefix: `gpu_${slug(g.id)}_`,
      stateTopic: stateTopics.gpu(ctx.base, g.id),
      device,
    });
  }
  if (ctx.minerGroups) {
    for (const location of minerGroups(devices)) {
      const device = {
        identifiers: [`${node}_group_${slug(location)}`],
        name: `${ctx.siteName} miners ${location}`,
        manufacturer: "wattkeeper",
        model: "Miner group",
        via_device: node,
      };
      sensors(GROUP_SENSORS, {
        prefix: `group_${slug(location)}_`,
        stateTopic: stateTopics.group(ctx.base, location),
        device,
      });
    }
  }
  return out;
}

function minerGroups(devices: DevicesView): string[] {
  return [...new Set(devices.miners.map((m) => groupOf(m.location)))].sort();
}

const round = (v: number | null | undefined, digits = 0): number | null =>
  typeof v === "number" && Number.isFinite(v) ? Number(v.toFixed(digits)) : null;

/** The state payload of every HA device, by state topic. */
export interface StateInput {
  ctx: HaContext;
  site: SiteView;
  devices: DevicesView;
  leaseW: number | null;
}

export function statePayloads({
  ctx,
  site,
  devices,
  leaseW,
}: StateInput): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  let hashrate = 0;
  for (const m of devices.miners)
    if ("hashrateThs" in m && typeof m.hashrateThs === "number") hashrate += m.hashrateThs;
  const siteMeter = devices.meters.find((m) => m.role === "site");
  out.set(stateTopics.site(ctx.base), {
    power_w: round(site.powerW),
    budget_w: round(site.budgetW),
    mining_w: round(site.classes.mining.powerW),
    ai_w: round(site.classes.ai.powerW),
    hashrate_ths: round(hashrate, 2),
    hashing: site.counts.hashing ?? 0,
    sleeping: site.counts.sleeping ?? 0,
    unreachable: site.counts.unreachable ?? 0,
    faulted: site.counts.faulted ?? 0,
    meter_age_s: round(siteMeter?.ageS, 1),
    budget_source: site.budgetSource ?? "contract",
    budget_reason: site.budgetReason,
    mode: site.mode ?? "auto",
    lease_kw: round((leaseW ?? ctx.contractLimitW) / 1000),
  });
  for (const g of devices.gpuNodes) {
    out.set(stateTopics.gpu(ctx.base, g.id), {
      power_w: round(g.powerW),
      state: g.state ?? "unknown",
      gpus_capped: g.gpus.filter(
        (x) =>
          typeof x.enforcedPowerLimitW === "number" &&
          typeof x.defaultPowerLimitW === "number" &&
          x.enforcedPowerLimitW < x.defaultPowerLimitW,
      ).length,
    });
  }
  if (ctx.minerGroups) {
    const groups = new Map<string, { power: number; hashrate: number; hashing: number; sleeping: number }>();
    for (const m of devices.miners) {
      const k = groupOf(m.location);
      const g = groups.get(k) ?? { power: 0, hashrate: 0, hashing: 0, sleeping: 0 };
      if ("powerW" in m && typeof m.powerW === "number") g.power += m.powerW;
      if ("hashrateThs" in m && typeof m.hashrateThs === "number") g.hashrate += m.hashrateThs;
      if (m.state === "hashing") g.hashing++;
      if (m.state === "sleeping") g.sleeping++;
      groups.set(k, g);
    }
    for (const [k, g] of groups) {
      out.set(stateTopics.group(ctx.base, k), {
        power_w: round(g.power),
        hashrate_ths: round(g.hashrate, 2),
        hashing: g.hashing,
        sleeping: g.sleeping,
      });
    }
  }
  return out;
}
