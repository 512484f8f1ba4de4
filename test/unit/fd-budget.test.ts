// The file-descriptor budget: RLIMIT_NOFILE read from /proc's format, the
// devices' share sized from the config, HTTP given at most half the rest and
// never more than its cap; the connection guard's choice of whom to close at
// the total cap, and its sweep of responses that stopped draining; client
// address keys (IPv4-mapped, IPv6 by /64).
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { test } from "node:test";
import { addressKey } from "../../agent/http/address.ts";
import { ConnectionGuard } from "../../agent/http/connections.ts";
import { deviceFds, PROCESS_FDS, planFds, readFdLimit } from "../../agent/runtime/fd-budget.ts";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 65536                files
Max locked memory         8388608              8388608              bytes
`;

test("the soft open-file limit is read from /proc/self/limits", () => {
  assert.equal(readFdLimit(LIMITS), 1024);
  assert.equal(readFdLimit("nothing here"), null);
  assert.equal(readFdLimit(LIMITS.replace("1024   ", "unlimited")), Number.MAX_SAFE_INTEGER);
  const own = readFdLimit();
  assert.ok(own === null || own > 0);
});

test("devices are sized first; HTTP gets at most half of the rest, within its cap", () => {
  const needs = {
    miners: 20_000,
    minerConcurrency: 256,
    sessionMiners: 0,
    gpuNodes: 100,
    meterConnections: 20,
  };
  // 256 polling + 1,280 in actions + GPU SSH + Modbus
  assert.equal(deviceFds(needs), 1536 + 100 + 20);
  const big = planFds(needs, 1024, 65536);
  assert.deepEqual([big.httpMaxConnections, big.warning], [1024, null]);
  assert.equal(big.reserved, 1656 + PROCESS_FDS);
  const small = planFds({ ...needs, miners: 100 }, 1024, 1024);
  // 100 miners need at most 100 sockets whatever the concurrency
  assert.equal(small.reserved, 100 + 120 + PROCESS_FDS);
  assert.equal(small.httpMaxConnections, Math.floor((1024 - small.reserved) / 2));
  const tiny = planFds(needs, 1024, 1024);
  assert.equal(tiny.httpMaxConnections, 16);
  assert.match(tiny.warning!, /too low.*LimitNOFILE/);
  assert.equal(planFds(needs, 500, null).httpMaxConnections, 500, "unknown limit: the configured cap");
});

class FakeSocket extends EventEmitter {
  destroyed = false;
  bytesWritten = 0;
  writableLength = 0;
  constructor(readonly remoteAddress: string) {
    super();
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit("close");
    }
    return this;
  }
}
const sock = (addr: string) => new FakeSocket(addr) as unknown as Socket & FakeSocket;

test("at the total cap the heaviest address's oldest idle connection makes room, if it holds more", () => {
  const g = new ConnectionGuard({ maxTotal: 6, maxPerAddress: 4 });
  const a = [sock("10.0.0.1"), sock("10.0.0.1"), sock("10.0.0.1"), sock("10.0.0.1")];
  const b = [sock("10.0.0.2"), sock("10.0.0.2")];
  for (const s of [...a, ...b]) assert.equal(g.admit(s, 0), true);
  assert.equal(g.admit(sock("10.0.0.1"), 0), false, "per-address cap");
  g.requestStarted(a[0]!); // busy: kept
  const c = sock("10.0.0.3");
  assert.equal(g.admit(c, 0), true);
  assert.deepEqual(
    a.map((s) => s.destroyed),
    [false, true, false, false],
    "the oldest idle one of the heaviest",
  );
  // 10.0.0.2 holds 2, the heaviest now 3: a second from 10.0.0.3 may still come in
  assert.equal(g.admit(sock("10.0.0.3"), 0), true);
  // now everyone holds 2: a third from 10.0.0.3 would be the heaviest: refused
  const refused = sock("10.0.0.3");
  assert.equal(g.admit(refused, 0), false);
  assert.equal(refused.destroyed, true);
  assert.deepEqual(g.counts, { refusedTotal: 1, refusedPerAddress: 1, evicted: 2, stalled: 0 });
  assert.equal(g.size, 6);
});

test("a response that stops draining is closed after the stall time; a draining one is not", () => {
  const g = new ConnectionGuard({ maxTotal: 10, maxPerAddress: 10, stallMs: 1000 });
  const stuck = sock("10.0.0.1");
  const moving = sock("10.0.0.1");
  const idle = sock("10.0.0.1");
  for (const s of [stuck, moving, idle]) g.admit(s, 0);
  stuck.writableLength = 5000;
  moving.writableLength = 5000;
  for (let t = 0; t <= 3000; t += 500) {
    moving.bytesWritten += 100;
    g.sweep(t);
  }
  assert.deepEqual([stuck.destroyed, moving.destroyed, idle.destroyed], [true, false, false]);
  assert.equal(g.counts.stalled, 1);
});

test("address keys: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64", () => {
  assert.equal(addressKey("10.1.2.3"), "10.1.2.3");
  assert.equal(addressKey("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:0db8:0001:0002::9"), "2001:db8:1:2::/64");
  assert.equal(addressKey("::1"), "::1");
  assert.equal(addressKey(undefined), null);
});
