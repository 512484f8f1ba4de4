// LuxOS sessions (see dialect.ts): `logon` → SESSION[0].SessionID, one session
// at a time (a second logon gets Code 402). Each write runs inside one session
// that is always logged off afterwards, errors included; writes to the same
// miner are serialised (one queue per host:port, shared by every MinerDriver in
// the process). A session left open (402) is read with `session` and adopted.
import { DriverError, type MinerCapability } from "../../../types.ts";
import type { DialectContext, MinerEndpoint, Withdrawn } from "../../driver.ts";
import { encodeRequest, exchange } from "../../framing.ts";
import { rows, statusOf } from "../../normalize.ts";
import { type Json, parseReplyJson } from "../../repair.ts";

/** Code of a logon refused because another session is open. */
const LUXOS_SESSION_BUSY = 402;

export interface Sent {
  reply: Json;
  status: { letter: string; code: number | null; msg: string } | null;
}

/** One command, one connection; the reply is parsed but an E status is returned, not thrown. */
export async function send(
  ctx: DialectContext,
  command: string,
  { parameter, signal }: { parameter?: string | undefined; signal: AbortSignal | undefined },
): Promise<Sent> {
  const raw = await exchange(ctx.endpoint, encodeRequest(command, parameter), {
    ...ctx.exchange,
    signal,
  });
  const text = raw.toString("utf8");
  if (!/^\s*[{[,]/.test(text)) {
    throw new DriverError("WK_LUXOS_NOT_READY", `miner API not ready: ${text.trim().slice(0, 80)}`, true);
  }
  const reply = parseReplyJson(text).value;
  return { reply, status: statusOf(reply) };
}

export const failed = (s: Sent["status"]) => !s || s.letter === "E" || s.letter === "F";
export const describeStatus = (s: Sent["status"]) =>
  s ? `${s.msg || "no message"} (Code ${s.code ?? "?"})` : "no STATUS in reply";

/**
 * Sends a privileged command (`[command, ...args]`) with the session id first;
 * throws when the miner refuses it.
 */
export async function privileged(
  ctx: DialectContext,
  sid: string,
  [command, ...args]: readonly [string, ...string[]],
): Promise<Sent> {
  const sent = await send(ctx, command, { parameter: [sid, ...args].join(","), signal: ctx.signal });
  const st = sent.status;
  if (!failed(st)) return sent;
  const what = [command, ...args].join(" ");
  if (st?.code === 45) {
    throw new DriverError("WK_LUXOS_ACCESS_DENIED", `${what}: ${describeStatus(st)}`, false);
  }
  if (st?.code === LUXOS_SESSION_BUSY) {
    throw new DriverError("WK_LUXOS_SESSION_BUSY", `${what}: ${describeStatus(st)}`, true);
  }
  throw new DriverError("WK_LUXOS_REFUSED", `${what} refused: ${describeStatus(st)}`, false);
}

interface SessionSlot {
  /** Serialises writes to one miner: each write waits for the previous one. */
  queue: Promise<unknown>;
  /** A session whose logoff could not be delivered (retried by close()). */
  stale: string | null;
}

const slots = new Map<string, SessionSlot>();

function slotFor(ep: MinerEndpoint): SessionSlot {
  const key = `${ep.host}:${ep.port}`;
  let slot = slots.get(key);
  if (!slot) {
    slot = { queue: Promise.resolve(), stale: null };
    slots.set(key, slot);
  }
  return slot;
}

function sessionIdOf(reply: Json): string | null {
  const id = rows(reply, "SESSION")[0]?.SessionID;
  return typeof id === "string" && id.trim() !== "" ? id.trim() : null;
}

async function logon(ctx: DialectContext): Promise<string> {
  const sent = await send(ctx, "logon", { signal: ctx.signal });
  const sid = failed(sent.status) ? null : sessionIdOf(sent.reply);
  if (sid) return sid;
  if (sent.status?.code === LUXOS_SESSION_BUSY) {
    // one session at a time: adopt the open one (left by a crashed run or another tool)
    const open = await send(ctx, "session", { signal: ctx.signal });
    const adopted = failed(open.status) ? null : sessionIdOf(open.reply);
    if (adopted) return adopted;
    throw new DriverError(
      "WK_LUXOS_SESSION_BUSY",
      `logon refused: ${describeStatus(sent.status)}, and no open session to reuse`,
      true,
    );
  }
  if (sent.status?.code === 45) {
    throw new DriverError("WK_LUXOS_ACCESS_DENIED", `logon: ${describeStatus(sent.status)}`, false);
  }
  throw new DriverError(
    "WK_LUXOS_LOGON_FAILED",
    `logon gave no session: ${describeStatus(sent.status)}`,
    true,
  );
}

/** Logs a session off; never throws. Sent without the caller's signal: an aborted write still logs off. */
async function logoff(ctx: DialectContext, slot: SessionSlot, sid: string): Promise<void> {
  try {
    await send(ctx, "logoff", { parameter: sid, signal: undefined });
    // an E here means the session is already gone (expired, rebooted): nothing left to close
    slot.stale = null;
  } catch {
    slot.stale = sid;
  }
}

/** Runs `fn` inside one session, after any earlier write to this miner has finished; always logs off. */
export function withSession<T>(ctx: DialectContext, fn: (sid: string) => Promise<T>): Promise<T> {
  const slot = slotFor(ctx.endpoint);
  const run = slot.queue.then(async () => {
    const sid = await logon(ctx);
    let followUp: Promise<void> | undefined;
    try {
      const out = await fn(sid);
      // the command is answered: the caller may send the next one; the logoff is a follow-up
      // (the caller says when: in a fleet-wide shed, after the other commands are out)
      followUp = ctx.onSent?.() ?? undefined;
      return out;
    } finally {
      await followUp;
      await logoff(ctx, slot, sid);
    }
  });
  slot.queue = run.catch(() => {});
  return run;
}

/**
 * Every LuxOS write starts with `logon`: a miner that does not know it is not
 * LuxOS, one that denies it gives the gateway no privileged access. A session
 * someone else holds (402) proves LuxOS and is left alone: this probe must not
 * disturb another tool. Our own session is logged off at once.
 */
export function confirmCapabilities(ctx: DialectContext, declared: MinerCapability[]): Promise<Withdrawn[]> {
  // in the miner's write queue: our own write's session must not meet the probe's
  const slot = slotFor(ctx.endpoint);
  const run = slot.queue.then(() => probeLogon(ctx, slot, declared));
  slot.queue = run.catch(() => {});
  return run;
}

async function probeLogon(
  ctx: DialectContext,
  slot: SessionSlot,
  declared: MinerCapability[],
): Promise<Withdrawn[]> {
  const sent = await send(ctx, "logon", { signal: ctx.signal });
  const sid = failed(sent.status) ? null : sessionIdOf(sent.reply);
  if (sid) {
    await logoff(ctx, slot, sid);
    return [];
  }
  const code = sent.status?.code;
  if (code === LUXOS_SESSION_BUSY) return [];
  const reason =
    code === 45
      ? `LuxOS logon denied (${describeStatus(sent.status)}): the gateway has no privileged access`
      : `no LuxOS session: logon answered ${describeStatus(sent.status)} (not LuxOS firmware?)`;
  return declared.map((capability) => ({ capability, reason }));
}

/** Waits for queued writes, retries a logoff that could not be delivered, and forgets the miner's slot. */
export async function closeSessions(ctx: DialectContext): Promise<void> {
  const key = `${ctx.endpoint.host}:${ctx.endpoint.port}`;
  const slot = slots.get(key);
  if (!slot) return;
  const queued = slot.queue;
  await queued;
  if (slot.stale) await logoff(ctx, slot, slot.stale);
  // a write queued meanwhile keeps the slot (and its serialisation)
  if (!slot.stale && slot.queue === queued) slots.delete(key);
}
