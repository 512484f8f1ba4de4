// The registry of finished dialects. `dialect: auto` picks one of these from
// what the miner says about itself (detect.ts); a dialect that is not finished
// is not listed here.
import type { DialectName, DialectSpec } from "../driver.ts";
import { antminerDialect } from "./antminer/dialect.ts";
import { auradineDialect } from "./auradine/dialect.ts";
import { avalonDialect } from "./avalon/dialect.ts";
import { braiinsDialect } from "./braiins/dialect.ts";
import { cgminerDialect } from "./cgminer/dialect.ts";
import { epicDialect } from "./epic/dialect.ts";
import { espminerDialect } from "./espminer/dialect.ts";
import { luxosDialect } from "./luxos/dialect.ts";
import { protoDialect } from "./proto/dialect.ts";
import { vnishDialect } from "./vnish/dialect.ts";
import { whatsminerDialect } from "./whatsminer/dialect.ts";

export const DIALECT_SPECS: Partial<Record<DialectName, DialectSpec>> = {
  cgminer: cgminerDialect,
  antminer: antminerDialect,
  luxos: luxosDialect,
  braiins: braiinsDialect,
  avalon: avalonDialect,
  whatsminer: whatsminerDialect,
  epic: epicDialect,
  proto: protoDialect,
  auradine: auradineDialect,
  espminer: espminerDialect,
  vnish: vnishDialect,
};
