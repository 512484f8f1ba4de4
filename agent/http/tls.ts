// HTTPS for the status page (config `http.tls`): a certificate and key from
// files, or `selfSigned: true` — one made once in the state directory with
// the system's openssl (Node has no certificate generator) and kept, so its
// fingerprint stays the same across restarts and a technician can compare it
// with what the browser shows. The SHA-256 fingerprint is logged at start.
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface TlsMaterial {
  cert: string;
  key: string;
  /** "AB:CD:…", as browsers show a certificate's SHA-256 fingerprint. */
  fingerprint256: string;
  /** Where it came from: the configured files, or the self-signed pair in the state directory. */
  source: string;
}

export const SELF_SIGNED_CERT = "http-selfsigned.crt";
export const SELF_SIGNED_KEY = "http-selfsigned.key";
/** openssl gets this long to make a key and certificate (an EC key takes milliseconds). */
const OPENSSL_TIMEOUT_MS = 20_000;
const VALID_DAYS = 3650;

/** The certificate's SHA-256 fingerprint, or an error naming what is wrong with the PEM. */
function fingerprintOf(certPem: string, what: string): string {
  try {
    return new X509Certificate(certPem).fingerprint256;
  } catch (err) {
    throw new Error(`${what}: not a PEM certificate (${(err as Error).message})`);
  }
}

/** A configured certificate and key (their PEM text, as the config loader read them). */
export function tlsFromFiles(cert: string, key: string, source: string): TlsMaterial {
  return { cert, key, fingerprint256: fingerprintOf(cert, source), source };
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: OPENSSL_TIMEOUT_MS }, (err, _out, stderr) => {
      if (!err) return resolve();
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === "ENOENT")
        reject(
          new Error(
            "http.tls.selfSigned needs the openssl command (Debian: apt install openssl), or give http.tls.certFile and keyFile",
          ),
        );
      else if (e.killed) reject(new Error(`openssl did not finish in ${OPENSSL_TIMEOUT_MS / 1000} s`));
      else
        reject(new Error(`openssl failed: ${String(stderr).trim().split("\n").slice(-1)[0] || e.message}`));
    });
  });
}

/**
 * The self-signed pair in `stateDir`: read when it is there, made (EC P-256,
 * ten years, CN and SAN naming the site and the listen address) when not.
 */
export async function selfSignedTls(
  stateDir: string,
  names: { siteId: string; listenHost: string },
  openssl = "openssl",
): Promise<TlsMaterial & { created: boolean }> {
  const certPath = join(stateDir, SELF_SIGNED_CERT);
  const keyPath = join(stateDir, SELF_SIGNED_KEY);
  let created = false;
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(stateDir, { recursive: true });
    const san = ["DNS:localhost", "IP:127.0.0.1"];
    const h = names.listenHost;
    if (h && h !== "0.0.0.0" && h !== "::" && h !== "127.0.0.1")
      san.push(/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`);
    await run(openssl, [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      String(VALID_DAYS),
      "-subj",
      `/CN=wattkeeper ${names.siteId}`,
      "-addext",
      `subjectAltName=${san.join(",")}`,
    ]);
    // the private key is for the agent alone, whatever the umask
    chmodSync(keyPath, 0o600);
    created = true;
  }
  const cert = readFileSync(certPath, "utf8");
  const key = readFileSync(keyPath, "utf8");
  return { cert, key, fingerprint256: fingerprintOf(cert, certPath), source: certPath, created };
}
