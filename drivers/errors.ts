// Every reason code the drivers emit, listed once, each with what it means. A
// DriverError takes an ErrorCode, so a code that is not listed here (a typo) is
// a type error. Codes are stable: the agent, the page and alerts match on them.
// Retrying is the DriverError's `retryable`, not the code's.

/** The REST/HTTP firmwares' labels: their transport failures read WK_<LABEL>_<FAILURE> (http-client.ts). */
export type HttpLabel = "ANTMINER" | "VNISH" | "EPIC" | "AURADINE" | "PROTO" | "ESPMINER";

/** Transport failures every HTTP-speaking firmware reports the same way, under its label. */
const HTTP_FAILURES = {
  ABORTED: "the caller gave up (deadline or shutdown) before a reply",
  TIMEOUT: "no reply within the deadline",
  REFUSED: "connection refused (port closed); REST dialects also use it for a command the firmware refused",
  RESET: "connection reset by the peer",
  UNREACHABLE: "host or network unreachable",
  TLS: "the TLS handshake failed",
  IO: "another socket error",
  BAD_REPLY: "the reply is not what the API sends (not JSON, too large)",
} as const;
export type HttpFailure = keyof typeof HTTP_FAILURES;

const ERROR_CODES = {
  // any firmware
  WK_FIRMWARE_CHANGED: "a reply shaped otherwise than this firmware's API: the firmware changed",

  // CGMiner API (TCP 4028) and its framing
  WK_CGMINER_ABORTED: "the request was aborted",
  WK_CGMINER_TIMEOUT: "no connection or no complete reply within the deadline",
  WK_CGMINER_REFUSED: "connection refused: nothing listens on the API port",
  WK_CGMINER_RESET: "connection reset by the miner",
  WK_CGMINER_UNREACHABLE: "host or network unreachable",
  WK_CGMINER_IO: "another socket error",
  WK_CGMINER_EMPTY_REPLY: "the connection closed without a reply",
  WK_CGMINER_INVALID_REPLY: "a reply that cannot be read (too large, no STATUS, bad JSON)",
  WK_CGMINER_NOT_CGMINER_API: "the host answers, but not with the CGMiner API",
  WK_CGMINER_NOT_READY: "the miner's API is up but not ready yet",
  WK_CGMINER_ACCESS_DENIED: "a privileged command refused (Code 45: API access not allowed)",
  WK_CGMINER_ERROR_STATUS: "the miner answered with STATUS E or F",
  WK_CGMINER_UNSUPPORTED: "stock cgminer's API is read-only: the write is not possible",
  WK_CGMINER_INTERNAL: "an unexpected error inside the driver while reading",

  // stock Antminer web CGI (Digest auth)
  WK_ANTMINER_AUTH: "the web CGI refused the credentials, or asked for auth we cannot answer",
  WK_ANTMINER_AUTH_UNSUPPORTED: "the Digest challenge asks for something we do not implement (auth-int)",
  WK_ANTMINER_HTTP: "the web CGI answered an unexpected HTTP status",
  WK_ANTMINER_NO_CGI: "the web CGI is not there (HTTP 404): not stock firmware",
  WK_ANTMINER_NO_CREDENTIALS: "a write needs the web credentials and none are configured",
  WK_ANTMINER_REJECTED: "set_miner_conf answered with an error",
  WK_ANTMINER_MODE_IGNORED: "the work-mode write was acknowledged but the mode did not change",
  WK_ANTMINER_LOCATE_IGNORED: "the blink write was acknowledged but the LED state did not change",
  WK_ANTMINER_NO_POWER_STEPS: "the model's power steps are unknown: no limit can be mapped to a mode",
  WK_ANTMINER_TARGET_TOO_LOW: "no work mode at or below the asked power",
  WK_ANTMINER_ASLEEP: "the unit is asleep: a power step would wake it",
  WK_ANTMINER_BAD_VALUE: "a write with an invalid value (no positive wattage)",

  // LuxOS
  WK_LUXOS_NOT_READY: "the miner's API is up but not ready yet",
  WK_LUXOS_LOGON_FAILED: "logon gave no session id",
  WK_LUXOS_SESSION_BUSY: "another session is open and could not be adopted",
  WK_LUXOS_ACCESS_DENIED: "logon or a privileged command denied (Code 45)",
  WK_LUXOS_REFUSED: "a privileged command refused",
  WK_LUXOS_NO_PROFILES: "the miner lists no power profiles with watts",
  WK_LUXOS_TARGET_TOO_LOW: "no profile at or below the asked power",
  WK_LUXOS_NO_LED_STATE: "config has no RedLed: the LED state cannot be read back",
  WK_LUXOS_BAD_VALUE: "a write with an invalid value (no positive wattage)",

  // Braiins OS (gRPC)
  WK_BRAIINS_ABORTED: "the call was aborted",
  WK_BRAIINS_TIMEOUT: "no reply within the deadline",
  WK_BRAIINS_UNREACHABLE: "no connection to the gRPC port",
  WK_BRAIINS_HTTP_STATUS: "the port answered HTTP, not gRPC",
  WK_BRAIINS_PROTOCOL: "a reply without grpc-status",
  WK_BRAIINS_BAD_REPLY: "a reply that does not decode",
  WK_BRAIINS_NO_CREDENTIALS: "the gRPC API needs a username and password and none are configured",
  WK_BRAIINS_LOGIN_FAILED: "login refused: check the credentials",
  WK_BRAIINS_NO_TOKEN: "login succeeded but no token came back",
  WK_BRAIINS_UNAUTHENTICATED: "gRPC UNAUTHENTICATED",
  WK_BRAIINS_PERMISSION_DENIED: "gRPC PERMISSION_DENIED",
  WK_BRAIINS_INVALID_ARGUMENT: "gRPC INVALID_ARGUMENT, or a bad power target",
  WK_BRAIINS_UNIMPLEMENTED: "gRPC UNIMPLEMENTED or NOT_FOUND: this firmware lacks the call",
  WK_BRAIINS_FAILED_PRECONDITION: "gRPC FAILED_PRECONDITION",
  WK_BRAIINS_UNAVAILABLE: "gRPC UNAVAILABLE, CANCELLED or DEADLINE_EXCEEDED",
  WK_BRAIINS_GRPC_ERROR: "another gRPC status",
  WK_BRAIINS_ACCESS_DENIED: "a CGMiner-API command refused (Code 45)",
  WK_BRAIINS_REFUSED: "a CGMiner-API command answered with an error",
  WK_BRAIINS_UNSUPPORTED: "the dialect has no such write",

  // Whatsminer (API v2 and v3)
  WK_WHATSMINER_AUTH: "the encrypted reply did not decrypt: the password does not match",
  WK_WHATSMINER_DENIED: "a write refused (Code 45): API writes off or wrong password",
  WK_WHATSMINER_ERROR: "get_token or a write answered with an error",
  WK_WHATSMINER_NO_CREDENTIALS: "writes need the API password and none is configured",
  WK_WHATSMINER_NO_LED_STATE: "no LED state in the reply",
  WK_WHATSMINER_V2_OBSOLETE: "the firmware no longer speaks API v2: v3 is asked instead",

  // Avalon
  WK_AVALON_ACCESS_DENIED: "ascset refused (Code 45)",
  WK_AVALON_REFUSED: "ascset answered with an error",
  WK_AVALON_NO_NOMINAL: "no nameplate power: watts cannot be mapped to a work level",
  WK_AVALON_TARGET_TOO_LOW: "no work level at or below the asked power",
  WK_AVALON_NO_LED_STATE: "estats has no Led field: the LED state cannot be read back",
  WK_AVALON_BAD_VALUE: "a write with an invalid value (no positive wattage)",

  // ePIC UMC
  WK_EPIC_HTTP: "an unexpected HTTP status",
  WK_EPIC_AUTH: "the password was refused",
  WK_EPIC_NO_CREDENTIALS: "writes need the password and none is configured",
  WK_EPIC_BUSY: "the unit is busy with another request",
  WK_EPIC_NO_DATA: "a reply without the data asked for",
  WK_EPIC_UNSUPPORTED: "the unit's tuner lacks the power algorithm",
  WK_EPIC_OUT_OF_RANGE: "the power target is outside what the unit takes",
  WK_EPIC_NO_LED_STATE: "the summary has no locate state",
  WK_EPIC_BAD_VALUE: "a write with an invalid value (no positive wattage)",
  WK_EPIC_INTERNAL: "an unexpected error inside the driver while reading",

  // Proto (MDK API)
  WK_PROTO_NO_CREDENTIALS: "the MDK API needs the rig's password and none is configured",
  WK_PROTO_AUTH: "login refused by the rig",
  WK_PROTO_HTTP_STATUS: "an unexpected HTTP status",
  WK_PROTO_TARGET_OUT_OF_RANGE: "the power target is outside what the rig takes: not sent",
  WK_PROTO_BAD_VALUE: "a write with an invalid value (no positive wattage)",
  WK_PROTO_INTERNAL: "an unexpected error inside the driver while reading",

  // Auradine (FluxOS)
  WK_AURADINE_AUTH: "the web API refused the credentials",
  WK_AURADINE_HTTP: "an HTTP status without a FluxOS STATUS",
  WK_AURADINE_NO_RANGE: "the unit reports no power range",
  WK_AURADINE_OUT_OF_RANGE: "the power target is outside the unit's range",
  WK_AURADINE_BAD_VALUE: "a write with an invalid value (no positive wattage)",

  // ESP-Miner / AxeOS
  WK_ESPMINER_HTTP: "an unexpected HTTP status",
  WK_ESPMINER_FORBIDDEN: "the API refuses this client (AxeOS allows private networks only)",
  WK_ESPMINER_UNSUPPORTED: "this AxeOS lacks the write",
  WK_ESPMINER_INTERNAL: "an unexpected error inside the driver while reading",

  // VNish
  WK_VNISH_AUTH: "the password was refused",
  WK_VNISH_HTTP: "an HTTP error worth retrying",
  WK_VNISH_NO_PRESETS: "the unit lists no autotune presets with a wattage",
  WK_VNISH_TARGET_TOO_LOW: "no preset at or below the asked power",
  WK_VNISH_PRESET_IGNORED: "the settings write was acknowledged but the preset did not change",
  WK_VNISH_NO_LED_STATE: "the status has no find_miner: the LED state cannot be read back",
  WK_VNISH_BAD_VALUE: "a write with an invalid value (no positive wattage)",
  WK_VNISH_INTERNAL: "an unexpected error inside the driver while reading",

  // Modbus meters
  WK_MODBUS_TIMEOUT: "no reply before the timeout",
  WK_MODBUS_REFUSED: "connection refused: the port is not open",
  WK_MODBUS_CRC: "CRC error in a reply",
  WK_MODBUS_EXCEPTION: "the device answered a Modbus exception",
  WK_MODBUS_IO: "another transport error",
  WK_MODBUS_BACKOFF: "not reconnecting yet after transport errors (a continuation of the outage)",
  WK_MODBUS_CLOSED: "the connection was closed by us",
  WK_MODBUS_IMPLAUSIBLE: "a value outside the profile's plausible range",
  WK_MODBUS_NAN: "a register decoded to NaN",
  WK_MODBUS_FROZEN: "every register unchanged for too long: the meter is stuck",

  // GPU nodes (SSH, nvidia-smi)
  WK_SSH_CONFIG: "no private key or host-key pin configured, or its file unreadable",
  WK_SSH_CONNECT: "the SSH connection failed or was lost",
  WK_SSH_TIMEOUT: "connect or command past its deadline",
  WK_SSH_AUTH: "authentication refused for the user",
  WK_SSH_HOST_KEY: "the host key does not match the pin",
  WK_SSH_CHANNEL: "a channel could not be opened or failed",
  WK_SSH_CLOSED: "the link was closed by us",
  WK_GPU_ARG: "an nvidia-smi argument with unsafe characters: not sent",
} as const;

/** Every code a DriverError (or a reading's reason) carries. */
export type ErrorCode = keyof typeof ERROR_CODES | `WK_${HttpLabel}_${HttpFailure}`;

/** A reason line that starts with its code (`WK_MODBUS_FROZEN: …`), for readings that fail without throwing. */
export function codedReason(code: ErrorCode, text: string): string {
  return `${code}: ${text}`;
}
