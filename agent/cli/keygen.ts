// `wattkeeper keygen --out PREFIX`: an Ed25519 pair for signing commands,
// PREFIX.key.pem (private, mode 0600, stays with the central side) and
// PREFIX.pub.pem (goes into a site's mqtt.commandKeys). Never overwrites.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { generateKeyPair } from "../mqtt/signing.ts";
import { commandArgs, type Out, UsageError } from "./usage.ts";

export function writeKeyPair(prefix: string): { privateKeyFile: string; publicKeyFile: string } {
  const { privateKeyPem, publicKeyPem } = generateKeyPair();
  const privateKeyFile = `${prefix}.key.pem`;
  const publicKeyFile = `${prefix}.pub.pem`;
  mkdirSync(dirname(privateKeyFile), { recursive: true });
  // "wx": an existing key is never replaced by accident
  writeFileSync(privateKeyFile, privateKeyPem, { mode: 0o600, flag: "wx" });
  writeFileSync(publicKeyFile, publicKeyPem, { mode: 0o644, flag: "wx" });
  return { privateKeyFile, publicKeyFile };
}

export async function keygenCommand(argv: string[], out: Out = process.stdout): Promise<number> {
  const { values, positionals } = commandArgs(argv, { out: { type: "string" } });
  if (positionals.length > 0) throw new UsageError(`keygen takes no arguments (got '${positionals[0]}')`);
  if (!values.out) throw new UsageError("keygen needs --out PREFIX");
  let files: ReturnType<typeof writeKeyPair>;
  try {
    files = writeKeyPair(values.out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new UsageError(
        `${(err as NodeJS.ErrnoException).path ?? values.out} exists: choose another --out`,
      );
    }
    throw err;
  }
  out.write(
    `private key: ${files.privateKeyFile} (keep it with the central side)\npublic key:  ${files.publicKeyFile} (list it in a site's mqtt.commandKeys)\n`,
  );
  return 0;
}
