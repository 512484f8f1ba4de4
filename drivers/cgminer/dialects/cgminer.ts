// Stock cgminer / bmminer: the API on 4028 is read-only (privileged commands
// are denied with Code 45 on stock firmware), so this dialect reads only.

import { DriverError } from "../../types.ts";
import { CgminerClient } from "../client.ts";
import type { DialectSpec } from "../driver.ts";

export const cgminerDialect: DialectSpec = {
  name: "cgminer",
  capabilities: () => [],
  async read(ctx) {
    const client = new CgminerClient(ctx.endpoint, ctx.exchange);
    const { repairs: _repairs, ...reading } = await client.read(ctx.signal, ctx.now);
    return reading;
  },
  async write(_ctx, action) {
    throw new DriverError("WK_CGMINER_UNSUPPORTED", `stock cgminer API cannot ${action}`, false);
  },
};
