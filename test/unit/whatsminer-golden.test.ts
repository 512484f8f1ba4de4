// Golden bytes for the Whatsminer codecs, checked against BOTH implementations:
// the driver's (drivers/cgminer/whatsminer/) and the simulator's own
// (sim/whatsminer/codec.ts). The vectors were produced outside this code with
// OpenSSL 3 (`openssl passwd -1 -salt S P`; `openssl enc -aes-256-ecb -nopad -K
// <sha256 of the crypt hash>` over the NUL-padded JSON; `openssl dgst -sha256
// -binary | base64 | cut -c1-8`) and written here as literals, so the sim and the
// driver cannot agree on a wrong byte and still pass.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  aesDecryptB64,
  aesEncryptB64,
  aesKeyOf,
  md5CryptHash,
  v3Token,
} from "../../drivers/cgminer/dialects/whatsminer/crypto.ts";
import { encodeFrame, FrameDecoder } from "../../drivers/cgminer/dialects/whatsminer/v3-framing.ts";
import {
  simAesKey,
  simFrame,
  simFrameReader,
  simMd5Crypt,
  simOpen,
  simSeal,
  simV3Token,
} from "../../sim/whatsminer/codec.ts";

const CRYPT: Array<{ password: string; salt: string; hash: string }> = [
  { password: "admin123", salt: "abcdefgh", hash: "Qlx6NNORPMsnE3/ehfisr1" },
  { password: "super", salt: "BQ5hoXV9", hash: "gRLWSc.0MA39ibKVOh3QB." },
  { password: "a-password-longer-than-16-bytes!", salt: "BQ5hoXV9", hash: "LgSPiTY95qrNxzVYd9pSx1" },
  { password: "", salt: "x", hash: "fwjfZtMwarkdetsjiQreU1" },
];

// Key: sha256("Qlx6NNORPMsnE3/ehfisr1") (password admin123, salt abcdefgh).
const KEY_HEX = "06ae35a15d2747c25cc765f39702e2d64d441992c9223c30ff98ba0f3cd56fed";
const ENVELOPES: Array<{ plain: string; b64: string }> = [
  // 32 bytes: whole blocks, no padding.
  { plain: '{"cmd":"set_led","param":"auto"}', b64: "jF32G2HUA/uBsPAe6P7AEBvZctONVJbWxHWWEEdC7v4=" },
  // 39 bytes: NUL-padded to 48.
  {
    plain: '{"cmd":"power_off","respbefore":"true"}',
    b64: "uK3GhFcACLai5HM5G0n/U6LbQqfMtVKw3hLUAyfrrzX/ggtbTEX6cK60vm2K1pZ+",
  },
];

describe("whatsminer golden bytes: driver and simulator agree with OpenSSL", () => {
  for (const v of CRYPT) {
    test(`md5-crypt '${v.password.slice(0, 10)}' / ${v.salt}`, () => {
      assert.equal(md5CryptHash(v.password, v.salt), v.hash, "driver");
      assert.equal(simMd5Crypt(v.password, v.salt), v.hash, "sim");
    });
  }

  test("AES-256 key from password and salt", () => {
    const key = Buffer.from(KEY_HEX, "hex");
    assert.deepEqual(aesKeyOf(md5CryptHash("admin123", "abcdefgh")), key, "driver");
    assert.deepEqual(simAesKey("admin123", "abcdefgh"), key, "sim");
  });

  for (const e of ENVELOPES) {
    test(`AES-256-ECB envelope of ${e.plain.length} bytes, both ways`, () => {
      const key = Buffer.from(KEY_HEX, "hex");
      assert.equal(aesEncryptB64(e.plain, key), e.b64, "driver seals");
      assert.equal(simSeal(e.plain, key), e.b64, "sim seals");
      assert.equal(aesDecryptB64(e.b64, key), e.plain, "driver opens");
      assert.equal(simOpen(e.b64, key), e.plain, "sim opens");
    });
  }

  test("the sim refuses an envelope that is not whole blocks", () => {
    assert.equal(simOpen("AAAA", Buffer.from(KEY_HEX, "hex")), null);
    assert.equal(simOpen("", Buffer.from(KEY_HEX, "hex")), null);
  });

  test("v3 token", () => {
    const input = { cmd: "set.miner.power_limit", password: "NewPass1", salt: "Zk3u9QpX", ts: 1767225600 };
    assert.equal(v3Token(input), "Xq9Pa/sZ", "driver");
    assert.equal(simV3Token(input), "Xq9Pa/sZ", "sim");
  });

  test("v3 frame: 4-byte little-endian length, then the JSON", () => {
    const json = '{"cmd":"get.device.info"}';
    const golden = Buffer.concat([Buffer.from([25, 0, 0, 0]), Buffer.from(json)]);
    assert.deepEqual(encodeFrame(json), golden, "driver");
    assert.deepEqual(simFrame(json), golden, "sim");
    const big = "x".repeat(0x0102);
    assert.deepEqual([...simFrame(big).subarray(0, 4)], [0x02, 0x01, 0, 0]);
    assert.deepEqual([...encodeFrame(big).subarray(0, 4)], [0x02, 0x01, 0, 0]);
  });

  test("v3 frames read back split anywhere, heartbeats skipped, by both readers", () => {
    const stream = Buffer.concat([simFrame('{"a":1}'), Buffer.alloc(4), encodeFrame('{"b":22}')]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const driver = new FrameDecoder();
      const sim = simFrameReader();
      const d = [...driver.push(stream.subarray(0, cut)), ...driver.push(stream.subarray(cut))];
      const s = [...(sim.feed(stream.subarray(0, cut)) ?? []), ...(sim.feed(stream.subarray(cut)) ?? [])];
      assert.deepEqual(
        d.map((b) => b.toString()),
        ['{"a":1}', '{"b":22}'],
      );
      assert.deepEqual(
        s.map((b) => b.toString()),
        ['{"a":1}', '{"b":22}'],
      );
    }
  });

  test("an oversized v3 length: the sim reader gives up, the driver throws", () => {
    const head = Buffer.alloc(4);
    head.writeUInt32LE(2 * 1024 * 1024, 0);
    assert.equal(simFrameReader().feed(head), null);
    assert.throws(() => new FrameDecoder().push(head), /exceeds/);
  });
});
