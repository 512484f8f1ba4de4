// `dialect: auto` and `scan`: is this an ePIC UMC unit? One read-only GET
// /summary on the API port (4028), where ePIC answers HTTP instead of the
// CGMiner API. It is ePIC when the reply is JSON carrying a `Software` string
// and a `Status."Operating State"` string (the fields every UMC summary has);
// anything else (a CGMiner text reply the HTTP parser rejects, a 404, another
// JSON API) is not, and gives null. Throws only when the host does not answer.
import { snippet } from "../../../printable.ts";
import { DriverError } from "../../../types.ts";
import type { DialectContext } from "../../driver.ts";
import { jsonRequest } from "../../http-json.ts";
import { deadlines, EPIC_LABEL } from "./client.ts";

/** The peer answered, but not in HTTP (Node's parser: HPE_INVALID_CONSTANT…): a CGMiner API, not ePIC. */
function notHttp(err: unknown): boolean {
  const cause = err instanceof DriverError ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  return typeof cause?.code === "string" && cause.code.startsWith("HPE_");
}

export async function probeEpic(ctx: DialectContext): Promise<string | null> {
  let json: unknown;
  try {
    // the read's deadlines, and its reply kept: the first read takes it instead of asking again
    const reply = await jsonRequest(ctx.endpoint, {
      method: "GET",
      path: "/summary",
      ...deadlines(ctx),
      signal: ctx.signal,
      label: EPIC_LABEL,
    });
    if (reply.status !== 200) return null;
    json = reply.json;
  } catch (err) {
    if (err instanceof DriverError && err.code === `WK_${EPIC_LABEL}_BAD_REPLY`) return null;
    if (notHttp(err)) return null;
    throw err;
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) return null;
  const s = json as { Software?: unknown; Status?: unknown; "OS Type"?: unknown };
  const status = s.Status as { "Operating State"?: unknown } | null | undefined;
  if (typeof s.Software !== "string" || typeof status?.["Operating State"] !== "string") return null;
  const os = typeof s["OS Type"] === "string" ? `, ${snippet(s["OS Type"], 30)}` : "";
  return `GET /summary on port ${ctx.endpoint.port}: ePIC UMC ${snippet(s.Software, 60)}${os}`;
}
