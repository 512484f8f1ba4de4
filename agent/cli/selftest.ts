// `wattkeeper selftest miner HOST[:PORT] [--dialect D] [--yes] [--json]`: what
// an operator runs on one machine after a firmware upgrade, before the fleet
// gets it. It puts the miner through what the loop will ask of it — sleep, wake,
// a power-limit step down and back up — each confirmed by reading the miner back
// (the same driver path the loop uses), times every leg, and prints one
// compatibility row per leg: firmware, capability, worked, seconds, why not.
// It writes to a live miner, so it asks first unless --yes. A leg the dialect
// does not declare is listed as not offered, with the reason where the miner
// withdrew it; the miner is left as it was found wherever a leg allows.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import { loadModelFiles } from "../../config/load.ts";
import { createMiner, type Miner } from "../../drivers/cgminer/miner.ts";
import { ModelCatalog } from "../../drivers/cgminer/models.ts";
import type { WriteOutcome } from "../../drivers/cgminer/write.ts";
import { printable, terminalJson } from "../../drivers/printable.ts";
import { type Dialect, DialectSchema, type MinerCapability, type MinerReading } from "../../drivers/types.ts";
import { parseHostPort } from "./host-arg.ts";
import { UsageError } from "./usage.ts";

interface SelftestLeg {
  leg: "sleep" | "wake" | "limit down" | "limit up";
  capability: MinerCapability;
  /** null: not run (not offered, or an earlier leg left nothing to do). */
  worked: boolean | null;
  seconds: number | null;
  detail: string;
}

export interface SelftestReport {
  host: string;
  port: number;
  dialect: string | null;
  firmware: string | null;
  model: string | null;
  capabilities: MinerCapability[];
  legs: SelftestLeg[];
  ok: boolean;
}

/** `selftest KIND …` (miners only for now: the GPU and meter paths have `probe`). */
export async function selftestCommand(
  argv: string[],
  io: { out: NodeJS.WritableStream; input: NodeJS.ReadableStream; isTty: boolean } = {
    out: process.stdout,
    input: process.stdin,
    isTty: process.stdin.isTTY === true,
  },
): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind !== "miner") {
    throw new UsageError(
      "selftest takes a device kind: selftest miner HOST[:PORT] [--dialect D] [--user U --password-file F] [--yes] [--json]",
    );
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      dialect: { type: "string", default: "auto" },
      user: { type: "string" },
      "password-file": { type: "string" },
      "web-port": { type: "string" },
      "grpc-port": { type: "string" },
      yes: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      timeout: { type: "string", default: "5000" },
      "confirm-timeout": { type: "string", default: "60000" },
    },
  });
  if (positionals.length !== 1) throw new UsageError("selftest miner takes exactly one HOST[:PORT]");
  const dialect = DialectSchema.safeParse(values.dialect);
  if (!dialect.success) throw new UsageError(`--dialect must be one of ${DialectSchema.options.join(", ")}`);
  const timeoutMs = positiveMs(values.timeout, "--timeout");
  const confirmTimeoutMs = positiveMs(values["confirm-timeout"], "--confirm-timeout");
  const { host, port } = parseHostPort(positionals[0]!, 4028);
  const password = values["password-file"] === undefined ? null : readPassword(values["password-file"]);
  const miner = createMiner(
    {
      host,
      port,
      webPort: optionalPort(values["web-port"], "--web-port"),
      grpcPort: optionalPort(values["grpc-port"], "--grpc-port"),
      // the shipped models: the nameplate estimate, and limits outside the model's range refused
      models: new ModelCatalog(await loadModelFiles([])),
      credentials:
        values.user === undefined && password === null ? null : { username: values.user ?? null, password },
    },
    dialect.data as Dialect,
    {
      exchange: { connectTimeoutMs: timeoutMs, readTimeoutMs: timeoutMs },
      confirm: { confirmTimeoutMs, retries: 1 },
    },
  );
  try {
    const first = await miner.read();
    await miner.confirmed();
    if (first.state === "unreachable") {
      io.out.write(`${host}:${port} did not answer: ${printable(first.reason ?? "no reason")}\n`);
      return 1;
    }
    if (!values.yes) {
      if (!io.isTty)
        throw new UsageError("selftest writes to a live miner: pass --yes when not at a terminal");
      const rl = createInterface({ input: io.input, output: io.out });
      const answer = await rl.question(
        `This puts ${host} to sleep, wakes it and steps its power limit down and back up. Continue? [y/N] `,
      );
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) {
        io.out.write("nothing done\n");
        return 1;
      }
    }
    const report = await runSelftest({ host, port }, miner, first);
    io.out.write(values.json ? `${terminalJson(report, 2)}\n` : describe(report));
    return report.ok ? 0 : 1;
  } finally {
    await miner.close();
  }
}

