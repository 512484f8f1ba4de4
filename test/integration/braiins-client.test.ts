// The Braiins gRPC client (drivers/cgminer/dialects/braiins/client.ts, on
// @grpc/grpc-js) against a bare HTTP/2 peer written here by hand (127.0.0.1,
// port 0): how each kind of answer below and above gRPC reaches the driver
// (error codes and `retryable`), the token paths, metadata and deadlines.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, beforeEach, describe, test } from "node:test";
import { BraiinsClient, clearBraiinsTokens } from "../../drivers/cgminer/dialects/braiins/client.ts";
import type { DriverError } from "../../drivers/types.ts";
import { waitFor } from "../helpers/ports.ts";

type Answer =
  | { kind: "ok"; body: string; headers?: Record<string, string> }
  | { kind: "status"; code: number; message: string }
  | { kind: "http"; status: number }
  | { kind: "no-status" }
  | { kind: "hang" };

const hexFrame = (hex: string) => {
  const payload = Buffer.from(hex.replace(/\s+/g, ""), "hex");
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
};

describe("Braiins gRPC client against a bare HTTP/2 peer", () => {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  const seen: Array<{ path: string; auth: string | undefined; timeout: string | undefined; body: string }> =
    [];
  /** What the peer answers, by path; Login defaults to a token in the reply. */
  let answers: Record<string, Answer> = {};
  let port = 0;
  const clients: BraiinsClient[] = [];
  const client = (timeoutMs = 2000) => {
    const c = new BraiinsClient({ host: "127.0.0.1", port, username: "root", password: "", timeoutMs });
    clients.push(c);
    return c;
  };
  const code = (expected: string, retryable: boolean, message?: RegExp) => (err: DriverError) => {
    assert.equal(err.code, expected, err.message);
    assert.equal(err.retryable, retryable);
    if (message) assert.match(err.message, message);
    return true;
  };

  before(async () => {
    server.on("session", (s) => {
      sessions.add(s);
      s.on("close", () => sessions.delete(s));
    });
    server.on("stream", (stream, headers) => {
      stream.on("error", () => {});
      const path = String(headers[":path"]);
      const auth = headers.authorization;
      const call = {
        path,
        auth: typeof auth === "string" ? auth : undefined,
        timeout: headers["grpc-timeout"] as string | undefined,
        body: "",
      };
      seen.push(call);
      stream.on("data", (c: Buffer) => {
        call.body += c.toString("hex");
      });
      stream.on("end", () => {
        const a: Answer =
          answers[path] ??
          (path.endsWith("/Login") ? { kind: "ok", body: "0a03 746f6b" } : { kind: "ok", body: "" });
        if (a.kind === "hang") return;
        if (a.kind === "http") {
          stream.respond({ ":status": a.status, "content-type": "text/plain" });
          stream.end("not grpc");
        } else if (a.kind === "no-status") {
          stream.respond({ ":status": 200, "content-type": "application/grpc" });
          stream.end(hexFrame(""));
        } else if (a.kind === "status") {
          stream.respond(
            {
              ":status": 200,
              "content-type": "application/grpc",
              "grpc-status": String(a.code),
              "grpc-message": encodeURIComponent(a.message),
            },
            { endStream: true },
          );
        } else {
          stream.respond(
            { ":status": 200, "content-type": "application/grpc", ...a.headers },
            { waitForTrailers: true },
          );
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(hexFrame(a.body));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  beforeEach(() => {
    clearBraiinsTokens();
    answers = {};
    seen.length = 0;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test("the token from LoginResponse.token rides as `authorization` metadata, with a grpc-timeout", async () => {
    answers["/braiins.bos.v1.ActionsService/GetLocateDeviceStatus"] = { kind: "ok", body: "0801" };
    assert.equal(await client().getLocate(), true);
    assert.deepEqual(
      seen.map((s) => [s.path, s.auth]),
      [
        ["/braiins.bos.v1.AuthenticationService/Login", undefined],
        ["/braiins.bos.v1.ActionsService/GetLocateDeviceStatus", "tok"],
      ],
    );
    assert.match(seen[1]!.timeout ?? "", /^\d+[mu]$/);
  });

  test("older firmware: the token only in the `authorization` response header", async () => {
    answers["/braiins.bos.v1.AuthenticationService/Login"] = {
      kind: "ok",
      body: "",
      headers: { authorization: "legacy" },
    };
    assert.equal(await client().getLocate(), false);
    assert.equal(seen[1]?.auth, "legacy");
  });

  test("a login that returns no token: WK_BRAIINS_NO_TOKEN", async () => {
    answers["/braiins.bos.v1.AuthenticationService/Login"] = { kind: "ok", body: "" };
    await assert.rejects(client().getLocate(), code("WK_BRAIINS_NO_TOKEN", false));
  });

  test("SetPowerTarget sends SAVE_AND_APPLY and the watts; returns the target the miner reports", async () => {
    answers["/braiins.bos.v1.PerformanceService/SetPowerTarget"] = { kind: "ok", body: "0a03 08c413" };
    assert.equal(await client().setPowerTarget(2000), 2500);
    // framed: flag 0, length 7; save_action 2, power_target { watt 2000 = d0 0f }
    assert.equal(seen[1]?.body, "0000000007" + "0802" + "1203" + "08d00f");
  });

  test("a status the server sends: UNAVAILABLE is retryable, UNIMPLEMENTED is not", async () => {
    answers["/braiins.bos.v1.PerformanceService/GetTunerState"] = {
      kind: "status",
      code: 14,
      message: "Miner is not running",
    };
    await assert.rejects(
      client().getTunerState(),
      code(
        "WK_BRAIINS_UNAVAILABLE",
        true,
        /^PerformanceService\/GetTunerState: grpc-status 14 UNAVAILABLE: Miner is not running$/,
      ),
    );
    answers["/braiins.bos.v1.PerformanceService/GetTunerState"] = { kind: "status", code: 12, message: "" };
    await assert.rejects(client().getTunerState(), code("WK_BRAIINS_UNIMPLEMENTED", false));
  });

  test("not a gRPC server (HTTP 415): WK_BRAIINS_HTTP_STATUS, not retried", async () => {
    answers["/braiins.bos.v1.AuthenticationService/Login"] = { kind: "http", status: 415 };
    await assert.rejects(
      client().getLocate(),
      code(
        "WK_BRAIINS_HTTP_STATUS",
        false,
        /Login to 127\.0\.0\.1:\d+: HTTP 415 \(is this the Braiins gRPC port\?\)/,
      ),
    );
  });

  test("a reply without grpc-status: WK_BRAIINS_PROTOCOL", async () => {
    answers["/braiins.bos.v1.AuthenticationService/Login"] = { kind: "no-status" };
    await assert.rejects(
      client().getLocate(),
      code("WK_BRAIINS_PROTOCOL", true, /reply without grpc-status/),
    );
  });

  test("an undecodable reply: WK_BRAIINS_BAD_REPLY", async () => {
    answers["/braiins.bos.v1.PerformanceService/GetTunerState"] = { kind: "ok", body: "0a05 6162" };
    await assert.rejects(
      client().getTunerState(),
      code("WK_BRAIINS_BAD_REPLY", false, /^PerformanceService\/GetTunerState: /),
    );
  });

  test("an aborted call: WK_BRAIINS_ABORTED, at once; before sending, nothing goes out", async () => {
    answers["/braiins.bos.v1.ActionsService/GetLocateDeviceStatus"] = { kind: "hang" };
    const c = client(5000);
    const ac = new AbortController();
    const pending = c.getLocate(ac.signal);
    await waitFor("the GetLocateDeviceStatus call", () => seen.length === 2);
    const t0 = Date.now();
    ac.abort();
    await assert.rejects(pending, code("WK_BRAIINS_ABORTED", false));
    assert.ok(Date.now() - t0 < 1000);
    const before = seen.length;
    await assert.rejects(c.getLocate(AbortSignal.abort()), code("WK_BRAIINS_ABORTED", false));
    assert.equal(seen.length, before);
  });

  test("close() closes the connection", async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await waitFor("the sessions to close", () => sessions.size === 0);
    assert.equal(sessions.size, 0);
  });
});
