// A bench stopped from outside (Ctrl-C, kill) takes its child processes with it. A child that
// logs to a file (the soak's agent) has nothing else that tells it its bench is gone, and it
// would go on polling the machine's loopback fleet through the next bench.
import type { ChildProcess } from "node:child_process";

/** On SIGINT or SIGTERM: SIGTERM to each of `children()` as they are then, and exit 130 / 143. */
export function stopChildrenWithMe(children: () => readonly ChildProcess[]): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      for (const child of children()) child.kill("SIGTERM");
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
}
