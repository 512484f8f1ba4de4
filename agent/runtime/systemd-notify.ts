// sd_notify for the agent under systemd (Type=notify): READY=1 once the site
// runs, RELOADING=1/READY=1 around a config reload, STOPPING=1 on stop, and
// WATCHDOG=1 from healthy ticks. Node has no AF_UNIX datagram sockets, so each
// message is sent by spawning `systemd-notify` (the unit sets NotifyAccess=all,
// since the sender is our child, not the main PID). systemd attributes a
// message to the unit by the sender's cgroup, which fails if the sender has
// already exited: systemd-notify (systemd ≥ 246) without --no-block waits on a
// BARRIER=1 until the manager has processed the message, which closes that
// race; --pid names us as the main PID. Without NOTIFY_SOCKET every call is a
// no-op. Sends run one at a time; a watchdog ping that finds one in flight is
// dropped (the next tick sends another), so a slow manager never piles up children.
import { spawn } from "node:child_process";
import type { Logger } from "./logger.ts";

export type SpawnNotify = (
  args: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
) => Promise<{ ok: true } | { ok: false; error: string; missing?: boolean }>;

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  pid?: number;
  logger?: Logger;
  /** Runs systemd-notify (tests replace it). */
  spawnNotify?: SpawnNotify;
  /** Per message; systemd-notify's own barrier wait is 5 s. */
  timeoutMs?: number;
}

/** The notifications the agent sends. All are no-ops outside systemd. */
export interface Notifier {
  readonly enabled: boolean;
  /** Watchdog interval systemd expects (WatchdogSec), or null when the watchdog is off. */
  readonly watchdogMs: number | null;
  ready(status?: string): Promise<void>;
  reloading(status?: string): Promise<void>;
  stopping(status?: string): Promise<void>;
  status(text: string): Promise<void>;
  /** WATCHDOG=1, at most every watchdogMs/4 (systemd's advice is to ping at half the interval or more often). */
  watchdog(now?: number): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 8000;

const spawnSystemdNotify: SpawnNotify = (args, timeoutMs, env) =>
  new Promise((resolve) => {
    const child = spawn("systemd-notify", args, {
      env,
      stdio: ["ignore", "ignore", "pipe"],
      timeout: timeoutMs,
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      if (stderr.length < 500) stderr += d;
    });
    child.on("error", (err: NodeJS.ErrnoException) =>
      resolve({ ok: false, error: err.message, missing: err.code === "ENOENT" }),
    );
    child.on("close", (code, signal) => {
      if (code === 0) resolve({ ok: true });
      else resolve({ ok: false, error: `systemd-notify ${signal ?? `exit ${code}`}: ${stderr.trim()}` });
    });
  });

/** One line per STATUS: systemd shows it in `systemctl status`. */
const statusArg = (text: string) => `STATUS=${text.replace(/[\r\n]+/g, " ").slice(0, 200)}`;

export function createNotifier(opts: NotifierOptions = {}): Notifier {
  const env = opts.env ?? process.env;
  const pid = opts.pid ?? process.pid;
  const log = opts.logger?.child({ component: "systemd" });
  const run = opts.spawnNotify ?? spawnSystemdNotify;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const enabled = Boolean(env.NOTIFY_SOCKET);
  // sd_watchdog_enabled(): WATCHDOG_USEC set, and WATCHDOG_PID (if set) is us
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
  const watchdogMs = enabled && forUs && Number.isFinite(usec) && usec > 0 ? usec / 1000 : null;

  let chain: Promise<void> = Promise.resolve();
  let inFlight = 0;
  let lastPingAt = Number.NEGATIVE_INFINITY;
  let missingLogged = false;
  let lastError: string | null = null;

  const send = (fields: string[]): Promise<void> => {
    if (!enabled) return Promise.resolve();
    inFlight++;
    const next = chain.then(async () => {
      const res = await run([`--pid=${pid}`, ...fields], timeoutMs, env);
      if (res.ok) {
        if (lastError) log?.info("systemd notifications work again");
        lastError = null;
      } else if (res.missing) {
        if (!missingLogged)
          log?.error(
            { err: res.error },
            "systemd-notify not found: systemd cannot see readiness or the watchdog",
          );
        missingLogged = true;
      } else if (res.error !== lastError) {
        // logged once per distinct failure, not every tick
        log?.warn({ err: res.error, fields }, "systemd notification failed");
        lastError = res.error;
      }
    });
    chain = next.finally(() => {
      inFlight--;
    });
    return chain;
  };
  const withStatus = (field: string, status?: string) => (status ? [field, statusArg(status)] : [field]);

  return {
    enabled,
    watchdogMs,
    ready: (status) => send(withStatus("READY=1", status)),
    reloading: (status) =>
      // MONOTONIC_USEC: required by Type=notify-reload (systemd ≥ 253), harmless before
      send([...withStatus("RELOADING=1", status), `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`]),
    stopping: (status) => send(withStatus("STOPPING=1", status)),
    status: (text) => send([statusArg(text)]),
    watchdog: (now = Date.now()) => {
      if (watchdogMs === null || inFlight > 0 || now - lastPingAt < watchdogMs / 4) return Promise.resolve();
      lastPingAt = now;
      return send(["WATCHDOG=1"]);
    },
  };
}
