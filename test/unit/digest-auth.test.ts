// HTTP Digest (RFC 7616 / RFC 2617) as the stock Antminer web client computes it:
// expected responses come from the RFC formula computed here, and from the
// RFCs' own worked examples.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import {
  digestAuthorization,
  digestChallenges,
  digestResponse,
  parseAuthenticate,
  setMinerConfBody,
  workModeOf,
} from "../../drivers/cgminer/dialects/antminer/web-client.ts";

const H = (alg: "md5" | "sha256", s: string) => createHash(alg).update(s).digest("hex");

/** RFC 7616 §3.4.1 with qop=auth: KD(H(A1), nonce:nc:cnonce:qop:H(A2)). */
function rfcResponse(
  alg: "md5" | "sha256",
  v: {
    user: string;
    realm: string;
    pass: string;
    method: string;
    uri: string;
    nonce: string;
    nc: string;
    cnonce: string;
  },
): string {
  const ha1 = H(alg, `${v.user}:${v.realm}:${v.pass}`);
  const ha2 = H(alg, `${v.method}:${v.uri}`);
  return H(alg, `${ha1}:${v.nonce}:${v.nc}:${v.cnonce}:auth:${ha2}`);
}

/** Auth-params of an Authorization header (quoted or token values). */
function params(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-z]+)=(?:"([^"]*)"|([^,\s]+))/g;
  for (let m = re.exec(header); m; m = re.exec(header)) out[m[1]!] = m[2] ?? m[3]!;
  return out;
}

