// What one `npm run flood` run takes and gives back (bench/flood-run.ts): its
// options, the samples taken through the flood, and the result bench/flood.ts
// prints and the integration test checks.
import type { HalfOpenStats, RefusedPostStats, SseFloodStats } from "./flood-tools.ts";

export interface FloodOptions {
  minutes: number;
  connections: number;
  /** Source addresses the half-open connections come from. */
  sources: number;
  sseStreams: number;
  sseSources: number;
  postsPerS: number;
  miners: number;
  /** The agent's open-file limit (the systemd unit sets 65536). */
  agentNofile: number;
  trickleMs: number;
  reopenMs: number;
  /** Half-open connections per worker process. */
  perWorker: number;
  sampleS: number;
  pageEveryS: number;
  /** Where the agent's log and state go (default: a new temporary folder). */
  dir?: string;
  log?: (line: string) => void;
}

export interface FloodSample {
  s: number;
  agentFds: number | null;
  httpConnections: number | null;
  floodOpen: number;
  floodConnected: number;
  refusedConnections: number | null;
  sseOpen: number;
  postsSent: number;
  hashing: number | null;
  sleeping: number | null;
  unreachable: number | null;
  sitePowerKw: number | null;
  agentCpuPct: number | null;
  /** The agent's event-loop delay (prom-client's default metrics), ms. */
  loopLagP99Ms: number | null;
  /** Connections the kernel dropped because a listen queue was full, since the last sample (whole host). */
  listenOverflows: number | null;
}

export interface FloodResult {
  options: FloodOptions;
  dir: string;
  fdLimit: number | null;
  fdReserved: number | null;
  httpLimit: number | null;
  shedBaselineMs: number | null;
  shedFloodMs: number | null;
  leaseW: number;
  pageLoads: Array<{ s: number; ok: boolean; ms: number; detail?: Record<string, number | string> }>;
  samples: FloodSample[];
  /** Samples in which some miner was not readable (unreachable, or missing from the counts). */
  minersUnreadable: number;
  dbBytesBefore: number;
  dbBytesAfter: number;
  /** The database file's growth over the flood, the WAL checkpointed into it at both ends. */
  dbGrowthBytes: number;
  /** The WAL before the final checkpoint (a journal the agent reuses, not data). */
  walBytesAtEnd: number;
  auditRows: number;
  auditRefusals: number;
  flood: HalfOpenStats;
  sse: SseFloodStats;
  posts: RefusedPostStats;
  refusedConnections: Record<string, number>;
  agentFdsMax: number;
  agentExit: number | null;
}
