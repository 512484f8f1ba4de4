// The hand-written protobuf codec and gRPC message framing for the Braiins OS
// API (drivers/cgminer/braiins): bytes checked against the proto3 wire format.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeGrpcMessages, encodeGrpcMessage } from "../../drivers/cgminer/braiins/grpc.ts";
import {
  decodeFields,
  decodeGetTunerStateResponse,
  decodeLoginRequest,
  decodeSetPowerTargetRequest,
  decodeSetPowerTargetResponse,
  decodeVarint,
  encodeGetTunerStateResponse,
  encodeLoginRequest,
  encodeSetPowerTargetRequest,
  encodeSetPowerTargetResponse,
  encodeVarint,
  ProtoError,
  ProtoWriter,
  SaveAction,
  TunerState,
} from "../../drivers/cgminer/braiins/proto.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));

describe("protobuf varints", () => {
  test("encode known values", () => {
    assert.equal(hex(encodeVarint(0)), "00");
    assert.equal(hex(encodeVarint(1)), "01");
    assert.equal(hex(encodeVarint(127)), "7f");
    assert.equal(hex(encodeVarint(128)), "8001");
    assert.equal(hex(encodeVarint(300)), "ac02");
    assert.equal(hex(encodeVarint(0xffff_ffff_ffff_ffffn)), "ffffffffffffffffff01");
  });

  test("round-trip and report where they end", () => {
    for (const v of [0n, 1n, 150n, 3000n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 64n - 1n]) {
      const enc = encodeVarint(v);
      const buf = new Uint8Array([0xaa, ...enc, 0xbb]);
      assert.deepEqual(decodeVarint(buf, 1), { value: v, next: 1 + enc.length });
    }
  });

  test("reject negative, truncated and overlong input", () => {
    assert.throws(() => encodeVarint(-1), ProtoError);
    assert.throws(() => decodeVarint(bytes("80"), 0), ProtoError);
    assert.throws(() => decodeVarint(bytes("ffffffffffffffffffff01"), 0), ProtoError);
  });
});

describe("Braiins messages", () => {
  test("LoginRequest: username = 1, password = 2", () => {
    const enc = encodeLoginRequest({ username: "root", password: "x" });
    assert.equal(hex(enc), "0a04726f6f74120178");
    assert.deepEqual(decodeLoginRequest(enc), { username: "root", password: "x" });
    // proto3 leaves out an empty string; it decodes back as ""
    const empty = encodeLoginRequest({ username: "root", password: "" });
    assert.equal(hex(empty), "0a04726f6f74");
    assert.deepEqual(decodeLoginRequest(empty), { username: "root", password: "" });
  });

  test("SetPowerTargetRequest: save_action = 1, power_target = 2 { watt = 1 }", () => {
    const enc = encodeSetPowerTargetRequest({ saveAction: SaveAction.SAVE_AND_APPLY, watt: 3000 });
    assert.equal(hex(enc), "0802 1203 08b817".replace(/ /g, ""));
    assert.deepEqual(decodeSetPowerTargetRequest(enc), { saveAction: 2, watt: 3000 });
    assert.deepEqual(decodeSetPowerTargetRequest(bytes("0802")), { saveAction: 2, watt: null });
    assert.throws(() => encodeSetPowerTargetRequest({ saveAction: 2, watt: 1.5 }), ProtoError);
  });

  test("SetPowerTargetResponse: power_target = 1", () => {
    const enc = encodeSetPowerTargetResponse(2500);
    assert.equal(hex(enc), "0a0308c413");
    assert.deepEqual(decodeSetPowerTargetResponse(enc), { watt: 2500 });
    assert.deepEqual(decodeSetPowerTargetResponse(new Uint8Array(0)), { watt: null });
  });

  test("GetTunerStateResponse: state = 1, power_target_mode_state = 2 { current_target = 2 }", () => {
    const m = { overallState: TunerState.STABLE, powerTargetW: 3250 };
    const enc = encodeGetTunerStateResponse(m);
    assert.equal(hex(enc), "0802 1205 1203 08 b2 19".replace(/ /g, ""));
    assert.deepEqual(decodeGetTunerStateResponse(enc), m);
    assert.deepEqual(decodeGetTunerStateResponse(new Uint8Array(0)), { overallState: 0, powerTargetW: null });
  });

  test("unknown fields of every wire type are skipped", () => {
    const profile = new ProtoWriter().varint(7, 1).finish(); // PowerTargetProfile (ignored)
    const mode = new ProtoWriter().bytes(1, profile).bytes(2, bytes("08e807")).finish();
    const extra = concat(
      new ProtoWriter().varint(1, TunerState.TUNING).bytes(2, mode).finish(),
      bytes("f906 0102030405060708"), // field 111, fixed64
      bytes("fd06 01020304"), // field 111, fixed32
      new ProtoWriter()
        .string(40, "future")
        .varint(41, 2n ** 63n)
        .finish(),
    );
    assert.deepEqual(decodeGetTunerStateResponse(extra), { overallState: 3, powerTargetW: 1000 });
  });

  test("malformed messages throw ProtoError", () => {
    assert.throws(() => decodeFields(bytes("0a05 6162")), ProtoError); // length past the end
    assert.throws(() => decodeFields(bytes("0b")), ProtoError); // wire type 3 (group)
    assert.throws(() => decodeFields(bytes("00")), ProtoError); // field 0
    assert.throws(() => decodeFields(bytes("09 0102")), ProtoError); // truncated fixed64
  });
});

describe("gRPC Length-Prefixed-Message framing", () => {
  test("flag 0, 4-byte big-endian length, payload", () => {
    assert.equal(hex(encodeGrpcMessage(bytes("010203"))), "0000000003010203");
    assert.equal(hex(encodeGrpcMessage(new Uint8Array(0))), "0000000000");
    const big = new Uint8Array(70_000);
    assert.equal(hex(encodeGrpcMessage(big).subarray(0, 5)), "0000011170");
  });

  test("splits consecutive messages", () => {
    const body = Buffer.concat([encodeGrpcMessage(bytes("0a")), encodeGrpcMessage(new Uint8Array(0))]);
    assert.deepEqual(
      decodeGrpcMessages(body).map((m) => hex(m)),
      ["0a", ""],
    );
    assert.deepEqual(decodeGrpcMessages(new Uint8Array(0)), []);
  });

  test("rejects truncated and compressed frames", () => {
    assert.throws(() => decodeGrpcMessages(bytes("00000000")), ProtoError);
    assert.throws(() => decodeGrpcMessages(bytes("0000000003 0102")), ProtoError);
    assert.throws(() => decodeGrpcMessages(bytes("0100000001 01")), ProtoError);
  });
});

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}
