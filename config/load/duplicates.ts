// Duplicate reporting: the first few duplicates of a kind are listed, the rest
// counted, so that a copy-pasted range does not bury every other problem.
import type { Problem } from "./problems.ts";

/** Most duplicate lines reported per kind; the rest are counted. */
const MAX_DUPLICATE_LINES = 5;

export class DuplicateReporter {
  private count = 0;
  private firstPath = "";
  constructor(
    private readonly problems: Problem[],
    private readonly what: string,
  ) {}
  add(path: string, message: string): void {
    if (this.count === 0) this.firstPath = path;
    if (this.count < MAX_DUPLICATE_LINES) this.problems.push({ path, message });
    this.count++;
  }
  finish(): void {
    const more = this.count - MAX_DUPLICATE_LINES;
    if (more > 0) this.problems.push({ path: this.firstPath, message: `… and ${more} more ${this.what}` });
  }
}

/** Device ids, unique across meters, miners and GPU nodes. */
export class IdClaims {
  private readonly owners = new Map<string, string>();
  private readonly duplicates: DuplicateReporter;
  constructor(problems: Problem[]) {
    this.duplicates = new DuplicateReporter(problems, "duplicate ids");
  }
  /**
   * `path`: where a duplicate is reported; `owner`: who the id is kept for; `derived`: the id
   * was made from idPrefix and an address, not written in the file.
   */
  claim(id: string, { path, owner, derived }: { path: string; owner: string; derived: boolean }): void {
    const other = this.owners.get(id);
    if (other !== undefined)
      this.duplicates.add(path, `${derived ? "derived " : ""}id "${id}" is also used by ${other}`);
    else this.owners.set(id, owner);
  }
  finish(): void {
    this.duplicates.finish();
  }
}
