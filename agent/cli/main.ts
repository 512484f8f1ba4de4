// The `wattkeeper` command line: parses the sub-command and its flags and runs
// it. A user's mistake gets a message and exit 2, never a stack trace.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfigOrReport } from "../../config/load.ts";
import { PACKAGE_ROOT } from "../../config/paths.ts";
import { summarizeConfig } from "../../config/summary.ts";
import { createLogger } from "../runtime/logger.ts";
import { hashPasswordCommand } from "./hash-password.ts";
import { keygenCommand } from "./keygen.ts";
import { probeCommand } from "./probe.ts";
import { runCommand } from "./run.ts";
import { scanCommand } from "./scan.ts";
import { selftestCommand } from "./selftest.ts";
import { sendCommand } from "./send.ts";
import { signPriceCommand } from "./sign-price.ts";
import { tailTelemetryCommand } from "./tail-telemetry.ts";
import { UsageError } from "./usage.ts";

export const VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }
).version;

const DEFAULT_CONFIG = process.env.WATTKEEPER_CONFIG ?? "/etc/wattkeeper/config.yaml";

const HELP = `wattkeeper ${VERSION} — edge agent for hybrid Bitcoin-mining + AI sites

Usage: wattkeeper <command> [options]

Commands:
  run [--config FILE]                 run the agent (default config: $WATTKEEPER_CONFIG or ${"/etc/wattkeeper/config.yaml"});
                                      a config with a \`sim:\` section also starts the embedded simulated site
                                      SIGHUP reloads the config (a bad one is refused), SIGTERM stops cleanly
  check-config FILE [--strict-files]  validate a config; prints a summary (exit 0) or every problem
                                      as FILE: path.to.key: message (exit 2)
  scan RANGE… [--port P] [--concurrency N] [--timeout MS] [--threads N] [--json|--yaml]
                                      find miners in address ranges (10.1.0.10-250, 10.1.0.0/24, an address);
                                      a table, a JSON array, or a ready \`miners:\` config snippet
  probe miner HOST[:PORT] [--dialect D] [--json]
                                      one miner's normalised reading and what the agent can do with it
  probe meter (--tcp H:P | --rtu DEV --baud N [--parity P] | --rtu-over-tcp H:P) --unit N --profile P [--json]
                                      one meter reading: is the meter wired right?
  selftest miner HOST[:PORT] [--dialect D] [--user U --password-file F] [--web-port P] [--grpc-port P] [--yes] [--json]
                                      after a firmware upgrade: sleep, wake, a power-limit step down and up on
                                      one miner, each confirmed by read-back and timed; one row per leg (asks first)
  probe gpu [USER@]HOST[:PORT] --key FILE --host-key SHA256:… [--json]
                                      one GPU node's reading over SSH; refuses an unknown host key
  probe signal (modbus|target|openadr) --config FILE [--json]
                                      what a grid signal input sees now: the VTN's programs and events,
                                      the setpoint server's registers, the aggregator's latest target
  keygen --out PREFIX                 an Ed25519 pair for signing commands: PREFIX.key.pem, PREFIX.pub.pem
  send (--config FILE | --broker URL [--ca FILE] [--username U --password-file F] [--mqtt-version 4|5])
       --site ID --key FILE [--key-name NAME] NAME [BODY-JSON] [--timeout S]
                                      sign a command (budget/set, budget/clear, mode/set, device/action, ping),
                                      publish it, print the site's response; exit 0 ok, 1 rejected, 3 no response
  tail-telemetry --broker URL --site ID [--json] [--once] [--kind K,…] [--timeout S]
       [--ca FILE] [--username U --password-file F] [--mqtt-version 4|5] [--topic-root ROOT]
                                      subscribe to a site's telemetry/devices, rebuild the fleet from full
                                      refreshes + deltas and print it each poll cycle (a table, or a JSON
                                      line per cycle); sequence gaps on stderr; --once: print once synced
  sign-price --key FILE [--key-name NAME] --topic TOPIC VALUE
                                      print a signed price message (economics.signedPrices) to publish
                                      retained on TOPIC; VALUE null clears the price
  hash-password                       read a password on stdin, print its scrypt hash for
                                      http.operators[].passwordHash (status page login)
  sim [--miners N] [--base-address A] [--port P] [--meter-port P] [--seed N] [--aux-w W]
                                      run the simulated site alone (CGMiner-API miners + Modbus meter)

Options:
  -h, --help       this help
  -v, --version    print the version

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid config.
Docs: README.md (CLI and config reference: docs/config.md).`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case "-h":
      case "--help":
      case "help":
        process.stdout.write(`${HELP}\n`);
        return command === undefined ? 2 : 0;
      case "-v":
      case "--version":
        process.stdout.write(`${VERSION}\n`);
        return 0;
      case "check-config":
        return await checkConfigCommand(rest);
      case "run":
        return await runCommand(rest, { version: VERSION, defaultConfig: DEFAULT_CONFIG });
      case "sim":
        return await simCommand(rest);
      case "scan":
        return await scanCommand(rest);
      case "probe":
        return await probeCommand(rest);
      case "selftest":
        return await selftestCommand(rest);
      case "hash-password":
        return await hashPasswordCommand(rest);
      case "keygen":
        return await keygenCommand(rest);
      case "send":
        return await sendCommand(rest);
      case "sign-price":
        return await signPriceCommand(rest);
      case "tail-telemetry": {
        const { controller } = untilSignal();
        return await tailTelemetryCommand(rest, { signal: controller.signal });
      }
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`wattkeeper: ${(err as Error).message}\nRun 'wattkeeper --help' for usage.\n`);
      return 2;
    }
    throw err;
  }
}

async function checkConfigCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { "strict-files": { type: "boolean", default: false } },
  });
  if (positionals.length !== 1) throw new UsageError("check-config takes exactly one FILE");
  const file = positionals[0]!;
  const loaded = await loadConfigOrReport(file, { strictFiles: values["strict-files"], warnings: true });
  if (!loaded) return 2;
  process.stdout.write(`${file}: valid\n${summarizeConfig(loaded.config)}\n`);
  return 0;
}

/** Resolves on the first SIGTERM/SIGINT; handlers are removed afterwards (`sim`; `run` has its own, with reload). */
function untilSignal(): { promise: Promise<string>; controller: AbortController } {
  const controller = new AbortController();
  const promise = new Promise<string>((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off("SIGTERM", on);
      process.off("SIGINT", on);
      controller.abort();
      resolve(sig);
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
  return { promise, controller };
}

async function simCommand(argv: string[]): Promise<number> {
  const { runSimCommand } = await import("../../sim/cli.ts");
  const logger = createLogger();
  const { controller } = untilSignal();
  return runSimCommand(argv, { logger, signal: controller.signal });
}
