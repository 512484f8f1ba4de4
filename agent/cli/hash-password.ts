// `wattkeeper hash-password`: reads a password on stdin (typed at a prompt or
// piped; never on the command line, where `ps` and shell history would keep
// it) and prints the scrypt hash to paste into `http.operators[].passwordHash`.
import { DEFAULT_SCRYPT, hashPassword } from "../http/password.ts";
import { UsageError } from "./usage.ts";

const MAX_PASSWORD_BYTES = 1024;

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_PASSWORD_BYTES) throw new UsageError(`the password is over ${MAX_PASSWORD_BYTES} bytes`);
    chunks.push(b);
    // a typed password ends at the first line break; don't wait for Ctrl-D
    if (b.includes(0x0a)) break;
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function hashPasswordCommand(
  argv: string[],
  io: {
    stdin: NodeJS.ReadableStream & { isTTY?: boolean };
    stdout: NodeJS.WritableStream;
    stderr: NodeJS.WritableStream;
  } = process,
): Promise<number> {
  if (argv.length > 0) {
    throw new UsageError("hash-password takes no arguments: it reads the password on stdin");
  }
  if (io.stdin.isTTY) io.stderr.write("Password (input is echoed; pipe it in to avoid that): ");
  const text = await readStdin(io.stdin);
  // only the line break that ends the input is dropped: spaces are part of a password
  const password = text.split(/\r?\n/)[0] ?? "";
  if (password.length === 0) throw new UsageError("empty password on stdin");
  if (password.length < 8) io.stderr.write("warning: a password under 8 characters is easy to guess\n");
  io.stdout.write(`${await hashPassword(password, DEFAULT_SCRYPT)}\n`);
  return 0;
}
