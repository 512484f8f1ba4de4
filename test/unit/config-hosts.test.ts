// Miner host specs: ranges, shorthand, CIDR blocks (hosts only), lists, and the cap.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { countHosts, expandHosts, MAX_MINERS } from "../../config/hosts.ts";

describe("expandHosts", () => {
  it("expands a full range", () => {
    const hosts = expandHosts("10.1.0.10-10.1.0.250");
    assert.equal(hosts.length, 241);
    assert.equal(hosts[0], "10.1.0.10");
    assert.equal(hosts.at(-1), "10.1.0.250");
  });
  it("expands the last-octet shorthand", () => {
    assert.deepEqual(expandHosts("10.1.0.10-12"), ["10.1.0.10", "10.1.0.11", "10.1.0.12"]);
  });
  it("crosses octet boundaries in a full range", () => {
    assert.deepEqual(expandHosts("10.1.0.254-10.1.1.1"), [
      "10.1.0.254",
      "10.1.0.255",
      "10.1.1.0",
      "10.1.1.1",
    ]);
  });
  it("leaves network and broadcast out of a /30", () => {
    assert.deepEqual(expandHosts("10.1.0.0/30"), ["10.1.0.1", "10.1.0.2"]);
  });
  it("keeps both addresses of a /31 and the one of a /32", () => {
    assert.deepEqual(expandHosts("10.1.0.0/31"), ["10.1.0.0", "10.1.0.1"]);
    assert.deepEqual(expandHosts("10.1.0.7/32"), ["10.1.0.7"]);
  });
  it("gives 254 hosts for a /24 and 65,534 for a /16", () => {
    const h24 = expandHosts("10.1.0.0/24");
    assert.equal(h24.length, 254);
    assert.equal(h24[0], "10.1.0.1");
    assert.equal(h24.at(-1), "10.1.0.254");
    assert.equal(expandHosts("10.20.0.0/16").length, 65534);
    assert.equal(countHosts("10.20.0.0/16"), 65534);
  });
  it("expands a list, items of any form", () => {
    assert.deepEqual(expandHosts(["10.1.2.5", "10.1.2.6", "10.1.3.1-2"]), [
      "10.1.2.5",
      "10.1.2.6",
      "10.1.3.1",
      "10.1.3.2",
    ]);
  });
  it("passes a host name through", () => {
    assert.deepEqual(expandHosts("miner-7.site.lan"), ["miner-7.site.lan"]);
  });
  const bad: [string, RegExp][] = [
    ["10.1.0.0/33", /prefix length must be 0 to 32, got \/33/],
    ["10.1.0.300/24", /"10\.1\.0\.300" is not an IPv4 address/],
    ["10.1.0.5/24", /has host bits set; did you mean 10\.1\.0\.0\/24\?/],
    ["10.1.0.20-10.1.0.10", /is reversed: 10\.1\.0\.10 comes before 10\.1\.0\.20/],
    ["10.1.0.20-5", /is reversed/],
    ["10.1.0.1-300", /over 255/],
    ["10.1.0", /is not an address, a range/],
    ["10.01.0.1", /is not an address|is not an IPv4/],
    ["10.0.0.0/8", /would yield 16,777,214 miners, over the limit of 65,536 miners in total/],
  ];
  for (const [spec, msg] of bad) {
    it(`rejects ${spec}`, () => assert.throws(() => expandHosts(spec), msg));
  }
  it("names the count against a smaller remaining cap", () => {
    assert.throws(
      () => expandHosts("10.1.0.0/24", 100),
      /would yield 254 miners, over the limit: 100 left of 65,536/,
    );
  });
  it("caps at 65,536", () => assert.equal(MAX_MINERS, 65536));
});
