// Child of bench/soak.ts: the simulated site for a soak — N miners (60 %
// stock cgminer, 40 % LuxOS) on loopback addresses, a site meter, and G GPU
// nodes (8 GPUs each, ssh2 servers sharing one host key), all in one power
// model. Every 30 s about 1 % of the miners start or stop misbehaving: a
// refused connection (faulted), a slow reply (3 s), or garbage bytes.
// Prints one JSON line with what the agent's config needs, then runs until
// SIGTERM. Flap counts go to stdout as JSON lines "flaps".
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { allocateAddresses } from "../sim/addresses.ts";
import { startGpuNodeSim } from "../sim/gpu/server.ts";
import { generateKeyPair } from "../sim/gpu/ssh2.ts";
import { startSimSite } from "../sim/site.ts";
import { siteMeters } from "../test/helpers/sim-meters.ts";

const [minersArg, gpuArg, base, meterPortArg, dir] = process.argv.slice(2);
const N = Number(minersArg);
const G = Number(gpuArg);
const FLAP_FRACTION = 0.01;
const FLAP_EVERY_MS = 30_000;

const hosts = allocateAddresses(base!, N);
const sim = await startSimSite({
  miners: hosts.map((host, i) => ({
    id: `m-${i}`,
    host,
    port: 4028,
    dialect: i < Math.round(N * 0.6) ? "cgminer" : "luxos",
  })),
  // a meter port of 0: miners only (a further block of a fleet split over processes)
  meters: await siteMeters(Number(meterPortArg)),
  seed: 99,
  noiseW: 500,
  auxW: 50_000,
});

const client = generateKeyPair();
const hostKey = generateKeyPair().privateKey;
const gpus: Awaited<ReturnType<typeof startGpuNodeSim>>[] = [];
for (let i = 0; i < G; i++) {
  gpus.push(
    await startGpuNodeSim({ id: `g${i}`, authorizedKeys: [client.publicKey], hostKey, model: sim.model }),
  );
}
const keyFile = join(dir!, "gpu_ed25519");
if (G > 0) writeFileSync(keyFile, client.privateKey, { mode: 0o600 });

// ---- flapping: 1 % of the miners change behaviour every 30 s
type Bad = "refuse" | "slow" | "garbage";
const bad = new Map<number, Bad>();
let flaps = 0;
let rnd = 12345;
const random = () => {
  rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
  return rnd / 0x80000000;
};
async function flap(): Promise<void> {
  // heal what misbehaved, then pick a new 1 %
  for (const [i, how] of bad) {
    if (how === "refuse") await sim.setFaulted(`m-${i}`, false);
    else sim.cgminer.setMisbehaviour(`m-${i}`, {});
  }
  bad.clear();
  const count = Math.max(1, Math.round(N * FLAP_FRACTION));
  while (bad.size < count) {
    const i = Math.floor(random() * N);
    if (bad.has(i)) continue;
    const how: Bad = (["refuse", "slow", "garbage"] as const)[Math.floor(random() * 3)]!;
    bad.set(i, how);
    if (how === "refuse") await sim.setFaulted(`m-${i}`, true);
    else if (how === "slow") sim.cgminer.setMisbehaviour(`m-${i}`, { replyDelayMs: 3000 });
    else sim.cgminer.setMisbehaviour(`m-${i}`, { garbage: true });
    flaps++;
  }
}
const timer = setInterval(() => {
  void flap().then(() => process.stdout.write(`${JSON.stringify({ flaps })}\n`));
}, FLAP_EVERY_MS);

process.stdout.write(
  `${JSON.stringify({
    ready: true,
    first: hosts[0],
    last: hosts.at(-1),
    gpuPorts: gpus.map((g) => g.port),
    gpuFingerprint: gpus[0]?.hostKeyFingerprint ?? null,
    gpuKeyFile: keyFile,
  })}\n`,
);

process.on("SIGTERM", () => {
  clearInterval(timer);
  void Promise.all([sim.stop(), ...gpus.map((g) => g.stop())]).then(() => process.exit(0));
});
