// Security cases that go through the command line and the config file, as an
// operator with a typo or a hostile device meets them (hardening defects 1, 7,
// 8, 9 and 10): a real agent process reloaded with broken configs, check-config
// on files that would hang or exhaust it, probe and scan against a miner whose
// strings carry terminal escapes and against an HTTP server on port 4028.
// Every case runs the real CLI (bin/wattkeeper.js) as a child process.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MINER_MODELS, type MinerModel } from "../sim/models.ts";
import { startSimSite } from "../sim/site.ts";
import { type CliRun, cli as runCli } from "../test/helpers/cli.ts";
import { testPort } from "../test/helpers/ports.ts";
import { counts, type SecurityCase } from "./security-case.ts";

/** A CLI run with a deadline (a hang counts as a failure, not a stuck bench). */
const cli = (args: string[], timeoutMs = 30_000): Promise<CliRun> => runCli(args, { timeoutMs });

const BIN = new URL("../bin/wattkeeper.js", import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The YAML and JSON failures a typo or a hostile file brings, each with the words check-config must print. */
function brokenConfigs(dir: string, good: string): Array<{ name: string; text: string; expect: RegExp }> {
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x, x]",
    ...Array.from({ length: 9 }, (_, i) => {
      const p = String.fromCharCode(97 + i);
      const n = String.fromCharCode(98 + i);
      return `${n}: &${n} [*${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}]`;
    }),
  ].join("\n");
  const fifo = join(dir, "secret.fifo");
  execFileSync("mkfifo", [fifo]);
  return [
    {
      name: "unresolved alias",
      text: good.replace("location: container-a", "location: *containerA"),
      expect: /:\d+:\d+: .*alias/i,
    },
    { name: "alias bomb", text: `${good}${bomb}\n`, expect: /:\d+:\d+: .*alias/i },
    {
      name: "unknown tag",
      text: good.replace("dialect: luxos", "dialect: !!js/function luxos"),
      expect: /:\d+:\d+: .*tag/i,
    },
    {
      name: "duplicate key",
      text: good.replace("control:", "control: { tickS: 2 }\ncontrol:"),
      expect: /:\d+:\d+: .*(duplicate|unique)/i,
    },
    {
      name: "secret file is a FIFO",
      text: good.replace(
        "dialect: luxos",
        `dialect: luxos, credentials: { username: root, passwordFile: ${fifo} }`,
      ),
      expect: /not a regular file/,
    },
    {
      name: "schema error",
      text: good.replace("contractLimitW: 300kW", "contractLimitW: lots"),
      expect: /:\d+:\d+: site\.contractLimitW/,
    },
  ];
}

function siteConfig(o: { port: number; meterPort: number; dir: string; limit: string }): string {
  return `site: { id: sec-reload, timezone: UTC, contractLimitW: ${o.limit} }
http: { listen: "127.0.0.1:${o.port}" }
store: { path: ${join(o.dir, "wk.db")} }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${o.meterPort}", unitId: 1 } }
miners:
  - { hosts: 127.69.1.1-127.69.1.4, dialect: luxos, location: container-a }
control: { tickS: 1 }
sim: { seed: 4, noiseW: 10 }
`;
}

async function siteBudgetW(base: string): Promise<number | null> {
  try {
    const r = await fetch(`${base}/api/site`, { signal: AbortSignal.timeout(3000) });
    return ((await r.json()) as { budgetW: number | null }).budgetW;
  } catch {
    return null;
  }
}

