// The registry of finished dialects. `dialect: auto` picks one of these from
// what the miner says about itself (detect.ts); a dialect that is not finished
// is not listed here.
import type { DialectName, DialectSpec } from "../driver.ts";
import { antminerDialect } from "./antminer.ts";
import { auradineDialect } from "./auradine.ts";
import { avalonDialect } from "./avalon.ts";
import { braiinsDialect } from "./braiins.ts";
import { cgminerDialect } from "./cgminer.ts";
import { epicDialect } from "./epic.ts";
import { espminerDialect } from "./espminer.ts";
import { luxosDialect } from "./luxos.ts";
import { protoDialect } from "./proto.ts";
import { vnishDialect } from "./vnish.ts";
import { whatsminerDialect } from "./whatsminer.ts";

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
