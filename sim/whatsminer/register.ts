// Registers the simulated Whatsminer API v2 dialect with the cgminer sim
// (imported for its side effect by sim/cgminer/server.ts).
import { registerSimDialect } from "../cgminer/dialects.ts";
import { whatsminerSimDialect } from "./v2.ts";

registerSimDialect(whatsminerSimDialect);
