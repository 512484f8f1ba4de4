// Whatsminer crypto against vectors produced on a Linux machine with OpenSSL
// 3.0 (`openssl passwd -1 -salt S P`, `openssl enc -aes-256-ecb -nopad`,
// `openssl dgst -sha256 -binary | base64`), committed here as literals.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  aesDecryptB64,
  aesEncryptB64,
  aesKeyOf,
  md5Crypt,
  md5CryptHash,
  v3Token,
} from "../../drivers/cgminer/dialects/whatsminer/crypto.ts";

describe("md5-crypt ($1$)", () => {
  const vectors: Array<[string, string, string]> = [
    ["password", "saltsalt", "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"],
    ["admin", "BQ5hoXV9", "$1$BQ5hoXV9$RxmaDUO33TS7O26yeMHZ81"],
    ["", "abc", "$1$abc$Or2rbeUYTvt12aiVzMuS/."],
    ["Ünïcødé pässwörd that is longer than sixteen bytes", "12345678", "$1$12345678$6KuMfWs3iuaUMn3G/cKOC/"],
    ["x", "a", "$1$a$TYcRT0JumNkKBBlirG1X4/"],
    ["hunter2", "", "$1$$vnSTnHkIF96nN6kxQkZrf."],
  ];
  for (const [pw, salt, want] of vectors) {
    test(`openssl passwd -1 -salt '${salt}' '${pw.slice(0, 12)}…'`, () => {
      assert.equal(md5Crypt(pw, salt), want);
    });
  }

  test("salt handling follows crypt(3): $1$ prefix and a trailing $… ignored, 8 chars max", () => {
    assert.equal(md5Crypt("password", "$1$saltsalt$whatever"), "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/");
    assert.equal(md5Crypt("password", "saltsaltEXTRA"), "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/");
  });

  test("md5CryptHash is the part after the last $ (the Whatsminer v2 key)", () => {
    assert.equal(md5CryptHash("admin", "BQ5hoXV9"), "RxmaDUO33TS7O26yeMHZ81");
  });
});

describe("AES-256-ECB with NUL padding", () => {
  test("matches openssl enc -aes-256-ecb -nopad on a NUL-padded block", () => {
    assert.equal(aesEncryptB64("abc", aesKeyOf("key")), "+yHsDjiaycyuHrmcUgEfAw==");
  });

  test("round trip for lengths around the block size", () => {
    const key = aesKeyOf(md5CryptHash("s3cret", "BQ5hoXV9"));
    for (const n of [1, 15, 16, 17, 31, 32, 33, 200]) {
      const text = JSON.stringify({ cmd: "power_off", respbefore: "true", pad: "x".repeat(n) });
      const enc = aesEncryptB64(text, key);
      assert.equal(Buffer.from(enc, "base64").length % 16, 0);
      assert.equal(aesDecryptB64(enc, key), text);
    }
  });

  test("a wrong key decrypts to garbage, not to the text; non-block input gives null", () => {
    const enc = aesEncryptB64('{"cmd":"power_on"}', aesKeyOf("right"));
    assert.notEqual(aesDecryptB64(enc, aesKeyOf("wrong")), '{"cmd":"power_on"}');
    assert.equal(aesDecryptB64(Buffer.from("short").toString("base64"), aesKeyOf("k")), null);
  });
});

describe("API v3 token", () => {
  test("first 8 chars of base64(sha256(cmd + password + salt + ts))", () => {
    // printf '%s' 'set.miner.servicepassw0rdQbVy1Ou31700000000' | openssl dgst -sha256 -binary | base64 | cut -c1-8
    assert.equal(
      v3Token({ cmd: "set.miner.service", password: "passw0rd", salt: "QbVy1Ou3", ts: 1_700_000_000 }),
      "Zt3tYEfI",
    );
    assert.equal(
      v3Token({ cmd: "set.miner.service", password: "passw0rd", salt: "QbVy1Ou3", ts: "1700000000" }),
      "Zt3tYEfI",
    );
  });
});
