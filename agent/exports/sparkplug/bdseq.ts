// The birth/death sequence number (bdSeq) of the edge node's sessions: one
// per connection attempt, 0–255 wrapping, carried by the will (NDEATH) set at
// CONNECT and by the NBIRTH of that session, so a host can tell which birth a
// death ends. Kept in a small file beside the store, so a restart after a
// kill -9 does not reuse the number of the session that just died.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Logger } from "../../runtime/logger.ts";

export class BdSeq {
  private last: number | null = null;
  private warned = false;

  /** `path`: where the last number is kept (null: in memory only, starting at 0). */
  constructor(
    private readonly path: string | null,
    private readonly logger: Logger,
  ) {}

  /** The number for the next connection attempt (and remembers it). */
  next(): number {
    if (this.last === null) this.last = this.read();
    const n = this.last === null ? 0 : (this.last + 1) & 0xff;
    this.last = n;
    this.write(n);
    return n;
  }

  private read(): number | null {
    if (!this.path) return null;
    try {
      const n = Number(readFileSync(this.path, "utf8").trim());
      return Number.isInteger(n) && n >= 0 && n <= 255 ? n : null;
    } catch {
      return null;
    }
  }

  private write(n: number): void {
    if (!this.path) return;
    try {
      // write then rename: a crash mid-write never leaves a torn number behind
      const tmp = `${this.path}.tmp`;
      writeFileSync(tmp, `${n}\n`);
      renameSync(tmp, this.path);
    } catch (err) {
      if (!this.warned) this.logger.warn({ err, path: this.path }, "Sparkplug bdSeq not kept on disk");
      this.warned = true;
    }
  }
}
