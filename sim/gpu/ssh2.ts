// ssh2 (CommonJS, no bundled types) loaded with the few types the simulator
// and the bench use. node-ssh brings the same ssh2 1.17 the driver runs on.
import { createRequire } from "node:module";
import type { Duplex } from "node:stream";

export interface ParsedKey {
  type: string;
  getPublicSSH(): Buffer;
  verify(data: Buffer, signature: Buffer, hashAlgo?: string): boolean | Error;
}

export interface ServerChannel extends Duplex {
  stderr: { write(data: string | Buffer): boolean };
  exit(code: number): void;
  exit(signal: string, coreDumped: boolean, message: string): void;
  close(): void;
}

export interface Session {
  on(
    event: "exec",
    fn: (accept: () => ServerChannel, reject: () => void, info: { command: string }) => void,
  ): Session;
  on(event: "close", fn: () => void): Session;
  on(
    event: "signal",
    fn: (accept: (() => void) | undefined, reject: unknown, info: { name: string }) => void,
  ): Session;
  on(event: string, fn: (...args: never[]) => void): Session;
}

interface AuthContext {
  method: string;
  username: string;
  key?: { algo: string; data: Buffer };
  signature?: Buffer;
  blob?: Buffer;
  hashAlgo?: string;
  accept(): void;
  reject(methods?: string[]): void;
}

export interface ServerConnection {
  on(event: "authentication", fn: (ctx: AuthContext) => void): ServerConnection;
  on(event: "ready", fn: () => void): ServerConnection;
  on(event: "session", fn: (accept: () => Session, reject: () => void) => void): ServerConnection;
  on(event: "close" | "end", fn: () => void): ServerConnection;
  on(event: "error", fn: (err: Error) => void): ServerConnection;
  end(): void;
}

interface Ssh2Server {
  listen(port: number, host: string, cb: () => void): void;
  address(): { port: number };
  close(cb?: () => void): void;
  on(event: "error", fn: (err: Error) => void): Ssh2Server;
}

interface ClientChannel extends Duplex {
  stderr: Duplex;
  close(): void;
  on(event: "close", fn: (code?: number) => void): this;
  on(event: "exit", fn: (code: number | null) => void): this;
  on(event: "data", fn: (chunk: Buffer) => void): this;
  on(event: string, fn: (...args: never[]) => void): this;
}

interface Ssh2Client {
  on(event: "ready", fn: () => void): Ssh2Client;
  on(event: "error", fn: (err: Error) => void): Ssh2Client;
  on(event: "close", fn: () => void): Ssh2Client;
  connect(cfg: Record<string, unknown>): void;
  exec(command: string, cb: (err: Error | undefined, channel: ClientChannel) => void): boolean;
  end(): void;
}

interface Ssh2Module {
  Server: new (
    cfg: { hostKeys: (string | Buffer)[] },
    onConnection: (client: ServerConnection) => void,
  ) => Ssh2Server;
  Client: new () => Ssh2Client;
  utils: {
    parseKey(data: string | Buffer): ParsedKey | Error;
    generateKeyPairSync(type: "ed25519"): { private: string; public: string };
  };
}

const ssh2 = createRequire(import.meta.url)("ssh2") as Ssh2Module;

export const { Server, Client } = ssh2;
const { utils } = ssh2;

/** An OpenSSH-format Ed25519 pair: `private` for ssh2/node-ssh, `public` as an authorized_keys line. */
export function generateKeyPair(): { privateKey: string; publicKey: string } {
  // ssh2 strips a leading zero byte of the public key, so about 1 pair in 256
  // cannot be parsed back (mscdex/ssh2#1390, #1513): draw again until both parse
  for (;;) {
    const k = utils.generateKeyPairSync("ed25519");
    if (!(utils.parseKey(k.private) instanceof Error) && !(utils.parseKey(k.public) instanceof Error)) {
      return { privateKey: k.private, publicKey: k.public };
    }
  }
}

export function parsePublicKey(text: string | Buffer): ParsedKey {
  const k = utils.parseKey(text);
  if (k instanceof Error) throw k;
  return k;
}
