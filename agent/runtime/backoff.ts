// The retry delay the drivers use (drivers/backoff.ts), for the agent's own
// links: one formula everywhere, and channels (agent/mqtt, agent/http) keep
// importing nothing from drivers/ themselves.
export { backoffDelayMs } from "../../drivers/backoff.ts";
