// One tick's fan-out of commands, commands first. An action holds a place to
// send until its command is on the wire; what follows the command (the
// read-back that confirms it, a LuxOS session's logoff) waits until no command
// of the tick is waiting for a place, then takes a place of its own. In a
// fleet-wide shed every sleep goes out before the follow-ups' connections
// compete with them: at 20,000 simulated LuxOS miners the last sleep landed
// after 7–8 s this way, against 14 s with the follow-ups interleaved (both
// after the ledger and event commits were batched).
// Three bounds: commands on the wire, follow-ups on the wire, and actions
// begun and not ended (each holds its async frames until confirmed).
import { Slots } from "./slots.ts";

export interface FanOutOptions {
  /** Commands on the wire at once; follow-ups on the wire at once. */
  concurrency: number;
  /** Actions between their start and their end at once. */
  openMax: number;
  /** The longest a sent action waits for the tick's other commands: a hung send must not hold every confirmation. */
  holdMaxMs: number;
}

export class FanOut {
  readonly sending: Slots;
  readonly following: Slots;
  readonly open: Slots;

  constructor(readonly o: FanOutOptions) {
    this.sending = new Slots(o.concurrency);
    this.following = new Slots(o.concurrency);
    this.open = new Slots(Math.max(o.concurrency, o.openMax));
  }

  /** Waits for a place among the open actions, then for a place to send. */
  async start(): Promise<ActionTurn> {
    await this.open.acquire();
    await this.sending.acquire();
    return new ActionTurn(this);
  }
}

type Phase = "sending" | "waiting" | "following" | "ended";

/** One action's places in the fan-out, from start to end(). */
export class ActionTurn {
  private phase: Phase = "sending";
  private followUp: Promise<void> | null = null;

  constructor(private readonly f: FanOut) {}

  /**
   * The command is on the wire: frees the place to send. Resolves once this
   * action may follow up: no command of the tick waits for a place (or
   * holdMaxMs passed) and a follow-up place is free. Every call after the
   * first returns the same promise.
   */
  sent(): Promise<void> {
    if (this.followUp) return this.followUp;
    // the action ended first (its deadline passed) and its command went out after all: its
    // places are back already, and what follows it needs none
    if (this.phase === "ended") {
      this.followUp = Promise.resolve();
      return this.followUp;
    }
    this.phase = "waiting";
    this.f.sending.release();
    this.followUp = this.f.sending
      .idle(this.f.o.holdMaxMs)
      .then(() => (this.phase === "ended" ? undefined : this.f.following.acquire()))
      .then(() => {
        // ended while it waited for the place: give it back at once
        if (this.phase === "ended") this.f.following.release();
        else this.phase = "following";
      });
    return this.followUp;
  }

  /** The action is over (confirmed, failed or never sent): every place it holds goes back. */
  end(): void {
    if (this.phase === "ended") return;
    if (this.phase === "sending") this.f.sending.release();
    else if (this.phase === "following") this.f.following.release();
    // "waiting": its follow-up promise sees the end and takes no place
    this.phase = "ended";
    this.f.open.release();
  }
}
