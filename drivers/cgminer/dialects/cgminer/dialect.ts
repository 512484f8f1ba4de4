// Stock cgminer / bmminer / bfgminer without a vendor control path: the API on
// 4028 is read-only (privileged commands are denied with Code 45 on stock
// firmware), so this dialect reads and declares nothing. A stock Bitmain unit
// is controlled through its web CGI: that is the `antminer` dialect's.
import { DriverError } from "../../../types.ts";
import { CgminerClient } from "../../client.ts";
import type { DialectSpec } from "../../driver.ts";

export const cgminerDialect: DialectSpec = {
  name: "cgminer",
  capabilities: () => [],
  async read(ctx) {
    const { reading } = await new CgminerClient(ctx.endpoint, ctx.exchange).readWithRepairs(
      ctx.signal,
      ctx.now,
      ctx,
    );
    return reading;
  },
  async write(_ctx, action) {
    // the driver refuses undeclared writes before they get here; a direct call is refused too
    throw new DriverError(
      "WK_CGMINER_UNSUPPORTED",
      `stock cgminer cannot ${action}: its API is read-only (a stock Antminer's web CGI is the antminer dialect's)`,
      false,
    );
  },
};
