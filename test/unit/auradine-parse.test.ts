// The auradine dialect's reply checks (drivers/cgminer/dialects/auradine/schema.ts) and
// how a reading is put together from its two APIs (auradine/read.ts), without
// a network: documented variants accepted, anything else WK_FIRMWARE_CHANGED.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { dialectFromText } from "../../drivers/cgminer/detect.ts";
import { type ApiPart, assemble, type WebPart } from "../../drivers/cgminer/dialects/auradine/read.ts";
import {
  expectShape,
  ModeReply,
  PsuReply,
  TemperatureReply,
  versionOfDescription,
  Watts,
} from "../../drivers/cgminer/dialects/auradine/schema.ts";
import { DriverError } from "../../drivers/types.ts";

const status = (description: string) => [
  { Code: 540, Description: description, Msg: "Operating mode", STATUS: "S", When: 1703715266 },
];

describe("FluxOS reply shapes", () => {
  test("wattages: '3452.00W' strings and plain numbers; anything else is refused", () => {
    assert.equal(Watts.parse("3452.00W"), 3452);
    assert.equal(Watts.parse(" 58.94 W"), 58.94);
    assert.equal(Watts.parse(3412.5), 3412.5);
    assert.equal(Watts.safeParse("3.4kW").success, false);
    assert.equal(Watts.safeParse({ value: 3400 }).success, false);
  });

  test("the firmware version from a STATUS Description", () => {
    assert.equal(
      versionOfDescription("FluxOS-2023-12.27-9bf070ee4408866329c93a70f2dfdc6248938aaa"),
      "2023-12.27",
    );
    assert.equal(versionOfDescription("GCMiner-2023-05.24-0ce5e7cc93a3"), "2023-05.24");
    assert.equal(versionOfDescription("GCMiner-0.5-devsbXXX"), "0.5");
    assert.equal(versionOfDescription("2.2.0"), "2.2.0");
    assert.equal(versionOfDescription("cgminer 4.11.1"), null);
    assert.equal(versionOfDescription(undefined), null);
  });

  test("/mode: Sleep as 'on'/'off' or a boolean; Power and Ths optional", () => {
    const desc = "FluxOS-2023-12.27-9bf0";
    const custom = {
      STATUS: status(desc),
      Mode: [{ Mode: "custom", Power: 2000, Sleep: "off", Ths: 160 }],
      id: 1,
    };
    assert.equal(expectShape(ModeReply, custom, { what: "GET /mode", version: null }).Mode[0]!.Power, 2000);
    const older = { STATUS: status(desc), Mode: [{ Mode: "normal", Sleep: true }] };
    assert.equal(expectShape(ModeReply, older, { what: "GET /mode", version: null }).Mode[0]!.Sleep, true);
  });

  test("a field of another type: WK_FIRMWARE_CHANGED with firmware, version and the field", () => {
    const drifted = {
      STATUS: status("FluxOS-2025-01.10-aaaa"),
      Mode: [{ Mode: "normal", Sleep: { on: false } }],
    };
    assert.throws(
      () => expectShape(ModeReply, drifted, { what: "GET /mode", version: null }),
      (err: unknown) =>
        err instanceof DriverError &&
        err.code === "WK_FIRMWARE_CHANGED" &&
        !err.retryable &&
        /^FluxOS 2025-01\.10: GET \/mode: reply shape changed \(Mode\.0\.Sleep: /.test(err.message),
    );
  });

  test("a field gone: named too; without a version in the reply, the one known for the unit", () => {
    const gone = { STATUS: [{ STATUS: "S", Code: 570 }], PSU: [{ PoutMax: "3452.00W" }] };
    assert.throws(
      () => expectShape(PsuReply, gone, { what: "GET /psu", version: "2024-06.11" }),
      /FluxOS 2024-06\.11: GET \/psu: reply shape changed \(PSU\.0\.PowerIn: /,
    );
    // after an upgrade the reply's own version is the one to name
    const upgraded = { ...gone, STATUS: status("FluxOS-2025-02.01-bbbb") };
    assert.throws(
      () => expectShape(PsuReply, upgraded, { what: "GET /psu", version: "2024-06.11" }),
      /FluxOS 2025-02\.01: GET \/psu/,
    );
  });

  test("/temperature: the control board row has no chips", () => {
    const t = TemperatureReply.parse({
      STATUS: status("2.2.0"),
      Temperature: [
        { BoardTemp: [{ ID: 0, Temperature: 24.9 }], ChipTemp: null, ID: 0, Name: "Control Board" },
        {
          BoardTemp: [{ ID: 0, Temperature: 41.5 }],
          ChipTemp: [{ ID: 0, Temperature: 45.8 }],
          ID: 1,
          Name: "Hash Board 1",
        },
      ],
    });
    assert.equal(t.Temperature.length, 2);
  });

  test("the 4028 answer's GCMiner and FluxOS markers point to the auradine dialect", () => {
    assert.equal(dialectFromText('{"VERSION":[{"API":"1.0","GCMiner":"0.5"}]}'), "auradine");
    assert.equal(dialectFromText('{"STATUS":[{"Description":"FluxOS-2024-06.11-d37c"}]}'), "auradine");
    assert.equal(dialectFromText('{"VERSION":[{"CGMiner":"4.11.1"}]}'), null);
  });
});

describe("an Auradine reading from both APIs", () => {
  const api = (over: Partial<ApiPart> = {}): ApiPart => ({
    hashrateThs: 250,
    uptimeS: 3600,
    pools: [{ url: "stratum+tcp://pool:3333", user: "w", status: "Alive" }],
    boardTempsC: [60, 61, 62],
    boards: 3,
    workingBoards: 3,
    ...over,
  });
  const web = (over: Partial<WebPart> = {}): WebPart => ({
    sleep: false,
    mode: "normal",
    powerW: 3900,
    powerLimitW: null,
    maxPowerLimitW: 4200,
    ...over,
  });
  const extras = { model: "AT2880", version: "2024-06.11", fanRpm: [7000, 7000], chipTempMaxC: 70 };

  test("hashing: every field filled, watts measured, range from the PSU", () => {
    const r = assemble({
      at: 1,
      api: api(),
      web: web({ mode: "custom", powerLimitW: 3800 }),
      extras,
      full: true,
    });
    assert.equal(r.state, "hashing");
    assert.equal(r.reason, null);
    assert.equal(r.powerW, 3900);
    assert.equal(r.powerEstimated, false);
    assert.equal(r.powerLimitW, 3800);
    assert.equal(r.maxPowerLimitW, 4200);
    assert.equal(r.minPowerLimitW, null);
    assert.equal(r.firmware, "fluxos 2024-06.11");
    assert.equal(r.model, "AT2880");
  });

  test("sleep mode on is sleeping whatever the hashrate says", () => {
    const r = assemble({
      at: 1,
      api: api({ hashrateThs: 120 }),
      web: web({ sleep: true }),
      extras,
      full: true,
    });
    assert.equal(r.state, "sleeping");
    assert.equal(r.reason, "sleep mode on");
  });

  test("sleep off and not hashing: starting; with no pool alive, faulted", () => {
    assert.equal(
      assemble({ at: 1, api: api({ hashrateThs: 0 }), web: web(), extras, full: true }).state,
      "starting",
    );
    const dead = api({ hashrateThs: 0, pools: [{ url: "x", user: "w", status: "Dead" }] });
    const r = assemble({ at: 1, api: dead, web: web(), extras, full: true });
    assert.equal(r.state, "faulted");
    assert.equal(r.reason, "no pool alive");
  });

  test("no hashboard alive is a fault; some not working is said", () => {
    const none = assemble({
      at: 1,
      api: api({ workingBoards: 0, hashrateThs: 0 }),
      web: web(),
      extras,
      full: true,
    });
    assert.equal(none.state, "faulted");
    assert.match(none.reason ?? "", /no hashboard working \(0 of 3 alive\)/);
    const some = assemble({ at: 1, api: api({ workingBoards: 2 }), web: web(), extras, full: true });
    assert.equal(some.state, "hashing");
    assert.equal(some.reason, "1 of 3 hashboards not working");
  });
});
