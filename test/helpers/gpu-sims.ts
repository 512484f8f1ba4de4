// Simulated GPU nodes for a site test: SSH servers coupled to the site's power
// model, the gateway's key in `<dir>/id_ed25519`, and the `gpuNodes:` config
// lines that pin each node's host key.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type GpuNodeSim, startGpuNodeSim } from "../../sim/gpu/server.ts";
import { generateKeyPair } from "../../sim/gpu/ssh2.ts";
import type { PowerModel } from "../../sim/power-model.ts";

export async function startGpuSims(
  ids: readonly string[],
  o: { dir: string; model: PowerModel },
): Promise<GpuNodeSim[]> {
  const client = generateKeyPair();
  writeFileSync(join(o.dir, "id_ed25519"), client.privateKey, { mode: 0o600 });
  const gpus: GpuNodeSim[] = [];
  for (const id of ids)
    gpus.push(await startGpuNodeSim({ id, authorizedKeys: [client.publicKey], model: o.model }));
  return gpus;
}

/** The `gpuNodes:` section for these nodes (key file relative to the config). */
export function gpuNodesYaml(gpus: readonly GpuNodeSim[]): string {
  const lines = gpus.map(
    (g) =>
      `  - { id: ${g.id}, host: 127.0.0.1, port: ${g.port}, user: wattkeeper, privateKeyFile: ./id_ed25519, hostKeySha256: "${g.hostKeyFingerprint}", floorW: 350 }`,
  );
  return `gpuNodes:\n${lines.join("\n")}\n`;
}
