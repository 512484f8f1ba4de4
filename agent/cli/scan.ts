// `wattkeeper scan RANGE… [--port P] [--concurrency N] [--timeout MS] [--threads N] [--json|--yaml]`:
// finds the miners in address ranges. Each host gets one connect with a short
// timeout (dead hosts cost little: refused at once, or the timeout), live ones
// a dialect detection and one read. Progress goes to stderr, results to stdout:
// a table, a JSON array (the `probe --json` shape) or a ready `miners:` snippet.
// A large range is shared out over threads (scan-threads.ts).
import { parseArgs } from "node:util";
import { expandHosts, ipv4ToString } from "../../config/hosts.ts";
import { formatHashrateThs } from "../../config/units.ts";
import { printable, terminalJson } from "../../drivers/printable.ts";
import type { MinerJson } from "./miner-json.ts";
import type { ScanOptions } from "./scan-hosts.ts";
import { defaultScanThreads, scanInThreads } from "./scan-threads.ts";
import { UsageError } from "./usage.ts";

export { scanHosts } from "./scan-hosts.ts";

function intOption(name: string, raw: string, { min, max }: { min: number; max: number }): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer in ${min}..${max}`);
  return n;
}

export async function scanCommand(
  argv: string[],
  out = process.stdout,
  err = process.stderr,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: "string", default: "4028" },
      concurrency: { type: "string", default: "256" },
      timeout: { type: "string", default: "1500" },
      threads: { type: "string", default: String(defaultScanThreads()) },
      json: { type: "boolean", default: false },
      yaml: { type: "boolean", default: false },
    },
  });
  if (positionals.length === 0)
    throw new UsageError("scan needs at least one RANGE (10.1.0.10-250, 10.1.0.0/24, or an address)");
  if (values.json && values.yaml) throw new UsageError("choose one of --json and --yaml");
  let hosts: string[];
  try {
    hosts = [...new Set(positionals.flatMap((p) => expandHosts(p)))];
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const opts: ScanOptions = {
    port: intOption("port", values.port, { min: 1, max: 65535 }),
    concurrency: intOption("concurrency", values.concurrency, { min: 1, max: 4096 }),
    timeoutMs: intOption("timeout", values.timeout, { min: 50, max: 60_000 }),
  };
  const started = Date.now();
  const tty = (err as NodeJS.WriteStream).isTTY === true;
  let lastDraw = 0;
  opts.onProgress = (done, total, found) => {
    const now = Date.now();
    if (!tty || (now - lastDraw < 100 && done < total)) return;
    lastDraw = now;
    const width = 30;
    const filled = Math.round((done / total) * width);
    err.write(
      `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} hosts, ${found} miners`,
    );
  };
  const threads = intOption("threads", values.threads, { min: 1, max: 64 });
  const found = await scanInThreads(hosts, opts, { threads });
  const miners = found.filter((m) => m.usable);
  const apart = found.filter((m) => !m.usable);
  if (tty) err.write("\n");
  err.write(
    `scanned ${hosts.length} hosts in ${((Date.now() - started) / 1000).toFixed(1)} s: ${miners.length} miners${
      apart.length > 0 ? `, ${apart.length} answering but not readable` : ""
    }\n`,
  );

  if (values.json) out.write(`${terminalJson(found, 2)}\n`);
  else if (values.yaml) out.write(configSnippet(miners, opts.port, apart));
  else out.write(table(miners, apart));
  return 0;
}

function table(miners: MinerJson[], apart: MinerJson[]): string {
  // device strings escaped: a model name must not drive the terminal
  const rows = miners.map((m) => [
    m.host,
    printable(m.dialect ?? "?"),
    printable(m.model ?? "?"),
    m.state,
    m.hashrateThs === null ? "" : formatHashrateThs(m.hashrateThs),
    m.powerW === null ? "" : String(m.powerW),
    m.capabilities.join(",") || "read",
  ]);
  const header = ["host", "dialect", "model", "state", "hashrate", "W", "can"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const listed = `${[line(header), ...rows.map(line)].join("\n")}\n`;
  if (apart.length === 0) return listed;
  const notes = apart.map((m) => `${m.host}  ${printable(m.reason ?? "")}`);
  return `${listed}\nanswering on port ${apart[0]!.port} but not readable as a miner:\n${notes.join("\n")}\n`;
}

/** Consecutive IPv4 addresses folded into `a-b` ranges, so a snippet stays short. */
export function foldRanges(hosts: string[]): string[] {
  const toInt = (h: string) => h.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  const ints = hosts.map(toInt).sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < ints.length; ) {
    let j = i;
    while (j + 1 < ints.length && ints[j + 1] === ints[j]! + 1) j++;
    out.push(i === j ? ipv4ToString(ints[i]!) : `${ipv4ToString(ints[i]!)}-${ipv4ToString(ints[j]!)}`);
    i = j + 1;
  }
  return out;
}

function configSnippet(miners: MinerJson[], port: number, apart: MinerJson[] = []): string {
  const byDialect = new Map<string, string[]>();
  for (const m of miners) {
    const d = m.dialect ?? "auto";
    byDialect.set(d, [...(byDialect.get(d) ?? []), m.host]);
  }
  const lines = ["miners:"];
  for (const [dialect, hosts] of byDialect) {
    const ranges = foldRanges(hosts);
    lines.push(`  - hosts: ${ranges.length === 1 ? ranges[0] : `[${ranges.join(", ")}]`}`);
    if (port !== 4028) lines.push(`    port: ${port}`);
    lines.push(`    dialect: ${dialect}`);
  }
  if (byDialect.size === 0) lines.push("  []");
  // left out of the snippet, said as comments: a host to check, not to configure as it is
  for (const m of apart)
    lines.push(`# left out: ${m.host}: ${printable(m.reason ?? "").replace(/\n/g, " ")}`);
  return `${lines.join("\n")}\n`;
}
