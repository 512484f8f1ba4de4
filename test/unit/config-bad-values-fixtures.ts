// Configs the loader must reject, part one: units, durations, margins, host lists
// and ids, unknown keys, secret files and schedules (path and message of each).
import { type BadCase, gpu, sched } from "./config-load-fixtures.ts";

export const badValueCases: BadCase[] = [
  {
    name: "power with a wrong unit",
    edit: (c) => {
      c.control = { shedMarginW: "3.5kw/h" };
    },
    path: "control.shedMarginW",
    message: 'expected a power like 3500, "3.5kW" or "24MW", got "3.5kw/h"',
  },
  {
    name: "power of the wrong type",
    edit: (c) => {
      c.site.contractLimitW = true;
    },
    path: "site.contractLimitW",
    message: "expected a power like 3500",
  },
  {
    // 0 is zero import (generation behind the meter); below it is a mistake
    name: "negative contract limit",
    edit: (c) => {
      c.site.contractLimitW = "-1MW";
    },
    path: "site.contractLimitW",
    message: "must not be negative",
  },
  {
    name: "duration with an unknown unit",
    edit: (c) => {
      c.control = { minOnS: "5min" };
    },
    path: "control.minOnS",
    message: 'expected a duration like 30, "30s", "5m", "2h" or "500ms", got "5min"',
  },
  {
    name: "tick too short",
    edit: (c) => {
      c.control = { tickS: "100ms" };
    },
    path: "control.tickS",
    message: "must be at least 0.5 s",
  },
  {
    name: "tick too long",
    edit: (c) => {
      c.control = { tickS: "2m", meterStaleS: "5m" };
    },
    path: "control.tickS",
    message: "must be at most 60 s",
  },
  {
    name: "negative margin",
    edit: (c) => {
      c.control = { shedMarginW: "-10kW" };
    },
    path: "control.shedMarginW",
    message: 'must not be negative, got "-10kW"',
  },
  {
    name: "restore margin not above shed margin",
    edit: (c) => {
      c.control = { shedMarginW: "100kW", restoreMarginW: "100kW" };
    },
    path: "control.restoreMarginW",
    message: /must be greater than shedMarginW .*hysteresis/,
  },
  {
    name: "fail-safe budget over the contract",
    edit: (c) => {
      c.control = { failsafeBudgetW: "20MW" };
    },
    path: "control.failsafeBudgetW",
    message: "must not exceed site.contractLimitW (20 MW > 10 MW)",
  },
  {
    name: "meter stale time not above the tick",
    edit: (c) => {
      c.control = { tickS: 5, meterStaleS: 5 };
    },
    path: "control.meterStaleS",
    message: "must be greater than tickS",
  },
  {
    name: "CIDR prefix over 32",
    edit: (c) => {
      c.miners[0].hosts = "10.1.0.0/33";
    },
    path: "miners[0].hosts",
    message: "prefix length must be 0 to 32",
  },
  {
    name: "CIDR with a bad address",
    edit: (c) => {
      c.miners[0].hosts = "10.1.0.300/24";
    },
    path: "miners[0].hosts",
    message: '"10.1.0.300" is not an IPv4 address',
  },
  {
    name: "bad address in a host list",
    edit: (c) => {
      c.miners[0].hosts = ["10.1.2.5", "10.1.2.256"];
    },
    path: "miners[0].hosts[1]",
    message: "is not an",
  },
  {
    name: "reversed range",
    edit: (c) => {
      c.miners[0].hosts = "10.1.0.20-10.1.0.10";
    },
    path: "miners[0].hosts",
    message: "is reversed",
  },
  {
    name: "range over the cap",
    edit: (c) => {
      c.miners[0].hosts = "10.0.0.0/8";
    },
    path: "miners[0].hosts",
    message: "10.0.0.0/8 would yield 16,777,214 miners, over the limit of 65,536 miners in total",
  },
  {
    name: "entries together over the cap",
    edit: (c) => {
      c.miners = [{ hosts: "10.20.0.0/16" }, { hosts: "10.30.0.1-10.30.0.10" }];
    },
    path: "miners[1].hosts",
    message: "would yield 10 miners, over the limit: 2 left of 65,536 miners in total",
  },
  {
    name: "overlapping ranges",
    edit: (c) => {
      c.miners.push({ hosts: "10.1.0.18-30" });
    },
    path: "miners[1].hosts",
    message: "10.1.0.18:4028 is also in miners[0]",
  },
  {
    name: "one host and an id taken by a meter",
    edit: (c) => {
      c.miners.push({ host: "10.9.9.9", id: "pcc" });
    },
    path: "miners[1].id",
    message: 'id "pcc" is also used by meters[0]',
  },
  {
    name: "GPU node id taken by a meter",
    edit: (c) => {
      c.gpuNodes = [gpu({ id: "pcc" })];
    },
    path: "gpuNodes[0].id",
    message: 'id "pcc" is also used by meters[0]',
  },
  {
    name: "derived id clashing with an explicit one",
    edit: (c) => {
      c.miners.unshift({ host: "10.9.9.9", id: "m-10-1-0-12" });
    },
    path: "miners[1].hosts",
    message: 'derived id "m-10-1-0-12" is also used by miners[0]',
  },
  {
    name: "unknown top-level key",
    edit: (c) => {
      c.contorl = { tickS: 2 };
    },
    path: "contorl",
    message: "unknown key (did you mean control?)",
  },
  {
    name: "unknown nested key",
    edit: (c) => {
      c.control = { shedMargin: "50kW" };
    },
    path: "control.shedMargin",
    message: "unknown key (did you mean shedMarginW?)",
  },
  {
    name: "unknown key in a list entry",
    edit: (c) => {
      c.miners[0].dialekt = "luxos";
    },
    path: "miners[0].dialekt",
    message: "did you mean dialect?",
  },
  {
    name: "missing secret file with strictFiles",
    edit: (c) => {
      c.mqtt = { url: "mqtt://127.0.0.1:1883", passwordFile: "nope.pass" };
    },
    strictFiles: true,
    path: "mqtt.passwordFile",
    message: /file not found: .*nope\.pass \(or set WATTKEEPER_MQTT_PASSWORD\)/,
  },
  {
    name: "schedule time out of range",
    edit: (c) => {
      c.control = { schedule: [sched({ from: "25:00" })] };
    },
    path: "control.schedule[0].from",
    message: 'expected a time "HH:MM" from 00:00 to 23:59, got "25:00"',
  },
  {
    name: "schedule from equal to to",
    edit: (c) => {
      c.control = { schedule: [sched({ to: "15:00" })] };
    },
    path: "control.schedule[0].to",
    message: "must differ from from (15:00)",
  },
  {
    name: "schedule month out of range",
    edit: (c) => {
      c.control = { schedule: [sched({ months: [6, 13] })] };
    },
    path: "control.schedule[0].months[1]",
    message: "must be at most 12, got 13",
  },
  {
    name: "schedule day misspelt",
    edit: (c) => {
      c.control = { schedule: [sched({ days: ["monday"] })] };
    },
    path: "control.schedule[0].days[0]",
    message: 'expected one of mon, tue, wed, thu, fri, sat, sun, got "monday"',
  },
];
