// Reading a file the config names (the config itself, a secret, a meter
// profile) without running away: only regular files (a FIFO would block the
// read forever, /dev/zero would never end), at most `maxBytes`, under a
// deadline. Errors come back as words for a problem, never thrown.
import { open, stat } from "node:fs/promises";

export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
export const MAX_SECRET_BYTES = 64 * 1024;
const READ_DEADLINE_MS = 5000;

function kindOf(s: Awaited<ReturnType<typeof stat>>): string {
  if (s.isDirectory()) return "a folder";
  if (s.isFIFO()) return "a named pipe (FIFO)";
  if (s.isSocket()) return "a socket";
  if (s.isCharacterDevice() || s.isBlockDevice()) return "a device";
  return "not a regular file";
}

function errorWords(e: unknown, abs: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return `file not found: ${abs}`;
  if (code === "EACCES" || code === "EPERM") return `cannot read ${abs}: permission denied`;
  return `cannot read ${abs}: ${code ?? (e as Error).message}`;
}

function sizeWords(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

export async function readBounded(
  abs: string,
  opts: { maxBytes: number; timeoutMs?: number },
): Promise<{ text: string } | { error: string; notFound?: boolean }> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { error: errorWords(e, abs), notFound: code === "ENOENT" || code === "ENOTDIR" };
  }
  if (!info.isFile()) return { error: `${abs} is ${kindOf(info)}, not a regular file` };
  if (info.size > opts.maxBytes) {
    return { error: `${abs} is ${sizeWords(info.size)}; at most ${sizeWords(opts.maxBytes)} is read` };
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<{ error: string }>((resolve) => {
    timer = setTimeout(
      () => resolve({ error: `cannot read ${abs}: no data within ${opts.timeoutMs ?? READ_DEADLINE_MS} ms` }),
      opts.timeoutMs ?? READ_DEADLINE_MS,
    );
  });
  const read = (async (): Promise<{ text: string } | { error: string }> => {
    const fh = await open(abs, "r");
    try {
      // sized by stat() (one byte more, so the end is seen without growing), then grown up to
      // one byte more than allowed: a file that grew since stat() (or a /proc file, size 0) is
      // caught too. A buffer of the whole allowance each time zeroed 8 MiB per model file.
      const limit = opts.maxBytes + 1;
      let buf = Buffer.allocUnsafe(Math.min(limit, Math.max(info.size + 1, 4096)));
      let n = 0;
      for (;;) {
        if (n === buf.length) {
          const bigger = Buffer.allocUnsafe(Math.min(limit, buf.length * 2));
          buf.copy(bigger, 0, 0, n);
          buf = bigger;
        }
        const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n > opts.maxBytes) return { error: `${abs} is larger than ${sizeWords(opts.maxBytes)}` };
      }
      return { text: buf.toString("utf8", 0, n) };
    } finally {
      await fh.close();
    }
  })().catch((e: unknown) => ({ error: errorWords(e, abs) }));
  try {
    return await Promise.race([read, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