describe("digest response", () => {
  // RFC 7616 §3.9.1 (the published responses are the literals below)
  const rfc7616 = {
    user: "Mufasa",
    realm: "http-auth@example.org",
    pass: "Circle of Life",
    method: "GET",
    uri: "/dir/index.html",
    nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    nc: "00000001",
    cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
  };
  const input = (algorithm: "MD5" | "SHA-256") => ({
    algorithm,
    username: rfc7616.user,
    password: rfc7616.pass,
    realm: rfc7616.realm,
    nonce: rfc7616.nonce,
    method: rfc7616.method,
    uri: rfc7616.uri,
    qop: "auth" as const,
    nc: rfc7616.nc,
    cnonce: rfc7616.cnonce,
  });

  test("RFC 7616 example, MD5", () => {
    assert.equal(digestResponse(input("MD5")), rfcResponse("md5", rfc7616));
    assert.equal(digestResponse(input("MD5")), "8ca523f5e9506fed4657c9700eebdbec");
  });

  test("RFC 7616 example, SHA-256", () => {
    assert.equal(digestResponse(input("SHA-256")), rfcResponse("sha256", rfc7616));
    assert.equal(
      digestResponse(input("SHA-256")),
      "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    );
  });

  test("RFC 2617 §3.5 example", () => {
    const v = {
      user: "Mufasa",
      realm: "testrealm@host.com",
      pass: "Circle Of Life",
      method: "GET",
      uri: "/dir/index.html",
      nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
      nc: "00000001",
      cnonce: "0a4f113b",
    };
    const r = digestResponse({
      algorithm: "MD5",
      username: v.user,
      password: v.pass,
      realm: v.realm,
      nonce: v.nonce,
      method: v.method,
      uri: v.uri,
      qop: "auth",
      nc: v.nc,
      cnonce: v.cnonce,
    });
    assert.equal(r, rfcResponse("md5", v));
    assert.equal(r, "6629fae49393a05397450978507c4ef1");
  });

  test("MD5-sess and no-qop (RFC 2069) variants follow their formulas", () => {
    const base = { ...input("MD5"), method: "POST", uri: "/cgi-bin/set_miner_conf.cgi" };
    const ha1 = H("md5", `${base.username}:${base.realm}:${base.password}`);
    const ha2 = H("md5", `POST:${base.uri}`);
    const sessHa1 = H("md5", `${ha1}:${base.nonce}:${base.cnonce}`);
    assert.equal(
      digestResponse({ ...base, algorithm: "MD5-sess" }),
      H("md5", `${sessHa1}:${base.nonce}:${base.nc}:${base.cnonce}:auth:${ha2}`),
    );
    assert.equal(digestResponse({ ...base, qop: null }), H("md5", `${ha1}:${base.nonce}:${ha2}`));
  });
});

describe("challenge parsing", () => {
  test("lighttpd's Antminer challenge", () => {
    const [ch] = digestChallenges([
      'Digest realm="antMiner Configuration", charset="UTF-8", algorithm=MD5, qop="auth", nonce="5f3c2a-1b"',
    ]);
    assert.ok(ch);
    assert.equal(ch.realm, "antMiner Configuration");
    assert.equal(ch.nonce, "5f3c2a-1b");
    assert.equal(ch.algorithm, "MD5");
    assert.deepEqual(ch.qop, ["auth"]);
    assert.equal(ch.opaque, null);
  });

  test("several challenges in one header and across headers; SHA-256 preferred; unknown skipped", () => {
    const chs = digestChallenges([
      'Basic realm="x", Digest realm="r", qop="auth,auth-int", algorithm=MD5, nonce="n1", opaque="o1"',
      'Digest realm="r", qop="auth", algorithm=SHA-512-256, nonce="n0"',
      'Digest realm="r", qop="auth", algorithm=SHA-256, nonce="n2", stale=TRUE',
    ]);
    assert.deepEqual(
      chs.map((c) => [c.algorithm, c.nonce]),
      [
        ["SHA-256", "n2"],
        ["MD5", "n1"],
      ],
    );
    assert.equal(chs[0]!.stale, true);
    assert.deepEqual(chs[1]!.qop, ["auth", "auth-int"]);
    assert.equal(chs[1]!.opaque, "o1");
  });

  test("quoted values with commas and escapes; token68 schemes", () => {
    const parsed = parseAuthenticate([
      'Bearer abc.def==, Digest realm="a, \\"b\\"", nonce="x", algorithm=MD5',
    ]);
    assert.deepEqual(
      parsed.map((p) => p.scheme),
      ["Bearer", "Digest"],
    );
    assert.equal(parsed[1]!.params.realm, 'a, "b"');
    assert.equal(parsed[1]!.params.algorithm, "MD5");
  });
});

describe("Authorization header", () => {
  test("answers the challenge per the RFC formula, with nc, cnonce and opaque", () => {
    const [ch] = digestChallenges([
      'Digest realm="antMiner Configuration", qop="auth", nonce="abc123", opaque="op"',
    ]);
    const header = digestAuthorization(
      ch!,
      { username: "root", password: "root" },
      { method: "GET", uri: "/cgi-bin/get_miner_conf.cgi", nc: 1, cnonce: "c0ffee" },
    );
    assert.match(header, /^Digest /);
    const p = params(header);
    assert.equal(p.username, "root");
    assert.equal(p.realm, "antMiner Configuration");
    assert.equal(p.uri, "/cgi-bin/get_miner_conf.cgi");
    assert.equal(p.qop, "auth");
    assert.equal(p.nc, "00000001");
    assert.equal(p.cnonce, "c0ffee");
    assert.equal(p.opaque, "op");
    assert.equal(p.algorithm, "MD5");
    assert.equal(
      p.response,
      rfcResponse("md5", {
        user: "root",
        realm: "antMiner Configuration",
        pass: "root",
        method: "GET",
        uri: "/cgi-bin/get_miner_conf.cgi",
        nonce: "abc123",
        nc: "00000001",
        cnonce: "c0ffee",
      }),
    );
  });

  test("a fresh cnonce each time", () => {
    const [ch] = digestChallenges(['Digest realm="r", qop="auth", nonce="n"']);
    const a = params(digestAuthorization(ch!, { username: "u", password: "p" }, { method: "GET", uri: "/" }));
    const b = params(digestAuthorization(ch!, { username: "u", password: "p" }, { method: "GET", uri: "/" }));
    assert.notEqual(a.cnonce, b.cnonce);
  });

  test("auth-int only is refused, not answered wrongly", () => {
    const [ch] = digestChallenges(['Digest realm="r", qop="auth-int", nonce="n"']);
    assert.throws(
      () => digestAuthorization(ch!, { username: "u", password: "p" }, { method: "GET", uri: "/" }),
      /WK_ANTMINER_AUTH_UNSUPPORTED|auth-int/,
    );
  });
});

describe("miner conf helpers", () => {
  test("work mode from a string or a number", () => {
    assert.equal(workModeOf({ "bitmain-work-mode": "1" }), 1);
    assert.equal(workModeOf({ "bitmain-work-mode": 3 }), 3);
    assert.equal(workModeOf({ "miner-mode": 0 }), 0);
    assert.equal(workModeOf({ "bitmain-work-mode": "" }), null);
    assert.equal(workModeOf({}), null);
  });

  test("the set body carries pools and fan settings, writes miner-mode, never bitmain-work-mode", () => {
    const conf = {
      pools: [
        { url: "stratum+tcp://a:3333", user: "w.1", pass: "x" },
        { url: "", user: "", pass: "" },
      ],
      "bitmain-fan-ctrl": true,
      "bitmain-fan-pwm": "80",
      "bitmain-freq-level": "95",
      "bitmain-work-mode": "0",
      "api-allow": "A:0/0,W:*",
    };
    assert.deepEqual(setMinerConfBody(conf, 1, false), {
      pools: conf.pools,
      "bitmain-fan-ctrl": true,
      "bitmain-fan-pwm": "80",
      "freq-level": "95",
      "miner-mode": 1,
    });
    assert.equal(setMinerConfBody(conf, 0, true)["miner-mode"], "0");
    assert.equal("bitmain-work-mode" in setMinerConfBody(conf, 1, false), false);
  });
});
