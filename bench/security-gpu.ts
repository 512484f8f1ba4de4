// `npm run security` case for GPU nodes: a host presenting a key other than the
// pinned one must be refused before any command runs on it.
import { createHash, randomBytes } from "node:crypto";
import { GpuNode } from "../drivers/nvidia/node.ts";
import { startGpuNodeSim } from "../sim/gpu/server.ts";
import { generateKeyPair } from "../sim/gpu/ssh2.ts";
import { counts, type SecurityCase } from "./security-case.ts";

export function hostKeyCase(attempts: number): SecurityCase {
  return {
    item: "GPU SSH",
    name: "unknown host key",
    run: async () => {
      const client = generateKeyPair();
      const gpu = await startGpuNodeSim({ id: "imposter", authorizedKeys: [client.publicKey] });
      const c = counts();
      for (let i = 0; i < attempts; i++) {
        // a pinned fingerprint that is not the one the host presents: a swapped or spoofed host
        const pinned = `SHA256:${createHash("sha256").update(randomBytes(32)).digest("base64").replace(/=+$/, "")}`;
        const node = new GpuNode(
          {
            host: gpu.host,
            port: gpu.port,
            user: "wk",
            privateKey: client.privateKey,
            hostKeySha256: pinned,
            floorW: 350,
          },
          { commandTimeoutMs: 2000 },
        );
        const r = await node.read();
        await node.stop();
        c.attempted++;
        if (r.state !== "ok" && r.gpus.length === 0) c.refused++;
        if ((r.reason ?? "").includes(gpu.hostKeyFingerprint) && (r.reason ?? "").includes(pinned))
          c.expectedReason!++;
      }
      c.applied = gpu.execs();
      await gpu.stop();
      return { ...c, note: `${c.applied} nvidia-smi commands run on the imposter` };
    },
  };
}
