// The one root logger (pino). Components take `logger.child({component})`,
// devices `logger.child({device: id})`. Secrets are redacted by path so a config
// object or a connection option logged by mistake never leaks a password.
import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";

export type { Logger };

/** Paths pino censors wherever they appear (one and two levels deep). */
const REDACT_PATHS = [
  "password",
  "passphrase",
  "privateKey",
  "token",
  "secret",
  "authorization",
  "*.password",
  "*.passphrase",
  "*.privateKey",
  "*.token",
  "*.secret",
  "*.authorization",
  "*.*.password",
  "*.*.privateKey",
  "*.*.token",
  "*.*.secret",
];

export interface LoggerSetup {
  level?: string;
  /** Pretty, human output. Defaults to "stdout is a terminal". */
  pretty?: boolean;
  /** Where to write; defaults to stdout. Tests pass a stream to read the JSON lines back. */
  destination?: NodeJS.WritableStream | DestinationStream;
}

export function createLogger(setup: LoggerSetup = {}): Logger {
  const options: LoggerOptions = {
    level: setup.level ?? process.env.WATTKEEPER_LOG_LEVEL ?? "info",
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  const pretty = setup.pretty ?? (setup.destination === undefined && process.stdout.isTTY === true);
  if (pretty) {
    return pino({
      ...options,
      transport: {
        target: "pino-pretty",
        options: { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" },
      },
    });
  }
  if (setup.destination) return pino(options, setup.destination as pino.DestinationStream);
  return pino(options, pino.destination({ sync: true }));
}

/** A logger that drops everything (unit tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
