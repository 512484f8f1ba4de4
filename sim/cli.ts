// `wattkeeper sim`: the simulated site on its own, for demos, benches and for
// pointing a separately started agent at. Prints what it serves and a config
// snippet to paste, then runs until the signal aborts.
import { parseArgs } from "node:util";
import type { Logger } from "pino";
import { allocateAddresses, toRanges } from "./addresses.ts";
import { loadMeterProfile } from "./profiles.ts";
import { type SimMeterSpec, startSimSite } from "./site.ts";

const USAGE = `usage: wattkeeper sim [--miners N] [--base-address 127.1.0.1] [--port 4028] [--dialect D[,D…]]
                     [--meter-host 127.0.0.1] [--meter-port 5020] [--seed N] [--aux-w W] [--noise-w W]`;

export interface SimCliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const defaultIo: SimCliIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

/** `raw` as an integer in min..max; `def` when the flag was not given. */
function intFlag(
  name: string,
  raw: string | undefined,
  { def, min, max }: { def: number; min: number; max: number },
): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer in ${min}..${max} (got "${raw}")`);
  }
  return n;
}

class UsageError extends Error {}

/**
 * Dialects the sim serves from here (Whatsminer without a write password: reads only; auradine
 * adds the FluxOS web API on port 8080 of each host, factory login admin/admin; antminer is stock
 * bmminer with the web CGI on ANTMINER_WEB_PORT of each host, factory login root/root; cgminer is
 * stock cgminer 4.11 on other hardware: reads only).
 */
export const CLI_DIALECTS = [
  "cgminer",
  "antminer",
  "luxos",
  "braiins",
  "avalon",
  "whatsminer",
  "auradine",
  "epic",
  "proto",
  "espminer",
  "vnish",
];

/** Where the CLI's stock Antminers serve their web CGI (80 needs privileges; 8080 is Auradine's). */
const ANTMINER_WEB_PORT = 8081;

/** What the sim serves for a miner of the CLI dialect `d`. */
function minerOf(d: string): { dialect: string; program?: "cgminer"; webPort?: number } {
  if (d === "cgminer") return { dialect: d, program: "cgminer" };
  if (d === "antminer") return { dialect: d, webPort: ANTMINER_WEB_PORT };
  return { dialect: d };
}

/** `--dialect D` or `--dialect A,B,…` (the fleet split into that many blocks of consecutive addresses). */
function dialectFlag(raw: string | undefined): string[] {
  if (raw === undefined) return ["antminer"];
  const list = raw.split(",").map((d) => d.trim());
  for (const d of list)
    if (!CLI_DIALECTS.includes(d))
      throw new UsageError(`--dialect takes ${CLI_DIALECTS.join(", ")} (or a list)`);
  return list;
}

/** The dialect of miner `i` of `n` when the fleet is split into blocks, one per dialect. */
export function dialectBlock(dialects: readonly string[], i: number, n: number): string {
  return dialects[Math.min(dialects.length - 1, Math.floor((i * dialects.length) / Math.max(1, n)))]!;
}

export async function runSimCommand(
  argv: string[],
  { logger, signal, io = defaultIo }: { logger: Logger; signal: AbortSignal; io?: SimCliIo },
): Promise<number> {
  let opts: {
    miners: number;
    base: string;
    port: number;
    meterHost: string;
    meterPort: number;
    seed: number;
    auxW: number;
    noiseW: number;
    dialects: string[];
  };
  let addresses: string[];
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        miners: { type: "string" },
        "base-address": { type: "string" },
        port: { type: "string" },
        "meter-host": { type: "string" },
        "meter-port": { type: "string" },
        seed: { type: "string" },
        "aux-w": { type: "string" },
        "noise-w": { type: "string" },
        dialect: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    opts = {
      miners: intFlag("miners", values.miners, { def: 10, min: 0, max: 100_000 }),
      base: values["base-address"] ?? "127.1.0.1",
      port: intFlag("port", values.port, { def: 4028, min: 1, max: 65535 }),
      meterHost: values["meter-host"] ?? "127.0.0.1",
      meterPort: intFlag("meter-port", values["meter-port"], { def: 5020, min: 1, max: 65534 }),
      seed: intFlag("seed", values.seed, { def: 1, min: 0, max: 0xffffffff }),
      auxW: intFlag("aux-w", values["aux-w"], { def: 2000, min: 0, max: 1e9 }),
      noiseW: intFlag("noise-w", values["noise-w"], { def: 50, min: 0, max: 1e9 }),
      dialects: dialectFlag(values.dialect),
    };
    addresses = allocateAddresses(opts.base, opts.miners);
  } catch (err) {
    io.err(`wattkeeper sim: ${(err as Error).message}`);
    io.err(USAGE);
    return 2;
  }

  const profile = await loadMeterProfile("sdm630");
  const miners = addresses.map((host, i) => {
    const d = dialectBlock(opts.dialects, i, addresses.length);
    return { id: `${host}:${opts.port}`, host, port: opts.port, ...minerOf(d) };
  });
  const meters: SimMeterSpec[] = [
    { id: "sim-site", role: "site", host: opts.meterHost, port: opts.meterPort, unitId: 1, profile },
    { id: "sim-mining", role: "mining", host: opts.meterHost, port: opts.meterPort + 1, unitId: 1, profile },
  ];
  let site: Awaited<ReturnType<typeof startSimSite>>;
  try {
    site = await startSimSite({
      miners,
      meters,
      seed: opts.seed,
      auxW: opts.auxW,
      noiseW: opts.noiseW,
      logger,
    });
  } catch (err) {
    io.err(`wattkeeper sim: ${(err as Error).message}`);
    return 1;
  }

  const blocks = opts.dialects.map((d) => ({
    dialect: d,
    ranges: toRanges(addresses.filter((_, i) => dialectBlock(opts.dialects, i, addresses.length) === d)),
  }));
  const ranges = blocks.flatMap((b) => b.ranges);
  io.out(
    `simulated site: ${miners.length} miners (${opts.dialects.join(", ")}) on ${ranges.join(", ") || "-"} port ${opts.port}; ` +
      `SDM630 meters on ${opts.meterHost}:${opts.meterPort} (site) and :${opts.meterPort + 1} (mining); ` +
      `site draw ${(site.model.totalW() / 1000).toFixed(1)} kW; seed ${opts.seed}`,
  );
  io.out("# paste into a wattkeeper config:");
  io.out("miners:");
  for (const b of blocks) {
    for (const r of b.ranges) {
      io.out(`  - hosts: ${r}`);
      io.out(`    port: ${opts.port}`);
      io.out(`    dialect: ${b.dialect}`);
      if (b.dialect === "antminer") {
        io.out(`    webPort: ${ANTMINER_WEB_PORT}`);
        io.out(
          "    # control needs the web login (root/root here): credentials: { username: root, passwordFile: … }",
        );
      }
      io.out("    location: sim");
    }
  }
  if (ranges.length === 0) io.out("  []");
  io.out("meters:");
  for (const m of meters) {
    io.out(`  - id: ${m.id}`);
    io.out(`    role: ${m.role}`);
    io.out("    profile: sdm630");
    io.out(`    modbus: { tcp: "${m.host}:${m.port}", unitId: ${m.unitId} }`);
  }

  if (!signal.aborted) {
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  }
  await site.stop();
  logger.info("simulated site stopped");
  return 0;
}
