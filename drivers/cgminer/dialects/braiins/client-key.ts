// What the Braiins dialect needs to know of a gRPC client before it has one:
// the default port and the cache key. Kept apart from client.ts so the dialect
// loads the gRPC and protobuf libraries only when a miner first needs the gRPC
// API (a write, or a limit the 4028 API does not report): most sites and every
// scan never do, and those libraries cost start-up time and memory.
import { createHash } from "node:crypto";

export const BRAIINS_GRPC_PORT = 50051;

/** The cache key of one client: the unit and the login (the password hashed, never kept in the key). */
export function braiinsClientKey(
  { host, port }: { host: string; port: number },
  { username, password }: { username: string; password: string },
): string {
  const pw = createHash("sha256").update(password).digest("hex").slice(0, 16);
  return `${host}:${port}\u0000${username}\u0000${pw}`;
}
