// The simulated Braiins OS API's own wire code (sim/braiins-grpc/wire.ts):
// varints, the bos.v1 messages it reads and writes, and gRPC message framing,
// checked against bytes derived by hand from the proto3 wire format.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  fields,
  frame,
  readLoginRequest,
  readSetLocateRequest,
  readSetPowerTargetRequest,
  readVarint,
  SaveAction,
  TunerState,
  unframe,
  varint,
  WireError,
  Writer,
  writeGetTunerStateResponse,
  writeLocateStatus,
  writeLoginResponse,
  writeSetPowerTargetResponse,
} from "../../sim/braiins-grpc/wire.ts";

const hex = (b: Uint8Array | number[]) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));

describe("sim protobuf varints", () => {
  test("encode known values", () => {
    assert.equal(hex(varint(0)), "00");
    assert.equal(hex(varint(1)), "01");
    assert.equal(hex(varint(127)), "7f");
    assert.equal(hex(varint(128)), "8001");
    assert.equal(hex(varint(300)), "ac02");
    assert.equal(hex(varint(0xffff_ffff_ffff_ffffn)), "ffffffffffffffffff01");
  });

  test("round-trip and report where they end", () => {
    for (const v of [0n, 1n, 150n, 3000n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 64n - 1n]) {
      const enc = varint(v);
      const buf = new Uint8Array([0xaa, ...enc, 0xbb]);
      assert.deepEqual(readVarint(buf, 1), [v, 1 + enc.length]);
    }
  });

  test("reject negative, truncated and overlong input", () => {
    assert.throws(() => varint(-1), WireError);
    assert.throws(() => readVarint(bytes("80"), 0), WireError);
    assert.throws(() => readVarint(bytes("ffffffffffffffffffff01"), 0), WireError);
  });
});

describe("sim bos.v1 messages", () => {
  test("LoginRequest: username = 1, password = 2; a missing field reads as empty", () => {
    assert.deepEqual(readLoginRequest(bytes("0a04726f6f74120178")), { username: "root", password: "x" });
    assert.deepEqual(readLoginRequest(bytes("0a04726f6f74")), { username: "root", password: "" });
  });

  test("LoginResponse: token = 1, timeout_s = 2", () => {
    assert.equal(hex(writeLoginResponse("abc", 3600)), "0a03616263" + "10901c");
  });

  test("SetPowerTargetRequest: save_action = 1, power_target = 2 { watt = 1 }", () => {
    assert.deepEqual(readSetPowerTargetRequest(bytes("0802 1203 08b817")), {
      saveAction: SaveAction.SAVE_AND_APPLY,
      watt: 3000,
    });
    assert.deepEqual(readSetPowerTargetRequest(bytes("0802")), { saveAction: 2, watt: null });
    // Power{} present but empty: a target of 0 W, not a missing one
    assert.deepEqual(readSetPowerTargetRequest(bytes("0801 1200")), { saveAction: 1, watt: 0 });
  });

  test("SetPowerTargetResponse: power_target = 1", () => {
    assert.equal(hex(writeSetPowerTargetResponse(2500)), "0a0308c413");
  });

  test("GetTunerStateResponse: state = 1, power_target_mode_state = 2 { current_target = 2 }", () => {
    assert.equal(
      hex(writeGetTunerStateResponse(TunerState.STABLE, 3250)),
      "0802 1205 1203 08 b2 19".replace(/ /g, ""),
    );
    assert.equal(hex(writeGetTunerStateResponse(TunerState.UNSPECIFIED, null)), "");
  });

  test("locate: enable = 1 in, enabled = 1 out", () => {
    assert.equal(readSetLocateRequest(bytes("0801")), true);
    assert.equal(readSetLocateRequest(new Uint8Array(0)), false);
    assert.equal(hex(writeLocateStatus(true)), "0801");
    assert.equal(hex(writeLocateStatus(false)), "");
  });

  test("unknown fields of every wire type are skipped", () => {
    const extra = Buffer.concat([
      bytes("0a04726f6f74"),
      bytes("f906 0102030405060708"), // field 111, fixed64
      bytes("fd06 01020304"), // field 111, fixed32
      new Writer()
        .string(40, "future")
        .uint(41, 2n ** 63n)
        .done(),
      bytes("120178"),
    ]);
    assert.deepEqual(readLoginRequest(extra), { username: "root", password: "x" });
  });

  test("malformed messages throw WireError", () => {
    assert.throws(() => fields(bytes("0a05 6162")), WireError); // length past the end
    assert.throws(() => fields(bytes("0b")), WireError); // wire type 3 (group)
    assert.throws(() => fields(bytes("00")), WireError); // field 0
    assert.throws(() => fields(bytes("09 0102")), WireError); // truncated fixed64
    assert.throws(() => readLoginRequest(bytes("0801")), WireError); // a varint where a string belongs
  });
});

describe("sim gRPC Length-Prefixed-Message framing", () => {
  test("flag 0, 4-byte big-endian length, payload", () => {
    assert.equal(hex(frame(bytes("010203"))), "0000000003010203");
    assert.equal(hex(frame(new Uint8Array(0))), "0000000000");
    assert.equal(hex(frame(new Uint8Array(70_000)).subarray(0, 5)), "0000011170");
  });

  test("splits consecutive messages", () => {
    const body = Buffer.concat([frame(bytes("0a")), frame(new Uint8Array(0))]);
    assert.deepEqual(
      unframe(body).map((m) => hex(m)),
      ["0a", ""],
    );
    assert.deepEqual(unframe(Buffer.alloc(0)), []);
  });

  test("rejects truncated and compressed frames", () => {
    assert.throws(() => unframe(Buffer.from(bytes("00000000"))), WireError);
    assert.throws(() => unframe(Buffer.from(bytes("0000000003 0102"))), WireError);
    assert.throws(() => unframe(Buffer.from(bytes("0100000001 01"))), WireError);
  });
});
