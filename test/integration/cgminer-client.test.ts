// The CGMiner client against peers on loopback: a replay of recorded replies
// (sent in many small chunks), silent and refusing peers, and replies without
// a NUL byte (read to EOF).
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { CgminerClient } from "../../drivers/cgminer/client.ts";
import { exchange } from "../../drivers/cgminer/framing.ts";
import { recorded } from "../helpers/fixtures.ts";

type Handler = (request: string, socket: Socket) => void;

async function peer(handler: Handler): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buf = "";
    socket.on("data", (d) => {
      buf += d.toString();
      handler(buf, socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  // closing the peer also drops the connections it still holds, so the test process can exit
  const close = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  };
  return { server, port: (server.address() as { port: number }).port };
}

/** Writes `bytes` in chunks of `size` with a pause, like a slow miner. */
function dribble(socket: Socket, bytes: Buffer, size: number, then: "end" | "keep" = "end"): void {
  let i = 0;
  const next = () => {
    if (socket.destroyed) return;
    if (i >= bytes.length) {
      if (then === "end") socket.end();
      return;
    }
    socket.write(bytes.subarray(i, i + size));
    i += size;
    setTimeout(next, 1); // the peer's pace: each chunk in a packet of its own
  };
  next();
}

describe("CgminerClient against a replay of recorded replies", () => {
  let server: Server;
  let port: number;
  const requests: string[] = [];
  before(async () => {
    ({ server, port } = await peer((request, socket) => {
      requests.push(request);
      const cmd = (JSON.parse(request) as { command: string }).command;
      if (cmd === "summary") return dribble(socket, recorded("summary.json").reply, 37, "keep");
      if (cmd === "version+summary+pools+stats+devs") {
        // compose the multi reply as cgminer does: an array per command
        const part = (n: string) => recorded(`${n}.json`).reply.subarray(0, -1).toString();
        const body = `{"version":[${part("version")}],"summary":[${part("summary")}],"pools":[${part("pools")}],"stats":[${part("stats")}],"devs":[${part("devs")}],"id":1}\0`;
        return dribble(socket, Buffer.from(body), 100);
      }
      socket.end(recorded("nosuchcmd.json").reply);
    }));
  });
  after(() => server.close());

  test("sends one JSON request in one write and reads to the NUL across chunks", async () => {
    const reply = await exchange({ host: "127.0.0.1", port }, Buffer.from('{"command":"summary"}'), {
      readTimeoutMs: 2000,
    });
    assert.equal(reply.at(-1), "}".charCodeAt(0));
    assert.equal(reply.indexOf(0), -1);
    assert.equal(requests.at(-1), '{"command":"summary"}');
  });

  test("read() normalises the multi-command reply", async () => {
    const client = new CgminerClient({ host: "127.0.0.1", port });
    const r = await client.read();
    assert.equal(r.state, "hashing");
    assert.ok(r.hashrateThs! > 0);
    // "MHS 1s", bfgminer's short average at its log interval, at full precision
    assert.equal(r.hashrateThs, 2.439e-6);
    assert.equal(r.firmware, "bfgminer 5.5.0-unknown");
    assert.equal(r.reason, null);
    assert.equal(r.pools[0]?.status, "Alive");
    assert.deepEqual(r.repairs, []);
  });

  test("an error status is classified, not thrown out of read()", async () => {
    const client = new CgminerClient({ host: "127.0.0.1", port });
    await assert.rejects(client.command(["nosuchcmd"]), { code: "WK_CGMINER_ERROR_STATUS" });
  });
});

describe("failure classification", () => {
  test("connection refused → unreachable", async () => {
    const { server, port } = await peer(() => {});
    await new Promise<void>((r) => server.close(() => r()));
    const r = await new CgminerClient({ host: "127.0.0.1", port }).read();
    assert.equal(r.state, "unreachable");
    assert.match(r.reason!, /WK_CGMINER_REFUSED/);
  });

  test("a peer that never answers → timeout within the read deadline", async () => {
    const { server, port } = await peer(() => {});
    const started = Date.now();
    const r = await new CgminerClient({ host: "127.0.0.1", port }, { readTimeoutMs: 200 }).read();
    assert.equal(r.state, "unreachable");
    assert.match(r.reason!, /WK_CGMINER_TIMEOUT/);
    assert.ok(Date.now() - started < 2000);
    server.close();
  });

  test("closed with no reply → unreachable (empty reply)", async () => {
    const { server, port } = await peer((_req, socket) => socket.end());
    const r = await new CgminerClient({ host: "127.0.0.1", port }).read();
    assert.match(r.reason!, /WK_CGMINER_EMPTY_REPLY/);
    server.close();
  });

  test("access denied (Code 45) → faulted with the reason", async () => {
    const { server, port } = await peer((_req, socket) =>
      socket.end(
        '{"STATUS":[{"STATUS":"E","When":1,"Code":45,"Msg":"Access denied to \'summary\' command","Description":"cgminer 4.11.1"}],"id":1}\0',
      ),
    );
    const r = await new CgminerClient({ host: "127.0.0.1", port }).read();
    assert.equal(r.state, "faulted");
    assert.match(r.reason!, /Code 45/);
    server.close();
  });

  test("garbage reply → faulted, invalid reply", async () => {
    const { server, port } = await peer((_req, socket) => socket.end("{not json at all\0"));
    const r = await new CgminerClient({ host: "127.0.0.1", port }).read();
    assert.equal(r.state, "faulted");
    assert.match(r.reason!, /WK_CGMINER_INVALID_REPLY/);
    server.close();
  });

  test("a restarting miner's text answer → starting", async () => {
    const { server, port } = await peer((_req, socket) =>
      socket.end("Socket connect failed: Connection refused\n"),
    );
    const r = await new CgminerClient({ host: "127.0.0.1", port }).read();
    assert.equal(r.state, "starting");
    server.close();
  });

  test("a reply without NUL is read to EOF", async () => {
    const body = recorded("summary.json").reply.subarray(0, -1);
    const { server, port } = await peer((_req, socket) => socket.end(body));
    const reply = await exchange({ host: "127.0.0.1", port }, Buffer.from('{"command":"summary"}'));
    assert.deepEqual(reply, body);
    server.close();
  });

  test("an aborted signal ends the request at once", async () => {
    const { server, port } = await peer(() => {});
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50); // the stimulus: an abort while the peer stays silent
    await assert.rejects(exchange({ host: "127.0.0.1", port }, Buffer.from("{}"), { signal: ac.signal }), {
      code: "WK_CGMINER_ABORTED",
    });
    server.close();
  });
});

describe("firmware that refuses devs in a joined request", () => {
  test("is read without it (one refused request, then the plain join), and remembered", async () => {
    const asked: string[] = [];
    const part = (n: string) => recorded(`${n}.json`).reply.subarray(0, -1).toString();
    const { server, port } = await peer((request, socket) => {
      const cmd = (JSON.parse(request) as { command: string }).command;
      asked.push(cmd);
      if (cmd.includes("devs")) {
        socket.end('{"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command"}],"id":1}\0');
        return;
      }
      socket.end(
        `{"version":[${part("version")}],"summary":[${part("summary")}],"pools":[${part("pools")}],"stats":[${part("stats")}],"id":1}\0`,
      );
    });
    try {
      const client = new CgminerClient({ host: "127.0.0.1", port });
      const r = await client.read();
      assert.equal(r.state, "hashing", r.reason ?? "");
      assert.deepEqual(asked, ["version+summary+pools+stats+devs", "version+summary+pools+stats"]);
      await client.read();
      assert.equal(asked.length, 3, "not asked with devs again at once");
    } finally {
      server.close();
    }
  });
});