/** The legs, in order, on a miner that answered `first`. Never throws for a miner's refusal. */
async function runSelftest(
  { host, port }: { host: string; port: number },
  miner: Miner,
  first: MinerReading,
): Promise<SelftestReport> {
  const caps = miner.capabilities;
  const legs: SelftestLeg[] = [];
  const notOffered = (leg: SelftestLeg["leg"], capability: MinerCapability) => {
    const why = miner.withdrawn.find((w) => w.capability === capability)?.reason;
    legs.push({
      leg,
      capability,
      worked: null,
      seconds: null,
      detail: why ? `withdrawn: ${why}` : "not offered by this dialect",
    });
  };
  /** Runs one leg, timed, and records it: `describeOk` words a leg that worked. */
  const timed = async (
    { leg, capability }: { leg: SelftestLeg["leg"]; capability: MinerCapability },
    run: () => Promise<WriteOutcome>,
    describeOk: (out: WriteOutcome) => string,
  ): Promise<WriteOutcome> => {
    const started = performance.now();
    const out = await run();
    legs.push({
      leg,
      capability,
      worked: out.ok,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      detail: out.ok ? describeOk(out) : (out.reason ?? "failed"),
    });
    return out;
  };
  const w = (r: MinerReading | null) => (r?.powerW == null ? "?" : `${Math.round(r.powerW)} W`);

  let asleep = false;
  if (caps.has("sleep")) {
    const out = await timed(
      { leg: "sleep", capability: "sleep" },
      () => miner.write("sleep"),
      (o) => `${w(o.before)} → ${w(o.after)}`,
    );
    asleep = out.ok;
  } else notOffered("sleep", "sleep");
  if (caps.has("wake")) {
    if (asleep || !caps.has("sleep")) {
      await timed(
        { leg: "wake", capability: "wake" },
        () => miner.write("wake"),
        (o) => `${o.after?.state ?? "?"}`,
      );
    } else {
      legs.push({
        leg: "wake",
        capability: "wake",
        worked: null,
        seconds: null,
        detail: "not run: the sleep leg failed",
      });
    }
  } else notOffered("wake", "wake");

  if (caps.has("setPowerLimit")) {
    const now = await miner.read();
    const fullW = now.powerLimitW ?? first.powerLimitW ?? now.powerW ?? first.powerW;
    if (fullW === null || fullW <= 0) {
      legs.push({
        leg: "limit down",
        capability: "setPowerLimit",
        worked: false,
        seconds: null,
        detail: "the miner reports neither a power limit nor its draw: no step to take",
      });
    } else {
      const floorW = now.minPowerLimitW ?? first.minPowerLimitW ?? 0;
      const downW = Math.max(Math.round(fullW * 0.85), Math.ceil(floorW));
      const down = await timed(
        { leg: "limit down", capability: "setPowerLimit" },
        () => miner.write("setPowerLimit", downW),
        (o) => `${downW} W asked; limit ${o.after?.powerLimitW ?? "?"} W, draw ${w(o.after)}`,
      );
      // back up to where it was: the leg that firmware like Braiins OS 24.02 refuses. With
      // discrete steps (LuxOS profiles) the step nearest the draw is the one it was on: a draw a
      // little under its profile asked as a target would land one step lower
      const steps = now.powerLimitStepsW ?? first.powerLimitStepsW ?? [];
      const nearest = steps.reduce<number | null>(
        (best, w) => (best === null || Math.abs(w - fullW) < Math.abs(best - fullW) ? w : best),
        null,
      );
      const upW = Math.min(Math.round(nearest ?? fullW), now.maxPowerLimitW ?? Number.POSITIVE_INFINITY);
      if (down.ok) {
        await timed(
          { leg: "limit up", capability: "setPowerLimit" },
          () => miner.write("setPowerLimit", upW),
          (o) => `${upW} W asked; limit ${o.after?.powerLimitW ?? "?"} W, draw ${w(o.after)}`,
        );
      } else {
        legs.push({
          leg: "limit up",
          capability: "setPowerLimit",
          worked: null,
          seconds: null,
          detail: "not run: the step down failed",
        });
      }
    }
  } else notOffered("limit down", "setPowerLimit");

  return {
    host,
    port,
    dialect: miner.dialect,
    firmware: first.firmware,
    model: first.model,
    capabilities: [...caps],
    legs,
    ok: legs.every((l) => l.worked !== false),
  };
}

function describe(r: SelftestReport): string {
  const t = (s: string | null) => (s === null ? "unknown" : printable(s));
  const rows = r.legs.map((l) => [
    t(r.firmware),
    l.leg,
    l.worked === null ? "—" : l.worked ? "yes" : "NO",
    l.seconds === null ? "" : `${l.seconds.toFixed(1)} s`,
    printable(l.detail),
  ]);
  const header = ["firmware", "leg", "worked", "time", "detail"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [
    `${r.host}:${r.port}  dialect ${t(r.dialect)}  model ${t(r.model)}`,
    line(header),
    ...rows.map(line),
    r.ok ? "compatible: every offered leg worked" : "NOT compatible: a leg failed (see detail)",
    "",
  ].join("\n");
}

function positiveMs(v: string | undefined, flag: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new UsageError(`${flag} is in milliseconds and must be positive`);
  return n;
}

function optionalPort(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag} must be a port (1–65535)`);
  return n;
}

function readPassword(file: string): string {
  try {
    // one line: a trailing newline from `echo` is not part of the password
    return readFileSync(file, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw new UsageError(
      `--password-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}
