// A plain Debian Mosquitto on loopback (anonymous, no persistence) for the peer
// suites that need a real broker but not TLS or passwords.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testPort, waitFor } from "../helpers/ports.ts";

export const MOSQUITTO = "/usr/sbin/mosquitto";

export async function startPlainMosquitto(): Promise<{ port: number; url: string; process: ChildProcess }> {
  if (!existsSync(MOSQUITTO))
    throw new Error("this suite needs Debian's mosquitto (apt-get install mosquitto; .ci/run does)");
  const dir = mkdtempSync(join(tmpdir(), "wk-mosquitto-"));
  const port = await testPort();
  writeFileSync(
    join(dir, "mosquitto.conf"),
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`,
  );
  const proc = spawn(MOSQUITTO, ["-c", join(dir, "mosquitto.conf")], { stdio: "ignore" });
  await waitFor(
    "mosquitto",
    () =>
      new Promise<boolean>((r) => {
        const s = tcpConnect(port, "127.0.0.1", () => {
          s.destroy();
          r(true);
        });
        s.on("error", () => r(false));
      }),
  );
  return { port, url: `mqtt://127.0.0.1:${port}`, process: proc };
}
