// Process entry: runs the CLI with this process's arguments. `bin/wattkeeper.js`
// loads it from the TypeScript sources (through tsx); production runs the
// compiled `node dist/agent/entry.js` (`npm run build`), which needs no loader.
import { main } from "./main.ts";

process.exitCode = await main(process.argv.slice(2));
