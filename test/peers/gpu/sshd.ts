// Starts Debian's OpenSSH server on a loopback port for the GPU peer test: its
// own Ed25519 host key, key-only auth for the current user through a temp
// AuthorizedKeysFile, and a PATH (SetEnv) that finds the scripted nvidia-smi,
// scontrol and kubectl first. A missing binary fails the test with a clear message; it never skips.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { testPort, waitFor } from "../../helpers/ports.ts";

const SSHD = "/usr/sbin/sshd";
const KEYGEN = "/usr/bin/ssh-keygen";
/** Scripted programs put on the PATH sshd gives its sessions (name → script beside this file). */
const SCRIPTS = ["nvidia-smi", "scontrol", "kubectl"].map(
  (name) => [name, new URL(`./${name}.sh`, import.meta.url).pathname] as const,
);

export interface Sshd {
  host: string;
  port: number;
  user: string;
  dir: string;
  /** Client private key (OpenSSH format). */
  clientKey: string;
  clientKeyFile: string;
  /** The host key's fingerprint as `ssh-keygen -lf` prints it. */
  hostFingerprint: string;
  /** Makes every nvidia-smi run hang (ignoring SIGTERM) until cleared. */
  setHang(on: boolean): void;
  /** Power limit files the scripted nvidia-smi keeps (GPU index → W), or null. */
  limit(index: number): string | null;
  /** A state file the scripts keep beside them (`drain`, `cordoned`, `ops.log`), or null. */
  file(name: string): string | null;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<Sshd> {
  for (const bin of [SSHD, KEYGEN]) {
    if (!existsSync(bin))
      throw new Error(
        `${bin} is missing: the GPU peer suite needs Debian's openssh-server and openssh-client`,
      );
  }
  if (process.getuid?.() !== 0) throw new Error("the GPU peer suite starts sshd and must run as root");
  mkdirSync("/run/sshd", { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), "wk-sshd-"));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  for (const [name, script] of SCRIPTS) {
    copyFileSync(script, join(bin, name));
    chmodSync(join(bin, name), 0o755);
  }
  const keygen = (file: string) =>
    execFileSync(KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-C", "wk-test", "-f", file]);
  keygen(join(dir, "host_key"));
  keygen(join(dir, "client_key"));
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const hostFingerprint = execFileSync(KEYGEN, ["-l", "-E", "sha256", "-f", join(dir, "host_key.pub")], {
    encoding: "utf8",
  }).split(/\s+/)[1]!;
  const port = await testPort();
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${join(dir, "host_key")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "StrictModes no",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin prohibit-password",
    "UsePAM no",
    `SetEnv PATH=${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    "LogLevel ERROR",
  ].join("\n");
  writeFileSync(join(dir, "sshd_config"), `${config}\n`);
  const child: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", join(dir, "sshd_config")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  let exited: number | null = null;
  child.on("exit", (code) => {
    exited = code ?? -1;
  });
  try {
    await waitFor(
      "sshd to listen",
      () => {
        if (exited !== null) throw new Error(`sshd exited ${exited}: ${stderr.trim()}`);
        return new Promise<boolean>((resolve) => {
          const s = connect(port, "127.0.0.1");
          s.once("data", (d) => {
            s.destroy();
            resolve(d.toString().startsWith("SSH-2.0-"));
          });
          s.once("error", () => resolve(false));
          s.setTimeout(500, () => {
            s.destroy();
            resolve(false);
          });
        });
      },
      5000,
      50,
    );
  } catch (err) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host: "127.0.0.1",
    port,
    user: userInfo().username,
    dir,
    clientKey: readFileSync(join(dir, "client_key"), "utf8"),
    clientKeyFile: join(dir, "client_key"),
    hostFingerprint,
    setHang(on) {
      if (on) writeFileSync(join(dir, "hang"), "");
      else rmSync(join(dir, "hang"), { force: true });
    },
    limit(index) {
      const f = join(dir, `limit.${index}`);
      return existsSync(f) ? readFileSync(f, "utf8").trim() : null;
    },
    file(name) {
      const f = join(dir, name);
      return existsSync(f) ? readFileSync(f, "utf8") : null;
    },
    async stop() {
      if (exited === null) {
        const gone = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGTERM");
        await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
        if (exited === null) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