const reloadCase: SecurityCase = {
  item: "1 reload",
  name: "SIGHUP with broken configs",
  run: async () => {
    const dir = mkdtempSync(join(tmpdir(), "wk-sec-reload-"));
    const port = await testPort();
    const meterPort = await testPort();
    const file = join(dir, "site.yaml");
    const good = siteConfig({ port, meterPort, dir, limit: "1MW" });
    writeFileSync(file, good);
    const agent = spawn(process.execPath, [BIN, "run", "--config", file], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    agent.stdout.on("data", (d) => {
      log += d;
    });
    agent.stderr.on("data", (d) => {
      log += d;
    });
    let exited = false;
    agent.on("exit", () => {
      exited = true;
    });
    const base = `http://127.0.0.1:${port}`;
    const c = counts();
    try {
      for (let i = 0; i < 60 && (await siteBudgetW(base)) === null; i++) await sleep(500);
      // every broken config also asks for another limit: applied if the budget moves
      for (const bad of brokenConfigs(dir, good.replace("contractLimitW: 1MW", "contractLimitW: 300kW"))) {
        const mark = log.length;
        writeFileSync(file, bad.text);
        agent.kill("SIGHUP");
        c.attempted++;
        let refused = false;
        for (let i = 0; i < 40 && !refused && !exited; i++) {
          await sleep(250);
          refused = log.slice(mark).includes("reload refused");
        }
        const budget = await siteBudgetW(base);
        if (refused && !exited && budget === 1_000_000) c.refused++;
        if (budget !== null && budget !== 1_000_000) c.applied++;
        if (bad.expect.test(log.slice(mark))) c.expectedReason!++;
        else process.stderr.write(`reload case ${bad.name}: ${log.slice(mark).slice(0, 400)}\n`);
      }
      // control: a good config with a new limit applies
      writeFileSync(file, siteConfig({ port, meterPort, dir, limit: "900kW" }));
      agent.kill("SIGHUP");
      let applied = false;
      for (let i = 0; i < 60 && !applied; i++) {
        await sleep(250);
        applied = (await siteBudgetW(base)) === 900_000;
      }
      return {
        ...c,
        note: `${exited ? "the agent EXITED" : "the agent ran throughout"}; a good config afterwards ${applied ? "applied" : "did NOT apply"}`,
        ...(applied && !exited ? {} : { applied: c.applied + 1 }),
      };
    } finally {
      agent.kill("SIGTERM");
      await new Promise((r) => (exited ? r(null) : agent.once("exit", r)));
    }
  },
};

const checkConfigLimitsCase: SecurityCase = {
  item: "9 check-config limits",
  name: "FIFO and /dev/zero secrets, a 45 MB config",
  run: async () => {
    const dir = mkdtempSync(join(tmpdir(), "wk-sec-check-"));
    const base = siteConfig({ port: 1, meterPort: 2, dir, limit: "1MW" }).replace(/^sim:.*\n/m, "");
    const fifo = join(dir, "pw.fifo");
    execFileSync("mkfifo", [fifo]);
    const big = join(dir, "big.yaml");
    // ~45 MB: two million one-line miner entries
    const line = "  - { host: 10.1.2.3, location: container-a, priority: 1 }\n";
    writeFileSync(big, `${base.replace(/miners:\n.*\n/, "")}miners:\n${line.repeat(750_000)}`);
    const files = [
      {
        name: "fifo",
        text: base.replace(
          "location: container-a",
          `location: container-a, credentials: { username: root, passwordFile: ${fifo} }`,
        ),
        expect: /not a regular file/,
      },
      {
        name: "zero",
        text: base.replace(
          "location: container-a",
          "location: container-a, credentials: { username: root, passwordFile: /dev/zero }",
        ),
        expect: /not a regular file/,
      },
    ];
    const c = counts();
    const times: string[] = [];
    // check-config warns about a secret it cannot read (it may run where the secrets are not) and
    // errs on the config itself; either way it must end at once, unharmed: a hang or a crash is applied
    const judge = (r: CliRun, expect: RegExp, name: string) => {
      c.attempted++;
      const ended = (r.code === 0 || r.code === 2) && r.ms < 10_000;
      if (ended && expect.test(r.out + r.err)) c.refused++;
      else c.applied++;
      if (expect.test(r.out + r.err)) c.expectedReason!++;
      times.push(`${name} exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s`);
    };
    for (const f of files) {
      const path = join(dir, `${f.name}.yaml`);
      writeFileSync(path, f.text);
      judge(await cli(["check-config", path], 20_000), f.expect, f.name);
    }
    judge(await cli(["check-config", big], 20_000), /at most 8\.0 MiB is read/, "45 MB");
    // the agent's own loading is strict: the same secrets are errors there (exit 2)
    for (const f of files)
      judge(await cli(["run", "--config", join(dir, `${f.name}.yaml`)], 20_000), f.expect, `run ${f.name}`);
    return { ...c, note: times.join("; ") };
  },
};

const oneRoundCase: SecurityCase = {
  item: "10 config problems",
  name: "schema, cross-field and id problems in one round, with lines",
  run: async () => {
    const dir = mkdtempSync(join(tmpdir(), "wk-sec-round-"));
    const path = join(dir, "site.yaml");
    writeFileSync(
      path,
      `site: { id: rounds, timezone: UTC, contractLimitW: lots }
miners:
  - { host: 10.0.0.1, id: m-1 }
  - { host: 10.0.0.2, id: m-1 }
  - { host: 10.0.0.3, dialect: nonesuch }
control: { shedMarginW: 50kW, restoreMarginW: 10kW }
`,
    );
    const r = await cli(["check-config", path]);
    const lines = (r.out + r.err).split("\n").filter((l) => /:\d+:\d+: /.test(l));
    const want = [/site\.contractLimitW/, /miners\[1\]\.id/, /miners\[2\]\.dialect/];
    const found = want.filter((w) => lines.some((l) => w.test(l))).length;
    return {
      attempted: want.length,
      refused: r.code === 2 ? want.length : 0,
      applied: r.code === 2 ? 0 : 1,
      expectedReason: found,
      note: `exit ${r.code}; ${lines.length} problems with a line in one run`,
    };
  },
};

/** C0 controls other than line breaks, DEL, C1 controls: what a terminal acts on. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

const escapesCase: SecurityCase = {
  item: "7 terminal escapes",
  name: "probe and scan of a miner with hostile strings",
  run: async () => {
    const host = "127.69.2.1";
    const hostile: MinerModel = {
      ...MINER_MODELS["antminer-s19j-pro"]!,
      key: "hostile-strings",
      type: "Antminer S19\u001b[31m\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u0007\u009b2J",
      firmware: { miner: "\u001b]0;pwned\u0007bmminer", compileTime: "\r\u001b[2K" },
    };
    (MINER_MODELS as Record<string, MinerModel>)[hostile.key] = hostile;
    const sim = await startSimSite({
      miners: [{ id: "hostile", host, port: 4028, model: hostile.key }],
      meters: [],
      seed: 5,
    });
    const c = counts();
    try {
      for (const args of [
        ["probe", "miner", `${host}:4028`],
        ["probe", "miner", `${host}:4028`, "--json"],
        ["scan", host, "--timeout", "1000"],
        ["scan", host, "--json", "--timeout", "1000"],
        ["scan", host, "--yaml", "--timeout", "1000"],
      ]) {
        const r = await cli(args);
        c.attempted++;
        if (RAW_CONTROL.test(r.out) || RAW_CONTROL.test(r.err)) c.applied++;
        else c.refused++;
        if (r.code === 0 && (args.includes("--yaml") || /52;c;Y3VybCBldmlsLnNoIHwgc2g=/.test(r.out)))
          c.expectedReason!++;
      }
    } finally {
      await sim.stop();
      delete (MINER_MODELS as Record<string, MinerModel>)[hostile.key];
    }
    return { ...c, note: "applied: runs that wrote a raw control byte to the terminal" };
  },
};

const notCgminerCase: SecurityCase = {
  item: "8 not a CGMiner API",
  name: "an HTTP server on port 4028: probe and scan",
  run: async () => {
    const host = "127.69.3.1";
    const server: Server = createServer((s) => {
      s.on("data", () => s.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
      s.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(4028, host, r));
    const c = counts();
    try {
      const probe = await cli(["probe", "miner", `${host}:4028`]);
      c.attempted++;
      if (probe.code === 1) c.refused++;
      else c.applied++;
      if (/not-a-cgminer-api/.test(probe.out) && !/\r/.test(probe.out)) c.expectedReason!++;
      const scan = await cli(["scan", host, "--yaml", "--timeout", "1000"]);
      c.attempted++;
      if (/hosts:/.test(scan.out)) c.applied++;
      else c.refused++;
      if (/# left out: .*NOT_CGMINER_API/.test(scan.out)) c.expectedReason!++;
    } finally {
      await new Promise((r) => server.close(r));
    }
    return { ...c, note: "applied: probe exit 0, or the host in the scan snippet" };
  },
};

export const cliCases: SecurityCase[] = [
  reloadCase,
  checkConfigLimitsCase,
  oneRoundCase,
  escapesCase,
  notCgminerCase,
];
