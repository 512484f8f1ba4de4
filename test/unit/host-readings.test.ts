// The gateway's own health, read from kernel files without a shell: CPU load
// between two readings, the disk that holds the state (statfs, and its mount
// point from /proc/mounts, escapes included), and the CPU temperature from the
// sensors of an Intel box, an AMD box, a Raspberry Pi (hwmon without labels)
// and a board with thermal zones only, each laid out as the kernel does under
// a folder that stands in for "/".
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { GatewayMonitor } from "../../agent/runtime/host-health.ts";
import {
  cpuLoadPct,
  cpuTemperatureC,
  cpuTimes,
  diskUse,
  mountPointFor,
  mountPointsOf,
} from "../../agent/runtime/host-readings.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";

/** A folder standing in for "/", with `files` (path → content) written under it. */
function rootWith(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "wk-host-"));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

test("CPU load is the busy share of the time between two readings", () => {
  assert.equal(cpuLoadPct({ busyMs: 1000, totalMs: 4000 }, { busyMs: 1500, totalMs: 6000 }), 25);
  assert.equal(cpuLoadPct({ busyMs: 0, totalMs: 0 }, { busyMs: 10, totalMs: 10 }), 100);
  // no time passed, or counters that went back (a different boot): no figure
  assert.equal(cpuLoadPct({ busyMs: 5, totalMs: 10 }, { busyMs: 5, totalMs: 10 }), null);
  assert.equal(cpuLoadPct({ busyMs: 50, totalMs: 100 }, { busyMs: 40, totalMs: 200 }), null);
  const now = cpuTimes();
  assert.ok(now.totalMs > 0 && now.busyMs >= 0 && now.busyMs <= now.totalMs);
});

test("the mount point is the longest one that holds the path, kernel escapes decoded", () => {
  const mounts = mountPointsOf(
    [
      "/dev/root / ext4 rw,relatime 0 0",
      "proc /proc proc rw 0 0",
      "/dev/sda1 /var ext4 rw 0 0",
      "/dev/sdb1 /var/lib/wattkeeper\\040state xfs rw 0 0",
      "",
    ].join("\n"),
  );
  assert.deepEqual(mounts, ["/", "/proc", "/var", "/var/lib/wattkeeper state"]);
  assert.equal(mountPointFor(mounts, "/var/lib/wattkeeper state/wattkeeper.db"), "/var/lib/wattkeeper state");
  assert.equal(mountPointFor(mounts, "/var/lib/wattkeeper/wattkeeper.db"), "/var");
  assert.equal(mountPointFor(mounts, "/variable/x"), "/");
  assert.equal(mountPointFor(mounts, "/var"), "/var");
  assert.equal(mountPointFor([], "/x"), null);
});

test("disk use is statfs's, as df counts it, on the mount that holds the state", async () => {
  const state = mkdtempSync(join(tmpdir(), "wk-disk-"));
  const root = rootWith({ "proc/mounts": `/dev/root / ext4 rw 0 0\ntmpfs ${dirname(state)} tmpfs rw 0 0\n` });
  // the database file need not exist yet: its folder is measured
  const disk = await diskUse(join(state, "wattkeeper.db"), root);
  const fs = statfsSync(state);
  assert.equal(disk.mount, dirname(state));
  assert.equal(disk.freeBytes, fs.bavail * fs.bsize);
  const used = fs.blocks - fs.bfree;
  assert.ok(Math.abs(disk.usedPct - (used / (used + fs.bavail)) * 100) < 1e-9);
  // without /proc/mounts the figures stand, under "/"
  const bare = await diskUse(state, rootWith({}));
  assert.equal(bare.mount, "/");
  await assert.rejects(diskUse(join(state, "no", "such", "folder", "x.db"), root));
});

