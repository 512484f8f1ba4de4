// The simulated miners' locate LEDs: one board for the whole site, held by the
// power model (which every dialect's server already has), so a test sees a
// miner's LED whichever firmware blinked it. Each firmware's server encodes the
// state in its own words (LuxOS RedLed "blink", Auradine code 3, VNish
// find_miner…) and decides how its firmware ends a locate: never (until told),
// after the time asked (Proto led_on_time), or after a fixed time of its own
// (AxeOS identify: 30 s). Time comes from the model's clock, resolved when read:
// no timers, so a fake clock drives expiry too.

export interface LedState {
  on: boolean;
  /** When a locate that is on ends by itself (model clock, ms); null = on until told. */
  untilMs: number | null;
}

export class LocateLeds {
  private readonly leds = new Map<string, { untilMs: number | null }>();
  /** Every change, in order (tests: "it went on, then off"). */
  readonly history: Array<{ id: string; on: boolean; at: number }> = [];

  constructor(private readonly now: () => number) {}

  /** Locating for `forMs` (null = until told). */
  on(id: string, forMs: number | null = null): void {
    const at = this.now();
    this.leds.set(id, { untilMs: forMs === null ? null : at + forMs });
    this.history.push({ id, on: true, at });
  }

  off(id: string): void {
    if (!this.isOn(id)) return;
    this.leds.delete(id);
    this.history.push({ id, on: false, at: this.now() });
  }

  /** Whether the miner is locating now (an ended locate reads off, and is recorded as ended). */
  isOn(id: string): boolean {
    const led = this.leds.get(id);
    if (!led) return false;
    if (led.untilMs !== null && this.now() >= led.untilMs) {
      this.leds.delete(id);
      this.history.push({ id, on: false, at: led.untilMs });
      return false;
    }
    return true;
  }

  state(id: string): LedState {
    return this.isOn(id) ? { on: true, untilMs: this.leds.get(id)!.untilMs } : { on: false, untilMs: null };
  }

  /** A unit that restarts comes back with its LED under the firmware's control (off). */
  reset(id: string): void {
    this.off(id);
  }
}
