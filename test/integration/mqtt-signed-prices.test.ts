// economics.signedPrices through a broker: plain price messages are refused
// and alarmed, a message signed with `wattkeeper sign-price` by a command key
// is taken, one signed for another topic or by a key the site does not hold
// is refused; the price in force stays through every refusal.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, type MqttClient } from "mqtt";
import { signPriceCommand } from "../../agent/cli/sign-price.ts";
import { generateKeyPair } from "../../agent/mqtt/signing.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { pricesRefused } from "../../agent/runtime/metrics.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../sim/mqtt/broker.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const TOPIC = "prices/signed/energy";
let broker: EmbeddedBroker;
let site: Site;
let pub: MqttClient;
let dir: string;
const events: SiteEvent[] = [];

before(async () => {
  broker = await startEmbeddedBroker({ port: await testPort() });
  dir = mkdtempSync(join(tmpdir(), "wk-signed-prices-"));
  const ops = generateKeyPair();
  writeFileSync(join(dir, "ops.pub.pem"), ops.publicKeyPem);
  writeFileSync(join(dir, "ops.key.pem"), ops.privateKeyPem);
  writeFileSync(join(dir, "rogue.key.pem"), generateKeyPair().privateKeyPem);
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: sp, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
mqtt:
  url: ${broker.url}
  protocolVersion: 4
  commandKeys: [{ name: ops, publicKeyFile: ./ops.pub.pem }]
control:
  tickS: 0.5
  economics: { hashpricePerThDay: 0.05, energyPriceTopic: ${TOPIC}, signedPrices: true }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  site = new Site(config, silentLogger(), { httpListen: null });
  site.onEvent((e) => events.push(e));
  await site.start();
  pub = connect(broker.url, { clientId: "price-publisher" });
  await new Promise<void>((r) => pub.once("connect", () => r()));
});

after(async () => {
  await site?.stop();
  await pub?.endAsync(true);
  await broker?.stop();
});

async function signed(value: string, o: { key?: string; topic?: string } = {}): Promise<string> {
  let text = "";
  const code = await signPriceCommand(
    ["--key", join(dir, o.key ?? "ops.key.pem"), "--key-name", "ops", "--topic", o.topic ?? TOPIC, value],
    { write: (s: string) => (text += s) },
  );
  assert.equal(code, 0);
  return text.trim();
}

const refusals = (code: string) => events.filter((e) => e.kind === "price-refused" && e.data?.code === code);

/** Price messages refused for `reason` so far in this process (the metric counts every one; the alarm only the first). */
async function refusedTotal(reason: string): Promise<number> {
  const { values } = await pricesRefused.get();
  return values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}

test("a signed price is taken; plain, forged, foreign-key and other-topic messages are refused", async () => {
  // published until taken: the site subscribes once its link is up
  await waitFor(
    "a signed price taken",
    async () => {
      await pub.publishAsync(TOPIC, await signed("0.07"), { qos: 1, retain: true });
      return site.priceStatus().energyPricePerKwh.value === 0.07;
    },
    10_000,
    500,
  );
  assert.equal(site.priceStatus().energyPricePerKwh.state, "fresh");

  await pub.publishAsync(TOPIC, "0.5", { qos: 1, retain: true });
  await waitFor("plain value refused", () => refusals("unsigned").length === 1);

  await pub.publishAsync(TOPIC, await signed("0.5", { key: "rogue.key.pem" }), { qos: 1, retain: true });
  await waitFor("a key the site does not hold", () => refusals("bad-signature").length === 1);

  // a message signed for another topic, replayed here
  const countedBefore = await refusedTotal("bad-signature");
  await pub.publishAsync(TOPIC, await signed("0.5", { topic: "prices/other" }), { qos: 1, retain: true });
  await waitFor("the replay counted", async () => (await refusedTotal("bad-signature")) > countedBefore);
  // the same reason again is counted, not alarmed again
  assert.equal(refusals("bad-signature").length, 1);

  assert.equal(site.priceStatus().energyPricePerKwh.value, 0.07, "the price in force stays");

  await pub.publishAsync(TOPIC, await signed("null"), { qos: 1, retain: true });
  await waitFor("cleared by a signed null", () => site.priceStatus().energyPricePerKwh.state === "unknown");
});
