// The code generated from our bos.v1 description (drivers/cgminer/dialects/
// braiins/proto/bos_v1.proto, into gen/) against bytes derived by hand from the
// proto3 wire format and the field numbers Braiins publishes: proves the .proto,
// the generator and the driver's method paths agree with the API, independently
// of the simulator.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ActionsService,
  AuthenticationService,
  GetTunerStateResponseSchema,
  LocateDeviceStatusResponseSchema,
  LoginRequestSchema,
  LoginResponseSchema,
  PerformanceService,
  SaveAction,
  SetLocateDeviceStatusRequestSchema,
  SetPowerTargetRequestSchema,
  SetPowerTargetResponseSchema,
  TunerState,
} from "../../drivers/cgminer/dialects/braiins/gen/bos_v1_pb.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));

describe("bos.v1 generated messages: golden bytes", () => {
  test("LoginRequest: username = 1 (0a), password = 2 (12); an empty string is left out", () => {
    const m = create(LoginRequestSchema, { username: "root", password: "x" });
    assert.equal(hex(toBinary(LoginRequestSchema, m)), "0a04726f6f74120178");
    const empty = create(LoginRequestSchema, { username: "root", password: "" });
    assert.equal(hex(toBinary(LoginRequestSchema, empty)), "0a04726f6f74");
  });

  test("LoginResponse: token = 1, timeout_s = 2 (3600 = 90 1c)", () => {
    const m = fromBinary(LoginResponseSchema, bytes("0a03 616263 10 901c"));
    assert.equal(m.token, "abc");
    assert.equal(m.timeoutS, 3600);
  });

  test("SetPowerTargetRequest: save_action = 1 (SAVE_AND_APPLY = 2), power_target = 2 { watt = 1 }", () => {
    assert.equal(SaveAction.SAVE_AND_APPLY, 2);
    const m = create(SetPowerTargetRequestSchema, {
      saveAction: SaveAction.SAVE_AND_APPLY,
      powerTarget: { watt: 3000n },
    });
    // 3000 = 0xbb8 → varint b8 17
    assert.equal(hex(toBinary(SetPowerTargetRequestSchema, m)), "0802 1203 08b817".replace(/ /g, ""));
  });

  test("SetPowerTargetResponse: power_target = 1 { watt = 1 }", () => {
    const m = fromBinary(SetPowerTargetResponseSchema, bytes("0a03 08c413"));
    assert.equal(m.powerTarget?.watt, 2500n);
  });

  test("GetTunerStateResponse: overall_tuner_state = 1, power_target_mode_state = 2 { current_target = 2 }", () => {
    assert.equal(TunerState.STABLE, 2);
    const m = fromBinary(GetTunerStateResponseSchema, bytes("0802 1205 1203 08b219"));
    assert.equal(m.overallTunerState, TunerState.STABLE);
    assert.equal(m.modeState.case, "powerTargetModeState");
    assert.equal(m.modeState.case === "powerTargetModeState" && m.modeState.value.currentTarget?.watt, 3250n);
  });

  test("locate: SetLocateDeviceStatusRequest { enable = 1 }, LocateDeviceStatusResponse { enabled = 1 }", () => {
    const on = create(SetLocateDeviceStatusRequestSchema, { enable: true });
    assert.equal(hex(toBinary(SetLocateDeviceStatusRequestSchema, on)), "0801");
    const off = create(SetLocateDeviceStatusRequestSchema, { enable: false });
    assert.equal(hex(toBinary(SetLocateDeviceStatusRequestSchema, off)), "");
    assert.equal(fromBinary(LocateDeviceStatusResponseSchema, bytes("0801")).enabled, true);
    assert.equal(fromBinary(LocateDeviceStatusResponseSchema, new Uint8Array(0)).enabled, false);
  });

  test("the method paths the client builds: /braiins.bos.v1.<Service>/<Method>", () => {
    const path = (m: { parent: { typeName: string }; name: string }) => `/${m.parent.typeName}/${m.name}`;
    assert.deepEqual(
      [
        AuthenticationService.method.login,
        PerformanceService.method.setPowerTarget,
        PerformanceService.method.getTunerState,
        ActionsService.method.setLocateDeviceStatus,
        ActionsService.method.getLocateDeviceStatus,
      ].map(path),
      [
        "/braiins.bos.v1.AuthenticationService/Login",
        "/braiins.bos.v1.PerformanceService/SetPowerTarget",
        "/braiins.bos.v1.PerformanceService/GetTunerState",
        "/braiins.bos.v1.ActionsService/SetLocateDeviceStatus",
        "/braiins.bos.v1.ActionsService/GetLocateDeviceStatus",
      ],
    );
  });
});
