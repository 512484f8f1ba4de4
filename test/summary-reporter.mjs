// A node:test reporter that writes only the run's closing figures as JSON
// ({"tests":…, "pass":…, "fail":…, "duration_ms":…}): test/run.mjs runs it beside
// the spec reporter and keeps the result in .state/test-summary.json, from which
// scripts/readme-tests.mjs writes the README's line about the suite.
export default async function* summary(source) {
  const figures = {};
  for await (const event of source) {
    // the closing diagnostics ("tests 620", "duration_ms 12.3") come at nesting 0, after every file
    if (event.type !== "test:diagnostic" || event.data.nesting !== 0) continue;
    const m = /^([a-z_]+) (\d+(?:\.\d+)?)$/.exec(event.data.message);
    if (m) figures[m[1]] = Number(m[2]);
  }
  yield `${JSON.stringify(figures)}\n`;
}
