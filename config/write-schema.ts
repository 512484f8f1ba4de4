// `npm run schema`: regenerates the JSON Schema and the Markdown reference from
// config/schema.ts. Both files are committed so editors and readers need no build.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { configJsonSchema, renderConfigReference } from "./reference.ts";

const schemaFile = fileURLToPath(new URL("./wattkeeper.schema.json", import.meta.url));
const docFile = fileURLToPath(new URL("../docs/config.md", import.meta.url));

writeFileSync(schemaFile, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
writeFileSync(docFile, renderConfigReference());
process.stdout.write(`wrote ${schemaFile}\nwrote ${docFile}\n`);
