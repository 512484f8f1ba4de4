// The registry of finished dialects. `dialect: auto` picks one of these from
// what the miner says about itself (detect.ts); a dialect that is not finished
// is not listed here.
import type { DialectName, DialectSpec } from "../driver.ts";
import { cgminerDialect } from "./cgminer.ts";

export const DIALECT_SPECS: Partial<Record<DialectName, DialectSpec>> = {
  cgminer: cgminerDialect,
};