test("CPU temperature: an Intel package sensor, before its cores", async () => {
  const root = rootWith({
    "sys/class/hwmon/hwmon0/name": "acpitz\n",
    "sys/class/hwmon/hwmon0/temp1_input": "27800\n",
    "sys/class/hwmon/hwmon1/name": "coretemp\n",
    "sys/class/hwmon/hwmon1/temp1_label": "Package id 0\n",
    "sys/class/hwmon/hwmon1/temp1_input": "61000\n",
    "sys/class/hwmon/hwmon1/temp2_label": "Core 0\n",
    "sys/class/hwmon/hwmon1/temp2_input": "58000\n",
  });
  assert.equal(await cpuTemperatureC(root), 61);
});

test("CPU temperature: AMD's Tctl; cores averaged where no package sensor is labelled", async () => {
  const amd = rootWith({
    "sys/class/hwmon/hwmon2/name": "k10temp\n",
    "sys/class/hwmon/hwmon2/temp1_label": "Tctl\n",
    "sys/class/hwmon/hwmon2/temp1_input": "48375\n",
  });
  assert.equal(await cpuTemperatureC(amd), 48.4);
  const cores = rootWith({
    "sys/class/hwmon/hwmon0/name": "coretemp\n",
    "sys/class/hwmon/hwmon0/temp2_label": "Core 0\n",
    "sys/class/hwmon/hwmon0/temp2_input": "50000\n",
    "sys/class/hwmon/hwmon0/temp3_label": "Core 1\n",
    "sys/class/hwmon/hwmon0/temp3_input": "55000\n",
    // a sensor that cannot be read (the driver is gone) is skipped
    "sys/class/hwmon/hwmon0/temp4_label": "Core 2\n",
  });
  assert.equal(await cpuTemperatureC(cores), 52.5);
});

test("CPU temperature: a Raspberry Pi's unlabelled cpu_thermal, then thermal zones, else none", async () => {
  const pi = rootWith({
    "sys/class/hwmon/hwmon0/name": "cpu_thermal\n",
    "sys/class/hwmon/hwmon0/temp1_input": "44303\n",
  });
  assert.equal(await cpuTemperatureC(pi), 44.3);
  const zones = rootWith({
    "sys/class/thermal/thermal_zone0/type": "acpitz\n",
    "sys/class/thermal/thermal_zone0/temp": "30000\n",
    "sys/class/thermal/thermal_zone1/type": "x86_pkg_temp\n",
    "sys/class/thermal/thermal_zone1/temp": "57000\n",
    "sys/class/thermal/cooling_device0/type": "Processor\n",
  });
  assert.equal(await cpuTemperatureC(zones), 57);
  // a container or VM without sensors; and garbage where a number belongs
  assert.equal(await cpuTemperatureC(rootWith({})), null);
  const garbage = rootWith({
    "sys/class/thermal/thermal_zone0/type": "cpu-thermal\n",
    "sys/class/thermal/thermal_zone0/temp": "N/A\n",
  });
  assert.equal(await cpuTemperatureC(garbage), null);
});

test("the gateway monitor samples memory, disk and load; the second load is over the interval", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-gw-"));
  const monitor = new GatewayMonitor({
    statePath: join(dir, "wattkeeper.db"),
    logger: silentLogger(),
    everyMs: 1,
  });
  monitor.start();
  await monitor.stop();
  const first = monitor.latest();
  assert.ok(first, "a first sample at start");
  assert.ok(first.memTotalBytes !== null && first.memTotalBytes > 0);
  assert.ok(
    first.memUsedBytes !== null && first.memUsedBytes > 0 && first.memUsedBytes <= first.memTotalBytes,
  );
  assert.ok(first.disk && first.disk.freeBytes > 0 && first.disk.usedPct >= 0 && first.disk.usedPct <= 100);
  assert.ok(first.cpuLoadPct !== null && first.cpuLoadPct >= 0 && first.cpuLoadPct <= 100);
  // busy for a while, so the second sample's interval has CPU time in it
  const until = Date.now() + 50;
  while (Date.now() < until);
  monitor.start();
  await monitor.stop();
  const second = monitor.latest();
  assert.ok(second && second !== first);
  assert.ok(second.cpuLoadPct !== null && second.cpuLoadPct > 0 && second.cpuLoadPct <= 100);
});
