// ESP-Miner / AxeOS facts as data (Bitaxe and kin): which firmware version
// brought which write, and which board version is which device. Read from
// ESP-Miner's own sources (main/http_server/http_server.c, openapi.yaml,
// main/device_config.h at v2.14.0); docs/research.md lists them.
//
// - POST /api/system/restart: every release (answers JSON {"message"} from
//   v2.13, text/plain "System will restart shortly." before, nothing at all in
//   v2.0, which restarts before replying).
// - POST /api/system/pause and /resume: from v2.14.0 (its betas included; the
//   change is ESP-Miner PR #1608). Pause winds the ASIC down, cuts its core
//   voltage and holds it in reset, so the unit draws only the ESP32's and the
//   fan's few watts; `miningPaused` in /api/system/info reports it.
// - POST /api/system/identify: from v2.12.0; a toggle that makes the unit say
//   "Hi!" on its screen for 30 s (the firmware ends it), the reply stating which
//   way it went. It is the unit's locate; nothing else reads it back.
// - No watt target: PATCH /api/system sets frequency (MHz) and coreVoltage (mV),
//   whose draw per step depends on the chip and the unit. wattkeeper does not map
//   watts to them, so setPowerLimit is not declared (no power control).
// - The NerdQAxe firmware is a fork with its own version line (v1.x) and its own
//   API additions (`deviceModel` in the info); pause/resume there is not
//   established from the ESP-Miner sources, so it is not declared for it.
import type { MinerCapability } from "../../../types.ts";
import type { Withdrawn } from "../../driver.ts";

export interface AxeosVersion {
  major: number;
  minor: number;
  patch: number;
  /** The text as the firmware reported it ("v2.14.0b2", "v2.13.1-dirty"). */
  text: string;
}

/** "v2.14.0", "2.1.5d", "v2.14.0b1", "v2.4.0-14-gabc" → numbers; null when the text has none. */
export function parseAxeosVersion(text: string): AxeosVersion | null {
  const m = /^\s*v?(\d+)\.(\d+)(?:\.(\d+))?/i.exec(text);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text };
}

/** A release to compare against; no patch = .0. */
export interface AxeosRelease {
  major: number;
  minor: number;
  patch?: number;
}

/** Whether `v` is at least `since`. Pre-releases count as their release (2.14.0b1 ≥ 2.14.0). */
export function atLeast(v: AxeosVersion, { major, minor, patch = 0 }: AxeosRelease): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

export const PAUSE_SINCE = { major: 2, minor: 14, patch: 0 } as const;
export const PAUSE_SINCE_TEXT = "v2.14.0";
const IDENTIFY_SINCE = { major: 2, minor: 12, patch: 0 } as const;

/** A write of this dialect: the capability, the request that does it, and the release that brought it. */
export interface AxeosWrite {
  capability: MinerCapability;
  method: "POST";
  path: string;
  /** The first release with it; null = every release (v2.0 on). */
  since: { major: number; minor: number; patch: number } | null;
}

export const AXEOS_WRITES: readonly AxeosWrite[] = [
  { capability: "sleep", method: "POST", path: "/api/system/pause", since: PAUSE_SINCE },
  { capability: "wake", method: "POST", path: "/api/system/resume", since: PAUSE_SINCE },
  {
    capability: "reboot",
    method: "POST",
    path: "/api/system/restart",
    since: null,
  },
  { capability: "locate", method: "POST", path: "/api/system/identify", since: IDENTIFY_SINCE },
];

/** What the dialect can declare before it knows the firmware: every write of the newest release. */
export const DECLARED: readonly MinerCapability[] = AXEOS_WRITES.map((w) => w.capability);

/** Which firmware the info says a unit runs. */
export type AxeosFlavour = { kind: "esp-miner" } | { kind: "nerdqaxe"; deviceModel: string };

/**
 * The declared capabilities this firmware does not have, each with why. An
 * unreadable version withdraws what needs a version, rather than guessing.
 */
export function withdrawnFor(
  flavour: AxeosFlavour,
  versionText: string,
  declared: readonly MinerCapability[],
): Withdrawn[] {
  const out: Withdrawn[] = [];
  const v = parseAxeosVersion(versionText);
  for (const w of AXEOS_WRITES) {
    if (!declared.includes(w.capability) || w.since === null) continue;
    const since = `v${w.since.major}.${w.since.minor}.${w.since.patch}`;
    if (flavour.kind === "nerdqaxe") {
      out.push({
        capability: w.capability,
        reason: `NerdQAxe firmware ${versionText} (${flavour.deviceModel}): ${w.path} is an ESP-Miner ${since} endpoint, not established for this fork; no ${w.capability}`,
      });
      continue;
    }
    if (!v) {
      out.push({
        capability: w.capability,
        reason: `AxeOS version "${versionText}" has no version number; ${w.path} needs ESP-Miner ${since} or later`,
      });
      continue;
    }
    if (!atLeast(v, w.since)) {
      out.push({
        capability: w.capability,
        reason:
          w.capability === "locate"
            ? `AxeOS ${versionText} has no ${w.path} (identify came with ESP-Miner ${since}), so no locate`
            : `AxeOS ${versionText} has no ${w.path} (pause/resume came with ESP-Miner ${since}); frequency/voltage settings are no power control, so no ${w.capability}`,
      });
    }
  }
  return out;
}

/** Board version → device (ESP-Miner main/device_config.h, v2.14.0). */
const BOARD_FAMILIES: ReadonlyArray<[RegExp, string]> = [
  [/^10\d$/, "Bitaxe Max"],
  [/^20\d$/, "Bitaxe Ultra"],
  [/^30\d$/, "Bitaxe Hex"],
  [/^40\d$/, "Bitaxe Supra"],
  [/^60\d$/, "Bitaxe Gamma"],
  [/^650$/, "Bitaxe GammaDuo"],
  [/^70\d$/, "Bitaxe SupraHex"],
  [/^80\d$/, "Bitaxe GammaTurbo"],
];

/** A model name from what the info says: the fork's deviceModel, else the board's family, else the chip. */
export function modelName(asicModel: string, boardVersion: string | undefined, deviceModel?: string): string {
  const chip = asicModel.trim() || "unknown ASIC";
  if (deviceModel?.trim()) return `${deviceModel.trim()} (${chip})`;
  const board = boardVersion?.trim();
  if (board) {
    const family = BOARD_FAMILIES.find(([re]) => re.test(board))?.[1];
    return family ? `${family} ${board} (${chip})` : `ESP-Miner board ${board} (${chip})`;
  }
  return `ESP-Miner ${chip}`;
}
