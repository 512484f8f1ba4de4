// A simulated GPU node: an SSH server (ssh2's Server) with its own Ed25519 host
// key and key-only auth, whose exec channel runs a small shell (sim/gpu/shell.ts)
// in front of the scripted nvidia-smi (sim/gpu/smi.ts) and a workload manager
// (sim/gpu/workload.ts: Slurm drain, kubectl cordon). Its GPUs' draw feeds the power model as an "ai" load, so a
// cap set over SSH lowers what the site meters read. It counts open channels
// so tests can show a timed-out command leaves none behind.
import { createHash, timingSafeEqual } from "node:crypto";
import type { PowerModel } from "../power-model.ts";
import { ShellSim } from "./shell.ts";
import { SmiSim } from "./smi.ts";
import {
  generateKeyPair,
  parsePublicKey,
  Server,
  type ServerChannel,
  type ServerConnection,
  type Session,
} from "./ssh2.ts";
import { WorkloadSim } from "./workload.ts";

export interface GpuNodeSimOptions {
  id?: string;
  host?: string;
  /** 0 = a free port. */
  port?: number;
  gpus?: number;
  /** authorized_keys lines (or OpenSSH public keys) allowed to log in. */
  authorizedKeys: string[];
  /** Users allowed (default: any user with an authorized key). */
  users?: string[] | null;
  /** OpenSSH private host key; a fresh Ed25519 one when absent. */
  hostKey?: string | null;
  /** Couples the GPUs' draw into this power model as an "ai" load. */
  model?: PowerModel | null;
  /** Delay before each command answers (ms), for benches. */
  execDelayMs?: number;
  /** The node's name in the workload manager (Slurm, Kubernetes); default: the id. */
  nodeName?: string;
  /** How long running jobs take to finish once the node is drained or cordoned (ms). */
  drainDelayMs?: number;
}

export interface GpuNodeSim {
  id: string;
  host: string;
  port: number;
  /** "SHA256:…" of the host key, as ssh-keygen -lf prints it. */
  hostKeyFingerprint: string;
  smi: SmiSim;
  /** The login shell: every command line received, and test hooks (hang, fail). */
  shell: ShellSim;
  /** Slurm / Kubernetes state of the node (drained, cordoned). */
  workload: WorkloadSim;
  /** Session channels open now (all connections). */
  openChannels(): number;
  /** SSH connections open now. */
  connections(): number;
  /** Commands received so far. */
  execs(): number;
  /** Limits fall back to default, as after a driver reload. */
  reloadDriver(): void;
  /** Drops every connection and reloads the driver, as a reboot does. */
  reboot(): void;
  /** Resets every TCP connection (RST): the client sees ECONNRESET. */
  resetConnections(): void;
  stop(): Promise<void>;
}

function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

export async function startGpuNodeSim(opts: GpuNodeSimOptions): Promise<GpuNodeSim> {
  const id = opts.id ?? "gpu-sim";
  const host = opts.host ?? "127.0.0.1";
  const hostKey = opts.hostKey ?? generateKeyPair().privateKey;
  const hostPub = parsePublicKey(hostKey).getPublicSSH();
  const allowed = opts.authorizedKeys.map((k) => parsePublicKey(k));
  const smi = new SmiSim({ gpus: opts.gpus, seed: id });
  const workload = new WorkloadSim({ nodeName: opts.nodeName ?? id, smi, drainDelayMs: opts.drainDelayMs });
  const shell = new ShellSim({ smi, workload });
  const sessions = new Set<Session>();
  const clients = new Set<ServerConnection>();
  let execCount = 0;

  const onExec = (stream: ServerChannel, command: string) => {
    execCount++;
    const answer = () => {
      const r = shell.run(command);
      if ("hang" in r) return; // stays open until the client closes the channel
      if (r.stdout) stream.write(r.stdout);
      if (r.stderr) stream.stderr.write(r.stderr);
      stream.exit(r.code);
      stream.end();
    };
    if (opts.execDelayMs) {
      const t = setTimeout(answer, opts.execDelayMs);
      stream.on("close", () => clearTimeout(t));
    } else answer();
  };

  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    clients.add(client);
    const mine = new Set<Session>();
    client.on("authentication", (ctx) => {
      const key = ctx.method === "publickey" ? ctx.key : undefined;
      const userOk = !opts.users || opts.users.includes(ctx.username);
      const match =
        key && userOk
          ? allowed.find((a) => {
              const pub = a.getPublicSSH();
              return a.type === key.algo && pub.length === key.data.length && timingSafeEqual(pub, key.data);
            })
          : undefined;
      if (!match) return ctx.reject(["publickey"]);
      if (!ctx.signature) return ctx.accept(); // the "would you accept this key?" query
      const ok = match.verify(ctx.blob!, ctx.signature, ctx.hashAlgo);
      if (ok === true) ctx.accept();
      else ctx.reject(["publickey"]);
    });
    client.on("ready", () => {
      client.on("session", (accept) => {
        const session = accept();
        sessions.add(session);
        mine.add(session);
        session.on("close", () => {
          sessions.delete(session);
          mine.delete(session);
        });
        session.on("exec", (acceptExec, _reject, info) => onExec(acceptExec(), info.command));
      });
    });
    client.on("error", () => {
      // a client that vanished (ECONNRESET) or was refused; nothing to do
    });
    client.on("close", () => {
      clients.delete(client);
      for (const s of mine) sessions.delete(s);
      mine.clear();
    });
  });
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, host, resolve));
  const port = server.address().port;
  const removeLoad = opts.model ? opts.model.addLoad(`gpu:${id}`, () => smi.powerW(), "ai") : null;

  const dropAll = () => {
    for (const c of clients) {
      try {
        c.end();
      } catch {
        // already gone
      }
    }
  };

  return {
    id,
    host,
    port,
    hostKeyFingerprint: sshFingerprint(hostPub),
    smi,
    shell,
    workload,
    openChannels: () => sessions.size,
    connections: () => clients.size,
    execs: () => execCount,
    reloadDriver: () => smi.reloadDriver(),
    reboot() {
      dropAll();
      smi.reloadDriver();
    },
    resetConnections() {
      for (const c of clients) {
        const sock = (c as unknown as { _sock?: { resetAndDestroy?: () => void; destroy: () => void } })
          ._sock;
        if (sock?.resetAndDestroy) sock.resetAndDestroy();
        else sock?.destroy();
      }
    },
    async stop() {
      removeLoad?.();
      workload.stop();
      dropAll();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        server.close(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
}
