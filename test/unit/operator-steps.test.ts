// An operator's device action as control-loop steps: expected power changes,
// the GPU floor and per-GPU limits, and the refusals.
import assert from "node:assert/strict";
import { test } from "node:test";
import { operatorSteps } from "../../agent/control/operator-steps.ts";
import type { GpuNodeConfig, MinerConfig } from "../../config/schema.ts";
import type { GpuNodeReading } from "../../drivers/nvidia/types.ts";

const miner = { id: "m-1", nominalW: 3250 } as unknown as MinerConfig;
const node = { id: "g-1", floorW: 350 } as unknown as GpuNodeConfig;
const gpus = (specs: Array<[number, number, number, number]>) =>
  ({
    gpus: specs.map(([index, powerW, min, max]) => ({
      index,
      powerW,
      minPowerLimitW: min,
      maxPowerLimitW: max,
    })),
  }) as unknown as GpuNodeReading;
const ctx = { miner: null, gpuNode: null, minerReading: null, gpuReading: null, sleptPowerW: null };

test("miner steps carry the power change the ramp and headroom count", () => {
  const reading = { powerW: 3000 } as never;
  assert.deepEqual(
    operatorSteps({ id: "m-1", action: "sleep" }, "op", { ...ctx, miner, minerReading: reading }),
    {
      actions: [{ deviceId: "m-1", kind: "sleep", expectedDeltaW: -3000, reason: "op" }],
    },
  );
  const wake = operatorSteps({ id: "m-1", action: "wake" }, "op", { ...ctx, miner, sleptPowerW: 3100 });
  assert.equal("actions" in wake && wake.actions[0]!.expectedDeltaW, 3100);
  const nominal = operatorSteps({ id: "m-1", action: "wake" }, "op", { ...ctx, miner });
  assert.equal("actions" in nominal && nominal.actions[0]!.expectedDeltaW, 3250);
  const limit = operatorSteps({ id: "m-1", action: "set-power-limit", value: 2500 }, "op", {
    ...ctx,
    miner,
    minerReading: reading,
  });
  assert.deepEqual("actions" in limit && limit.actions[0], {
    deviceId: "m-1",
    kind: "setPowerLimit",
    valueW: 2500,
    expectedDeltaW: -500,
    reason: "op",
  });
});

test("a GPU node: one limit per GPU, clamped to its range and never under floorW; other actions refused", () => {
  const r = operatorSteps({ id: "g-1", action: "set-power-limit", value: 400 }, "op", {
    ...ctx,
    gpuNode: node,
    gpuReading: gpus([
      [0, 650, 200, 700],
      [1, 300, 450, 700],
    ]),
  });
  assert.ok("actions" in r);
  assert.deepEqual(
    r.actions.map((a) => [a.gpuIndex, a.valueW, a.expectedDeltaW]),
    [
      [0, 400, -250],
      [1, 450, 0],
    ],
  );
  assert.match(
    (
      operatorSteps({ id: "g-1", action: "set-power-limit", value: 300 }, "op", {
        ...ctx,
        gpuNode: node,
      }) as {
        error: string;
      }
    ).error,
    /under the node's floorW/,
  );
  assert.match(
    (operatorSteps({ id: "g-1", action: "sleep" }, "op", { ...ctx, gpuNode: node }) as { error: string })
      .error,
    /GPU node: only set-power-limit/,
  );
  assert.match(
    (
      operatorSteps({ id: "g-1", action: "set-power-limit", value: 500 }, "op", {
        ...ctx,
        gpuNode: node,
      }) as {
        error: string;
      }
    ).error,
    /no GPU reading yet/,
  );
});
