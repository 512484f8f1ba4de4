// Docker HEALTHCHECK: GET /healthz on the agent's own HTTP port (200 = healthy,
// 503 with a reason = the loop stalled). The slim Node image has no curl, so
// node itself asks. Port: $WATTKEEPER_HEALTH_PORT (default 8080, the port in
// the example configs); it must match http.listen in the mounted config.
const port = Number(process.env.WATTKEEPER_HEALTH_PORT ?? 8080);
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
  if (!res.ok) process.stderr.write(`unhealthy: ${res.status} ${await res.text()}\n`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`no answer on port ${port}: ${err.message}\n`);
  process.exit(1);
}
