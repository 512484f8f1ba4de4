// HTTPS for the status page (config http.tls): `selfSigned: true` makes a
// certificate once in the state directory with openssl, keeps it across
// restarts (the same fingerprint), logs its SHA-256 fingerprint at start, and
// the session cookie is Secure; a configured certificate and key are served as
// given; a bad certificate or a missing openssl stops the start with a clear
// message, and the config refuses a half-given tls section.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import type { TLSSocket } from "node:tls";
import { hashPassword } from "../../agent/http/password.ts";
import { SELF_SIGNED_CERT, SELF_SIGNED_KEY, selfSignedTls } from "../../agent/http/tls.ts";
import { createLogger, silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { ConfigError } from "../../config/load/problems.ts";
import { loadConfig } from "../../config/load.ts";

const PASSWORD = "tls-tech-1";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  fingerprint256: string;
}

function httpsCall(port: number, method: string, path: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        // a self-signed certificate: the test compares its fingerprint instead, as a technician would
        rejectUnauthorized: false,
        headers: payload ? { "content-type": "application/json", origin: `https://127.0.0.1:${port}` } : {},
        timeout: 10_000,
      },
      (res) => {
        const fingerprint256 = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            fingerprint256,
          }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(payload);
  });
}

async function siteConfig(dir: string, tls: string) {
  const file = join(dir, "site.yaml");
  const hash = await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 });
  writeFileSync(
    file,
    `site: { id: tls-site, timezone: UTC, contractLimitW: 1MW }
http:
  operators:
    - { name: tina, passwordHash: "${hash}" }
  tls: ${tls}
store: { path: ./state/wk.db }
control: { tickS: 0.5 }
`,
  );
  return (await loadConfig(file, { strictFiles: true })).config;
}

function logSink() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger({ level: "info", destination: sink, pretty: false }) };
}

describe("http.tls", () => {
  test("selfSigned: made once and kept, its fingerprint logged, served over HTTPS with a Secure session cookie", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wk-tls-"));
    const config = await siteConfig(dir, "{ selfSigned: true }");
    const { lines, logger } = logSink();
    let site = new Site(config, logger, { httpListen: { host: "127.0.0.1", port: 0 } });
    await site.start();
    let fingerprint: string;
    try {
      const port = site.httpAddress()!.port;
      const certPem = readFileSync(join(dir, "state", SELF_SIGNED_CERT), "utf8");
      fingerprint = new X509Certificate(certPem).fingerprint256;
      assert.match(fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      assert.equal(statSync(join(dir, "state", SELF_SIGNED_KEY)).mode & 0o777, 0o600);
      const logged = lines.map((l) => JSON.parse(l) as { msg: string; fingerprint256?: string });
      assert.ok(
        logged.some((l) => l.fingerprint256 === fingerprint && l.msg.includes(fingerprint)),
        "the fingerprint is logged at start",
      );
      assert.ok(logged.some((l) => /^https listening on 127\.0\.0\.1:/.test(l.msg)));
      const cert = new X509Certificate(certPem);
      assert.match(cert.subject, /CN=wattkeeper tls-site/);
      assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);

      const siteJson = await httpsCall(port, "GET", "/api/site");
      assert.equal(siteJson.status, 200);
      assert.equal(siteJson.fingerprint256, fingerprint, "the browser sees the same fingerprint");
      assert.equal((JSON.parse(siteJson.body) as { siteId: string }).siteId, "tls-site");
      const login = await httpsCall(port, "POST", "/api/login", { name: "tina", password: PASSWORD });
      assert.equal(login.status, 200, login.body);
      const cookie = String(login.headers["set-cookie"]);
      assert.match(cookie, /; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+; Secure$/);
      // plain HTTP to the HTTPS port gets no page
      const plain = await fetch(`http://127.0.0.1:${port}/api/site`).then(
        (r) => r.status,
        () => "refused",
      );
      assert.notEqual(plain, 200);
    } finally {
      await site.stop();
    }
    // a restart keeps the certificate: the fingerprint a technician noted stays right
    site = new Site(config, silentLogger(), { httpListen: { host: "127.0.0.1", port: 0 } });
    await site.start();
    try {
      const again = await httpsCall(site.httpAddress()!.port, "GET", "/healthz");
      assert.equal(again.fingerprint256, fingerprint);
    } finally {
      await site.stop();
    }
  });

  test("certFile and keyFile are served as given; a file that is not a certificate stops the start, naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wk-tls-files-"));
    const made = await selfSignedTls(join(dir, "made"), { siteId: "given", listenHost: "0.0.0.0" });
    writeFileSync(join(dir, "page.crt"), made.cert);
    writeFileSync(join(dir, "page.key"), made.key, { mode: 0o600 });
    const config = await siteConfig(dir, "{ certFile: page.crt, keyFile: page.key }");
    const site = new Site(config, silentLogger(), { httpListen: { host: "127.0.0.1", port: 0 } });
    await site.start();
    try {
      const r = await httpsCall(site.httpAddress()!.port, "GET", "/healthz");
      assert.equal(r.status, 200);
      assert.equal(r.fingerprint256, made.fingerprint256);
    } finally {
      await site.stop();
    }
    writeFileSync(join(dir, "page.crt"), "not a certificate\n");
    const bad = await siteConfig(dir, "{ certFile: page.crt, keyFile: page.key }");
    const broken = new Site(bad, silentLogger(), { httpListen: { host: "127.0.0.1", port: 0 } });
    await assert.rejects(broken.start(), /page\.crt: not a PEM certificate/);
    await broken.stop();
  });

  test("without openssl, selfSigned says what to do; a half-given tls section is a config problem", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wk-tls-none-"));
    await assert.rejects(
      selfSignedTls(dir, { siteId: "x", listenHost: "0.0.0.0" }, "/nonexistent/openssl"),
      /http\.tls\.selfSigned needs the openssl command \(Debian: apt install openssl\), or give http\.tls\.certFile and keyFile/,
    );
    await assert.rejects(siteConfig(dir, "{ certFile: a.crt }"), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /http\.tls/);
      return true;
    });
    await assert.rejects(siteConfig(dir, "{ selfSigned: false }"), ConfigError);
  });
});
