// Process entry: runs the CLI with this process's arguments. It runs compiled,
// as dist/agent/entry.js: `bin/wattkeeper.js` builds dist/ first in a checkout
// (scripts/build.mjs), production runs `node dist/agent/entry.js` directly.
import { main } from "./cli/main.ts";

process.exitCode = await main(process.argv.slice(2));
