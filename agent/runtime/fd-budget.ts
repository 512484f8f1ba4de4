// File descriptors as a budget. Every miner poll, every write to a miner,
// every SSH session to a GPU node, every Modbus connection, the MQTT link and
// the SQLite files take one; so does every HTTP connection. When a LAN host
// opens connections until the process reaches RLIMIT_NOFILE, device I/O fails
// with EMFILE and the loop goes blind. So the device side is sized first —
// from the config (miners, the poll and action concurrency, GPU nodes, meter
// connections) plus a fixed allowance for the process itself — and HTTP gets
// at most half of what remains (the other half is slack for what is not
// counted), never more than its configured cap. MQTT holds one connection per
// link, inside the fixed allowance, and takes no more however it is used.
import { readFileSync } from "node:fs";

/** Node itself, stdio, the SQLite connections (file + WAL + index each), MQTT links, child processes' pipes. */
export const PROCESS_FDS = 160;
/** The control loop sends to `concurrency` miners and confirms up to 4× that many at once (control/loop.ts). */
const ACTION_FACTOR = 5;
/** HTTP gets no fewer than this, even when the budget says less (with a warning). */
const MIN_HTTP_CONNECTIONS = 16;

/** The soft (or hard) RLIMIT_NOFILE of this process (Linux /proc), or null where it cannot be read. */
export function readFdLimit(limitsText?: string, which: "soft" | "hard" = "soft"): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return null;
  const v = which === "soft" ? m[1] : m[2];
  if (v === "unlimited") return Number.MAX_SAFE_INTEGER;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : null;
}

export interface DeviceFdNeeds {
  miners: number;
  /** Miners polled at once (the poller's concurrency). */
  minerConcurrency: number;
  /** Miners whose dialect keeps a session open between calls (Braiins gRPC). */
  sessionMiners: number;
  gpuNodes: number;
  meterConnections: number;
}

export interface FdPlan {
  /** RLIMIT_NOFILE, or null when unknown (then HTTP keeps its configured cap). */
  limit: number | null;
  /** Descriptors kept for devices and the process; HTTP never takes these. */
  reserved: number;
  /** The HTTP connection cap after the budget. */
  httpMaxConnections: number;
  /** Set when the limit is too low for the devices and a useful page both. */
  warning: string | null;
}

/** Descriptors device I/O may hold at once. */
export function deviceFds(n: DeviceFdNeeds): number {
  const minerSockets = Math.min(n.miners, n.minerConcurrency * (1 + ACTION_FACTOR));
  return minerSockets + Math.min(n.sessionMiners, n.miners) + n.gpuNodes + n.meterConnections;
}

export function planFds(needs: DeviceFdNeeds, httpConfigured: number, limit: number | null): FdPlan {
  const reserved = deviceFds(needs) + PROCESS_FDS;
  if (limit === null) return { limit, reserved, httpMaxConnections: httpConfigured, warning: null };
  const share = Math.floor((limit - reserved) / 2);
  if (share >= httpConfigured) return { limit, reserved, httpMaxConnections: httpConfigured, warning: null };
  const http = Math.max(Math.min(MIN_HTTP_CONNECTIONS, httpConfigured), share);
  const warning =
    share < MIN_HTTP_CONNECTIONS
      ? `open-file limit ${limit} is too low: devices need about ${reserved}; raise LimitNOFILE (the unit sets 65536)`
      : null;
  return { limit, reserved, httpMaxConnections: http, warning };
}
