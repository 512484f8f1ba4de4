import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { waitFor } from "../helpers/ports.ts";
import { MOSQUITTO } from "./mosquitto.ts";

export const USER = "wk-agent";
export const PASSWORD = "s3cret-broker-pass";

export function requireMosquitto(): void {
  const missing: string[] = [];
  if (!existsSync(MOSQUITTO)) missing.push(`mosquitto (${MOSQUITTO})`);
  try {
    execFileSync("openssl", ["version"], { stdio: "pipe" });
  } catch {
    missing.push("openssl (not on PATH)");
  }
  if (missing.length > 0) {
    throw new Error(
      `Mosquitto peer suite needs Debian packages: ${missing.join("; ")}. Install: apt-get install mosquitto openssl (.ci/run does)`,
    );
  }
}

/** A CA, and a server certificate for 127.0.0.1 signed by it. */
export function makeCerts(dir: string): void {
  const ssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=wattkeeper test CA",
  ]);
  ssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  ssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ]);
  // a client certificate for mutual TLS
  ssl(["req", ...ec, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=wattkeeper agent"]);
  ssl([
    "x509",
    "-req",
    "-in",
    "client.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "client.pem",
    "-days",
    "2",
  ]);
}

/** The password file: mosquitto_passwd when installed, else its format written here (PBKDF2-SHA512, as 2.0 writes it). */
export function makePasswordFile(file: string): void {
  try {
    execFileSync("mosquitto_passwd", ["-b", "-c", file, USER, PASSWORD], { stdio: "pipe" });
    return;
  } catch {}
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(PASSWORD, salt, 101, 64, "sha512");
  writeFileSync(file, `${USER}:$7$101$${salt.toString("base64")}$${hash.toString("base64")}\n`);
}

export interface Broker {
  port: number;
  mtlsPort: number;
  start(): Promise<void>;
  kill(): Promise<void>;
}

export function mosquitto(dir: string, port: number, mtlsPort: number): Broker {
  writeFileSync(
    join(dir, "mosquitto.conf"),
    `per_listener_settings false
allow_anonymous false
password_file ${join(dir, "passwd")}
persistence false
log_dest stderr
log_type error
log_type warning
listener ${port} 127.0.0.1
cafile ${join(dir, "ca.pem")}
certfile ${join(dir, "server.pem")}
keyfile ${join(dir, "server.key")}
listener ${mtlsPort} 127.0.0.1
cafile ${join(dir, "ca.pem")}
certfile ${join(dir, "server.pem")}
keyfile ${join(dir, "server.key")}
require_certificate true
`,
  );
  let child: ChildProcess | null = null;
  let stderr = "";
  return {
    port,
    mtlsPort,
    async start() {
      const c = spawn(MOSQUITTO, ["-c", join(dir, "mosquitto.conf")], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      child = c;
      c.stderr?.on("data", (d) => {
        stderr += d.toString();
      });
      await waitFor(`mosquitto listening on ${port} (${stderr.trim().slice(-200)})`, async () => {
        if (c.exitCode !== null) throw new Error(`mosquitto exited ${c.exitCode}: ${stderr}`);
        return new Promise<boolean>((r) => {
          const s = tcpConnect(port, "127.0.0.1", () => {
            s.destroy();
            r(true);
          });
          s.on("error", () => r(false));
        });
      });
    },
    async kill() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((r) => c.once("exit", r));
      c.kill("SIGKILL");
      await gone;
    },
  };
}
