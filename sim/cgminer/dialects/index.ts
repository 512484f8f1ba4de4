// Importing this module registers the simulated vendor dialects with the
// CGMiner-API sim (sim/cgminer/dialects.ts).
import "./auradine.ts";
import "./avalon.ts";
import "./braiins.ts";
import "./luxos.ts";
import "./vnish.ts";
