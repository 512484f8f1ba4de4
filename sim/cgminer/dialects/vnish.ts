// Simulated VNish on the CGMiner API port: the unit keeps bmminer's read-only
// API, with its firmware named in the model type ("Antminer S19 XP (Vnish
// 1.2.6)", the form the web summary's miner_type and pyasic's model parsing
// use), which is where scanners find the "VNISH" marker. Every other command
// is the stock one; control goes through the web API (sim/vnish).

import { statsReply, versionReply } from "../replies.ts";
import type { SimDialect } from "./types.ts";

const VNISH_SIM_VERSION = "1.2.6";

const typeOf = (type: string) => `${type} (Vnish ${VNISH_SIM_VERSION})`;

/** The simulated vnish firmware on the CGMiner API port. */
export const vnishSimDialect: SimDialect = {
  name: "vnish",
  handlers: {
    version: (c) => {
      const r = versionReply(c.view);
      const item = r.section!.items[0]!;
      item.Type = typeOf(c.view.model.type);
      return r;
    },
    stats: (c) => {
      const r = statsReply(c.view, { statsQuirk: true, poolUser: `wattkeeper.${c.id}` });
      const head = r.section!.items[0];
      if (head) head.Type = typeOf(c.view.model.type);
      return r;
    },
  },
};
