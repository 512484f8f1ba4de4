// `wattkeeper send`: signs one command with a private key, publishes it on
// the site's request topic, waits for the response and prints it. Exit 0 ok,
// 1 rejected or failed, 3 no response (or no broker) within --timeout.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { connect, type IClientOptions } from "mqtt";
import { loadConfigOrReport } from "../../config/load.ts";
import { withCredentials } from "../mqtt/link.ts";
import { buildEnvelope, parsePrivateKey } from "../mqtt/signing.ts";
import { Topics } from "../mqtt/topics.ts";
import { BROKER_FLAGS, mqttVersionFlag, readFlagFile } from "./broker-args.ts";
import { commandArgs, type Out, UsageError } from "./usage.ts";

export interface SendOptions {
  url: string;
  protocolVersion: 4 | 5;
  ca?: string | null;
  cert?: string | null;
  key?: string | null;
  username?: string | null;
  password?: string | null;
  topicRoot: string;
  siteId: string;
  privateKeyPem: string;
  keyName: string;
  name: string;
  body: unknown;
  timeoutMs: number;
}

export type SendResult =
  | { code: 0 | 1; response: { id: string; name: string; ok: boolean; error?: string; appliedAt?: string } }
  | { code: 3; error: string };

/** Signs, publishes, waits for the matching response (the site's response topic, or the MQTT 5 one). */
export async function sendSigned(o: SendOptions): Promise<SendResult> {
  const topics = new Topics(o.topicRoot, o.siteId);
  const env = buildEnvelope(parsePrivateKey(o.privateKeyPem), {
    siteId: o.siteId,
    name: o.name,
    keyName: o.keyName,
    body: o.body,
  });
  const mine = `${topics.response(o.name)}/${env.id}`;
  const opts: IClientOptions = {
    protocolVersion: o.protocolVersion,
    clientId: `wattkeeper-send-${randomUUID().slice(0, 8)}`,
    reconnectPeriod: 0,
    connectTimeout: o.timeoutMs,
    clean: true,
  };
  withCredentials(opts, o);
  const client = connect(o.url, opts);
  try {
    return await new Promise<SendResult>((resolve) => {
      const timer = setTimeout(
        () => resolve({ code: 3, error: `no response within ${o.timeoutMs / 1000} s` }),
        o.timeoutMs,
      );
      const finish = (r: SendResult) => {
        clearTimeout(timer);
        resolve(r);
      };
      client.on("error", (err) => {
        if (!client.connected) finish({ code: 3, error: `broker ${o.url}: ${err.message}` });
      });
      client.on("message", (_topic, payload) => {
        let r: unknown;
        try {
          r = JSON.parse(payload.toString("utf8"));
        } catch {
          return;
        }
        const resp = r as { id?: unknown; ok?: unknown };
        if (resp.id !== env.id || typeof resp.ok !== "boolean") return;
        finish({ code: resp.ok ? 0 : 1, response: r as Extract<SendResult, { code: 0 | 1 }>["response"] });
      });
      client.once("connect", async () => {
        try {
          const subs = o.protocolVersion === 5 ? [topics.response(o.name), mine] : [topics.response(o.name)];
          await client.subscribeAsync(subs, { qos: 1 });
          await client.publishAsync(topics.request(o.name), JSON.stringify(env), {
            qos: 1,
            ...(o.protocolVersion === 5
              ? { properties: { responseTopic: mine, correlationData: Buffer.from(env.id) } }
              : {}),
          });
        } catch (err) {
          finish({ code: 3, error: `publish failed: ${(err as Error).message}` });
        }
      });
    });
  } finally {
    client.end(true);
  }
}

export async function sendCommand(
  argv: string[],
  out: Out = process.stdout,
  err: { write(s: string): unknown } = process.stderr,
): Promise<number> {
  const { values, positionals } = commandArgs(argv, {
    config: { type: "string", short: "c" },
    broker: { type: "string" },
    ...BROKER_FLAGS,
    site: { type: "string" },
    key: { type: "string" },
    "key-name": { type: "string" },
    timeout: { type: "string", default: "10" },
  });
  const [name, bodyText, ...extra] = positionals;
  if (!name)
    throw new UsageError(
      "send needs a command NAME (budget/set, budget/clear, mode/set, device/action, ping)",
    );
  if (extra.length > 0) throw new UsageError(`send takes NAME [BODY-JSON] (got '${extra[0]}' too)`);
  if (!values.key) throw new UsageError("send needs --key FILE (the private key, PEM)");
  if (!values.config === !values.broker)
    throw new UsageError("send needs --config FILE or --broker URL (one of them)");
  let body: unknown = {};
  if (bodyText !== undefined) {
    try {
      body = JSON.parse(bodyText);
    } catch {
      throw new UsageError(`BODY-JSON is not JSON: ${bodyText}`);
    }
  }
  const timeoutS = Number(values.timeout);
  if (!(timeoutS > 0)) throw new UsageError(`--timeout expects seconds > 0, got '${values.timeout}'`);
  const version = mqttVersionFlag(values["mqtt-version"]);
  let privateKeyPem: string;
  try {
    privateKeyPem = readFileSync(values.key, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read --key ${values.key}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const keyName = values["key-name"] ?? basename(values.key).replace(/\.key\.pem$/, "");

  let link: Omit<SendOptions, "siteId" | "privateKeyPem" | "keyName" | "name" | "body" | "timeoutMs">;
  let siteId = values.site;
  if (values.config) {
    const loaded = await loadConfigOrReport(values.config, { strictFiles: true, err });
    if (!loaded) return 2;
    const { config } = loaded;
    if (!config.mqtt) throw new UsageError(`${values.config} has no mqtt section`);
    const m = config.mqtt;
    link = {
      url: m.url,
      protocolVersion: version ?? m.protocolVersion,
      ca: m.ca,
      cert: m.cert,
      key: m.key,
      username: values.username ?? m.username,
      password: m.password,
      topicRoot: values["topic-root"] ?? m.topicRoot,
    };
    siteId ??= config.site.id;
  } else {
    link = {
      url: values.broker as string,
      protocolVersion: version ?? 5,
      ca: readFlagFile(values.ca, "--ca"),
      username: values.username ?? null,
      password: readFlagFile(values["password-file"], "--password-file"),
      topicRoot: values["topic-root"] ?? "wattkeeper/v1",
    };
  }
  if (!siteId) throw new UsageError("send needs --site ID");
  const r = await sendSigned({
    ...link,
    siteId,
    privateKeyPem,
    keyName,
    name,
    body,
    timeoutMs: timeoutS * 1000,
  });
  if (r.code === 3) {
    err.write(`wattkeeper send: ${r.error}\n`);
    return 3;
  }
  out.write(`${JSON.stringify(r.response)}\n`);
  return r.code;
}
