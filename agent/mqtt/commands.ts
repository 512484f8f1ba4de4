// Inbound commands: the checks every envelope passes before anything acts
// (size on the raw bytes, name, envelope shape, key, signature, clock skew,
// replay, body schema), in that order, and the dispatch of an accepted one
// to the Site as an intent. A refusal carries a stable reason code (metrics,
// audit) and a message for the response topic.
import type { KeyObject } from "node:crypto";
import type { z } from "zod";
import {
  type Actor,
  BudgetClearSchema,
  BudgetSetSchema,
  DeviceActionSchema,
  type IntentResult,
  ModeSetSchema,
  PingSchema,
} from "../control/intents.ts";
import type { LeaseRequest } from "../control/types.ts";
import { JcsError } from "./jcs.ts";
import { type Envelope, EnvelopeSchema } from "./payloads.ts";
import type { ReplayCache } from "./replay.ts";
import { verifyCommand } from "./signing.ts";
import { type CommandName, isCommandName } from "./topics.ts";

const BODY_SCHEMAS = {
  "budget/set": BudgetSetSchema,
  "budget/clear": BudgetClearSchema,
  "mode/set": ModeSetSchema,
  "device/action": DeviceActionSchema,
  ping: PingSchema,
} as const satisfies Record<CommandName, z.ZodType>;

type RefusalCode =
  | "oversized"
  | "unknown-command"
  | "malformed"
  | "unsigned"
  | "unknown-key"
  | "bad-signature"
  | "stale"
  | "future"
  | "replayed"
  | "schema";

/** A command's body, by name (the map the request topics carry, parsed by BODY_SCHEMAS). */
type CommandBody<N extends CommandName> = z.infer<(typeof BODY_SCHEMAS)[N]>;

/** An accepted command: its name and its body's type go together. */
export type Accepted = {
  [N in CommandName]: { ok: true; name: N; envelope: Envelope; body: CommandBody<N> };
}[CommandName];

export type Checked =
  | Accepted
  | { ok: false; code: RefusalCode; error: string; id: string | null; keyName: string | null };

export interface CheckContext {
  siteId: string;
  keys: ReadonlyMap<string, KeyObject>;
  skewS: number;
  maxBytes: number;
  replay: ReplayCache;
  now?: number;
}

function refuse(
  code: RefusalCode,
  error: string,
  env?: { id?: unknown; keyName?: unknown },
): Extract<Checked, { ok: false }> {
  return {
    ok: false,
    code,
    error: `${code}: ${error}`,
    id: typeof env?.id === "string" ? env.id.slice(0, 128) : null,
    keyName: typeof env?.keyName === "string" ? env.keyName.slice(0, 128) : null,
  };
}

/** Runs every check on one raw request. Records the id in the replay cache once it is authentic and fresh. */
export function checkCommand(name: string, raw: Buffer, ctx: CheckContext): Checked {
  const now = ctx.now ?? Date.now();
  if (raw.length > ctx.maxBytes) {
    return refuse("oversized", `${raw.length} bytes, the limit is ${ctx.maxBytes}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString("utf8"));
  } catch {
    return refuse("malformed", "not JSON");
  }
  const loose = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (!isCommandName(name)) return refuse("unknown-command", `no command "${name.slice(0, 64)}"`, loose);
  if (typeof parsed === "object" && parsed !== null && !("sig" in parsed)) {
    return refuse("unsigned", "the envelope has no signature", loose);
  }
  const env = EnvelopeSchema.safeParse(parsed);
  if (!env.success) {
    const i = env.error.issues[0];
    return refuse("malformed", `${i?.path.join(".") || "envelope"}: ${i?.message}`, loose);
  }
  const e = env.data;
  const key = ctx.keys.get(e.keyName);
  if (!key) return refuse("unknown-key", `no key named "${e.keyName}"`, e);
  let good: boolean;
  try {
    good = verifyCommand(
      key,
      { siteId: ctx.siteId, name, id: e.id, issuedAt: e.issuedAt, body: e.body },
      e.sig,
    );
  } catch (err) {
    if (!(err instanceof JcsError)) throw err;
    good = false;
  }
  if (!good) return refuse("bad-signature", `signature does not verify with key "${e.keyName}"`, e);
  const issuedAtMs = Date.parse(e.issuedAt);
  const skewMs = ctx.skewS * 1000;
  if (issuedAtMs < now - skewMs) {
    return refuse("stale", `issued ${Math.round((now - issuedAtMs) / 1000)} s ago, beyond ${ctx.skewS} s`, e);
  }
  if (issuedAtMs > now + skewMs) {
    return refuse(
      "future",
      `issued ${Math.round((issuedAtMs - now) / 1000)} s ahead, beyond ${ctx.skewS} s`,
      e,
    );
  }
  if (!ctx.replay.remember(e.id, issuedAtMs, now))
    return refuse("replayed", `id "${e.id}" was seen before`, e);
  const body = BODY_SCHEMAS[name].safeParse(e.body);
  if (!body.success) {
    const i = body.error.issues[0];
    return refuse("schema", `${i?.path.join(".") || "body"}: ${i?.message}`, e);
  }
  // the schema was chosen by `name`: the body is that command's
  return { ok: true, name, envelope: e, body: body.data } as Accepted;
}

/** What commands act on: the Site's intents (the Site audits and events them). */
export interface CommandTarget {
  setBudgetLease(lease: LeaseRequest, actor: Actor): unknown;
  clearBudgetLease(actor: Actor): void;
  setMode(mode: "auto" | "hold", actor: Actor): IntentResult;
  deviceAction(req: CommandBody<"device/action">, actor: Actor): Promise<IntentResult>;
}

/** Hands an accepted command to the Site. ping is answered here (the caller audits it). */
export async function dispatch(target: CommandTarget, c: Accepted, actor: Actor): Promise<IntentResult> {
  switch (c.name) {
    case "budget/set": {
      const b = c.body;
      target.setBudgetLease({ watts: b.watts, ttlS: b.ttlS, reason: b.reason }, actor);
      return { ok: true };
    }
    case "budget/clear":
      target.clearBudgetLease(actor);
      return { ok: true };
    case "mode/set":
      return target.setMode(c.body.mode, actor);
    case "device/action":
      return target.deviceAction(c.body, actor);
    case "ping":
      return { ok: true, detail: "pong" };
  }
}
