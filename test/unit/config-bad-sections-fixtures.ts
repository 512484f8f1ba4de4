// Configs the loader must reject, part two: site, GPU nodes, control, polling,
// pools, HTTP, meters, MQTT and the file's own syntax (path and message of each).
import { type BadCase, gpu } from "./config-load-fixtures.ts";

export const badSectionCases: BadCase[] = [
  {
    name: "bad time zone",
    edit: (c) => {
      c.site.timezone = "Mars/Olympus_Mons";
    },
    path: "site.timezone",
    message: "expected an IANA time zone",
  },
  {
    name: "bad site id",
    edit: (c) => {
      c.site.id = "Odessa_1";
    },
    path: "site.id",
    message: 'expected lowercase letters, digits and "-" only',
  },
  {
    name: "bad host key fingerprint",
    edit: (c) => {
      c.gpuNodes = [gpu({ hostKeySha256: "SHA256:abc=" })];
    },
    path: "gpuNodes[0].hostKeySha256",
    message: 'expected "SHA256:" and 43 base64 characters',
  },
  {
    name: "neither host key nor known_hosts",
    edit: (c) => {
      c.gpuNodes = [gpu({ hostKeySha256: undefined })];
    },
    path: "gpuNodes[0].hostKeySha256",
    message: "host keys are pinned",
  },
  {
    name: "a drain-tier GPU node without its drain command",
    edit: (c) => {
      c.gpuNodes = [gpu({ flex: "drain", resumeCommand: "kubectl uncordon gpu-01" })];
    },
    path: "gpuNodes[0].drainCommand",
    message: "flex: drain needs drainCommand",
  },
  {
    name: "a drain command on more than one line",
    edit: (c) => {
      c.gpuNodes = [gpu({ flex: "drain", drainCommand: "kubectl cordon a\nrm -rf /", resumeCommand: "x" })];
    },
    path: "gpuNodes[0].drainCommand",
    message: "must be one line",
  },
  {
    name: "an unknown control strategy",
    edit: (c) => {
      c.control = { strategy: "follow" };
    },
    path: "control.strategy",
    message: /track/,
  },
  {
    name: "a meter staler than its own poll",
    edit: (c) => {
      c.control = { meterStaleS: 2 };
      c.polling = { metersS: 5 };
    },
    path: "control.meterStaleS",
    message: "must be greater than polling.metersS",
  },
  {
    name: "miner detail read more often than the miners themselves",
    edit: (c) => {
      c.polling = { minersS: 10, minerDetailS: 5 };
    },
    path: "polling.minerDetailS",
    message: "must be at least polling.minersS",
  },
  {
    name: "a worker pattern that is not a regular expression",
    edit: (c) => {
      c.miners = [{ host: "10.1.0.10", pools: { workerPattern: "^odessa1\\.(" } }];
    },
    path: "miners[0].pools.workerPattern",
    message: "not a valid regular expression",
  },
  {
    name: "bad password hash",
    edit: (c) => {
      c.http = { operators: [{ name: "tech", passwordHash: "hunter2" }] };
    },
    path: "http.operators[0].passwordHash",
    message: 'expected "scrypt$N$r$p$<salt-b64>$<hash-b64>"',
  },
  {
    name: "unknown meter profile",
    edit: (c) => {
      c.meters[0].profile = "sdm999";
    },
    path: "meters[0].profile",
    message: /unknown meter profile "sdm999"; known: .*sdm630/,
  },
  {
    name: "profile and inline registers both",
    edit: (c) => {
      c.meters[0].registers = { powerW: { address: 52, type: "f32" } };
    },
    path: "meters[0].registers",
    message: "give either profile or an inline registers map, not both",
  },
  {
    name: "inline registers without powerW",
    edit: (c) => {
      delete c.meters[0].profile;
      c.meters[0].registers = { energyKwh: { address: 342, type: "f32" } };
    },
    path: "meters[0].registers.powerW",
    message: "a meter profile must map powerW",
  },
  {
    name: "two site meters",
    edit: (c) => {
      c.meters.push({
        id: "pcc2",
        role: "site",
        profile: "sdm630",
        modbus: { tcp: "127.0.0.2:502", unitId: 1 },
      });
    },
    path: "meters[1].role",
    message: "only one meter may have role site; meters[0] already does",
  },
  {
    name: "RTU unit id 0",
    edit: (c) => {
      c.meters[0].modbus = { rtu: "/dev/ttyUSB0", baudRate: 9600, parity: "none", unitId: 0 };
    },
    path: "meters[0].modbus.unitId",
    message: "must be 1–247 on RTU",
  },
  {
    name: "no Modbus transport",
    edit: (c) => {
      c.meters[0].modbus = { unitId: 1 };
    },
    path: "meters[0].modbus",
    message: "expected one of tcp, rtu or rtuOverTcp",
  },
  {
    name: "host and hosts both",
    edit: (c) => {
      c.miners[0].host = "10.1.0.9";
    },
    path: "miners[0].hosts",
    message: "give host or hosts, not both",
  },
  {
    name: "economics topic without mqtt",
    edit: (c) => {
      c.control = { economics: { hashpricePerThDay: 0.05, energyPriceTopic: "prices/x" } };
    },
    path: "control.economics.energyPriceTopic",
    message: "needs an mqtt section",
  },
  {
    name: "broker URL with the wrong scheme",
    edit: (c) => {
      c.mqtt = { url: "http://broker:1883" };
    },
    path: "mqtt.url",
    message: "expected a broker URL",
  },
  {
    name: "priority not an integer",
    edit: (c) => {
      c.miners[0].priority = 1.5;
    },
    path: "miners[0].priority",
    message: "expected an integer, got 1.5",
  },
  {
    name: "site missing",
    edit: (c) => {
      delete c.site;
    },
    path: "site",
    message: "is required",
  },
  {
    name: "YAML syntax error",
    text: "site:\n  id: t-1\n  timezone: [UTC\n",
    path: "",
    message: /^invalid YAML/,
    // the unclosed "[" is noticed where the text ends
    line: 4,
  },
  {
    name: "YAML duplicate key",
    text: "site:\n  id: t-1\n  id: t-2\n",
    path: "",
    message: /^invalid YAML: Map keys must be unique/,
    line: 3,
  },
  {
    name: "JSON syntax error",
    text: '{\n  "site": { "id": "t-1", }\n}\n',
    ext: ".json",
    path: "",
    message: /^invalid JSON/,
    line: 2,
  },
  { name: "empty file", text: "\n  \n", path: "", message: "the file is empty" },
  { name: "only comments", text: "# nothing yet\n", path: "", message: "the file is empty" },
  { name: "not a mapping", text: "- a\n- b\n", path: "", message: "expected a mapping of sections" },
];
