// The vendor dialects the CGMiner-API sim can speak, by name: an explicit map
// built from imports, as the drivers list theirs (drivers/cgminer/dialects/index.ts
// `DIALECT_SPECS`). No registration by side effect, no mutable global: a new
// dialect is one module exporting its SimDialect plus one line here.
import { whatsminerSimDialect } from "../../whatsminer/v2.ts";
import { auradineSimDialect } from "./auradine.ts";
import { avalonSimDialect } from "./avalon.ts";
import { braiinsSimDialect } from "./braiins.ts";
import { luxosSimDialect } from "./luxos.ts";
import type { SimDialect } from "./types.ts";
import { vnishSimDialect } from "./vnish.ts";

/** Simulated dialects by name ("cgminer" — the stock behaviour — is not in the map). */
export const SIM_DIALECTS: Readonly<Record<string, SimDialect>> = Object.freeze(
  Object.fromEntries(
    [
      auradineSimDialect,
      avalonSimDialect,
      braiinsSimDialect,
      luxosSimDialect,
      vnishSimDialect,
      whatsminerSimDialect,
    ].map((d) => [d.name, d]),
  ),
);
