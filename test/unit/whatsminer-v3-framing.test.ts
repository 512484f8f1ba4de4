// Whatsminer API v3 framing: 4-byte little-endian length, then JSON.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encodeFrame, FrameDecoder } from "../../drivers/cgminer/dialects/whatsminer/v3-framing.ts";

describe("whatsminer v3 framing", () => {
  test("encodeFrame writes the byte length little-endian", () => {
    const body = '{"cmd":"get.device.info","param":"salt"}';
    const f = encodeFrame(body);
    assert.equal(f.length, 4 + body.length);
    assert.equal(f.readUInt32LE(0), body.length);
    assert.deepEqual([...f.subarray(0, 4)], [body.length, 0, 0, 0]);
    assert.equal(f.subarray(4).toString(), body);
    // UTF-8 bytes, not characters
    assert.equal(encodeFrame("é").readUInt32LE(0), 2);
  });

  test("the decoder reassembles frames split anywhere, and several in one chunk", () => {
    const a = encodeFrame('{"code":0,"msg":"a"}');
    const b = encodeFrame('{"code":0,"msg":"bb"}');
    const all = Buffer.concat([a, b]);
    for (let cut = 1; cut < all.length; cut++) {
      const d = new FrameDecoder();
      const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      assert.deepEqual(
        frames.map((f) => f.toString()),
        ['{"code":0,"msg":"a"}', '{"code":0,"msg":"bb"}'],
        `cut at ${cut}`,
      );
      assert.equal(d.pending, 0);
    }
  });

  test("heartbeats (length 0) are dropped; an oversized length throws", () => {
    const d = new FrameDecoder(16);
    assert.deepEqual(d.push(Buffer.from([0, 0, 0, 0])), []);
    assert.throws(() => d.push(encodeFrame("x".repeat(17))), /exceeds/);
  });
});
