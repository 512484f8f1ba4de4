// One plan action as the actuator call it is (sleep → actuator.sleep, a GPU cap →
// capGpu…), in one phase: what the applier sends each attempt through (apply.ts).
import type { Actuator, ActuatorCall, ActuatorResult } from "./loop-types.ts";
import type { PlanAction } from "./types.ts";

/** Sends `a` through the actuator's method for its kind. */
export function callActuator(act: Actuator, a: PlanAction, how: ActuatorCall): Promise<ActuatorResult> {
  const w = a.valueW ?? 0;
  switch (a.kind) {
    case "sleep":
      return act.sleep(a.deviceId, how);
    case "wake":
      return act.wake(a.deviceId, how);
    case "setPowerLimit":
      return act.setPowerLimit(a.deviceId, w, how);
    case "restorePowerLimit":
      return act.restorePowerLimit(a.deviceId, w, how);
    case "capGpu":
      return act.capGpu(a.deviceId, a.gpuIndex ?? 0, w, how);
    case "uncapGpu":
      return act.uncapGpu(a.deviceId, a.gpuIndex ?? 0, w, how);
    case "drainGpuNode":
      return act.drainGpuNode(a.deviceId, how);
    case "resumeGpuNode":
      return act.resumeGpuNode(a.deviceId, how);
    case "reboot":
      return act.reboot(a.deviceId, how);
    case "locate":
      return act.locate(a.deviceId, a.seconds ?? 0, how);
  }
}
