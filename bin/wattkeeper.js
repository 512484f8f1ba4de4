#!/usr/bin/env node
// Entry point for `npx wattkeeper` / `npm start`: registers the TypeScript loader
// (tsx, a runtime dependency) and hands over to the CLI in agent/main.ts.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../agent/main.ts");
process.exitCode = await main(process.argv.slice(2));
