// The part of madge's API (it ships no types) that test/unit/dependency-rules.test.ts uses.
declare module "madge" {
  interface MadgeResult {
    /** Each file (relative to the base dir) with the files it imports. */
    obj(): Record<string, string[]>;
  }
  interface MadgeOptions {
    fileExtensions?: string[];
    tsConfig?: string;
    detectiveOptions?: Record<string, Record<string, unknown>>;
  }
  export default function madge(paths: string | string[], options?: MadgeOptions): Promise<MadgeResult>;
}
