#!/usr/bin/env node
// Entry point for `npx wattkeeper` / `npm start`: registers the TypeScript loader
// (tsx, a runtime dependency) and runs the CLI from the sources. Installed
// services run the compiled tree instead: `node dist/agent/entry.js` after
// `npm run build` (no loader thread, less memory).
import { register } from "tsx/esm/api";

register();
await import("../agent/entry.ts");
