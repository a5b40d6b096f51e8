/**
 * The hit counter's limits against a real 3x1 redis-server cluster (loopback block 140 or 141):
 * each test sets one limit low and shows what the server does at it (a connection closed at accept,
 * a 408, a 503 at once, a closed connection), never how long anything took. The memory these limits
 * buy is measured by `npm run bench:app-limits`.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { setTimeout as sleep } from "timers/promises";
import { ServerConfig, serverConfig } from "../../app/config";
import { RunningServer, startServer } from "../../app/server";
import { pickFreeBlock } from "../../lib/hitLoad";
import { LocalCluster, startLocalCluster, stopLocalCluster } from "../../local/cluster";

interface Answer {
    readonly status: number;
    readonly headers: http.IncomingHttpHeaders;
    readonly body: string;
}

function get(url: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
        http.get(url, { agent: false }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        }).on("error", reject);
    });
}

/** A raw connection: what it received until the server closed it. */
interface RawConnection {
    readonly socket: net.Socket;
    readonly received: () => string;
    readonly closed: Promise<string>;
}

function connect(port: number, payload = ""): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
        let data = "";
        const socket = net.connect(port, "127.0.0.1", () => {
            if (payload) socket.write(payload);
            resolve({ socket, received: () => data, closed });
        });
        const closed = new Promise<string>((done) => socket.once("close", () => done(data)));
        socket.setEncoding("latin1");
        socket.on("data", (c: string) => (data += c));
        socket.on("error", () => undefined); // a reset is one way of being closed
        socket.once("error", reject);
    });
}

/** Status lines of the HTTP responses in a raw byte stream, in order. */
function statuses(raw: string): number[] {
    return [...raw.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
}

const PARTIAL_HEAD = "GET / HTTP/1.1\r\nHost: hit-counter\r\n";
const REQUEST = (path: string) => `GET ${path} HTTP/1.1\r\nHost: hit-counter\r\n\r\n`;

async function metricValue(s: RunningServer, name: string): Promise<number> {
    const page = (await get(`${s.metricsUrl}/metrics`)).body;
    return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(page)?.[1] ?? "0");
}

async function until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
        if (Date.now() > deadline) throw new Error(`never: ${what}`);
        await sleep(20);
    }
}

describe("hit-counter limits (app/server.ts, app/hits.ts) against real redis-server", function () {
    this.timeout(60_000);
    let dir: string;
    let cluster: LocalCluster;
    const servers: RunningServer[] = [];
    const sockets: net.Socket[] = [];
    let stopped: number[] = [];

    const start = async (over: Partial<ServerConfig>) => {
        const config = serverConfig({
            redisNodes: cluster.seeds.map((s) => ({ host: s.split(":")[0], port: Number(s.split(":")[1]) })),
            redisPassword: cluster.password,
            host: "127.0.0.1",
            port: 0,
            metricsPort: 0,
            ...over,
        });
        const s = await startServer(config, { defaultMetrics: false, log: () => undefined });
        servers.push(s);
        await until("the server is ready", async () => (await get(`${s.url}/readyz`)).status === 200);
        return s;
    };
    const open = async (port: number, payload?: string) => {
        const c = await connect(port, payload);
        sockets.push(c.socket);
        return c;
    };
    /** SIGSTOP every master: a stalled VM. With every master stopped no replica can win an election. */
    const stallMasters = () => {
        const masters = new Set(cluster.shards.map((s) => s.master.address));
        stopped = cluster.nodes.filter((n) => masters.has(n.address)).map((n) => n.pid);
        for (const pid of stopped) process.kill(pid, "SIGSTOP");
    };
    const resumeMasters = () => {
        for (const pid of stopped) process.kill(pid, "SIGCONT");
        stopped = [];
    };

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hitcounter-limits-"));
        cluster = await startLocalCluster({
            masters: 3,
            replicasPerMaster: 1,
            dir,
            block: await pickFreeBlock([140, 141]),
            // Long, so that the stalls below never turn into failovers.
            nodeTimeoutMs: 15_000,
        });
    });
    afterEach(async () => {
        resumeMasters();
        for (const socket of sockets.splice(0)) socket.destroy();
        for (const s of servers.splice(0)) await s.close();
    });
    after(async () => {
        await stopLocalCluster(dir);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("MAX_CONNECTIONS: one connection more is closed as soon as accepted, unanswered; a freed slot serves again", async () => {
        const s = await start({ maxConnections: 20 });
        const held = [];
        for (let i = 0; i < 20; i++) held.push(await open(s.port, PARTIAL_HEAD));
        await until("20 connections open", async () => (await metricValue(s, "hitcounter_http_open_connections")) === 20);
        const refused = await open(s.port, REQUEST("/"));
        assert.strictEqual(await refused.closed, "", "the 21st connection must be closed without an answer");
        assert.strictEqual(await metricValue(s, "hitcounter_http_connections_refused_total"), 1);
        held[0].socket.destroy();
        await until("a freed slot serves a hit", async () => (await get(`${s.url}/`).catch(() => ({ status: 0 }))).status === 200);
    });

    it("HEADERS_TIMEOUT_MS: a client that never finishes its headers, even one sending a byte at a time, gets 408 and is closed", async () => {
        const s = await start({ headersTimeoutMs: 1000, requestReceiveTimeoutMs: 1000 });
        const silent = await open(s.port);
        const partial = await open(s.port, PARTIAL_HEAD);
        const dripping = await open(s.port, PARTIAL_HEAD);
        const drip = setInterval(() => dripping.socket.write("X-Slow: 1\r\n"), 200);
        try {
            for (const c of [silent, partial, dripping]) assert.match(await c.closed, /^HTTP\/1\.1 408 Request Timeout\r\n/);
        } finally {
            clearInterval(drip);
        }
    });

    it("KEEP_ALIVE_TIMEOUT_MS: the server announces it and closes an idle keep-alive connection", async () => {
        const s = await start({ keepAliveTimeoutMs: 1000 });
        const c = await open(s.port, REQUEST("/readyz"));
        const raw = await c.closed;
        assert.deepStrictEqual(statuses(raw), [200]);
        assert.match(raw, /\r\nKeep-Alive: timeout=1[,\r]/);
    });

    it("MAX_REQUESTS_PER_SOCKET: the last allowed request gets Connection: close and the connection ends after it; later pipelined ones are dropped", async () => {
        const s = await start({ maxRequestsPerSocket: 3 });
        const readyAnswers = () => metricValue(s, 'hitcounter_http_requests_total\\{route="/readyz",code="200"\\}');
        const before = await readyAnswers();
        const c = await open(s.port, REQUEST("/readyz").repeat(6));
        const raw = await c.closed;
        assert.deepStrictEqual(statuses(raw), [200, 200, 200]);
        const third = raw.split(/(?=^HTTP\/1\.1 )/m)[2];
        assert.match(third, /\r\nConnection: close\r\n/i);
        assert.strictEqual((await readyAnswers()) - before, 3, "requests that reached the app");
        assert.strictEqual(await metricValue(s, "hitcounter_http_requests_refused_total"), 3);
    });

    it("MAX_PIPELINED_REQUESTS: with Redis stalled, a connection with one unanswered request too many is closed, and the rest of its read is dropped", async () => {
        const s = await start({ maxPipelinedRequests: 4, requestTimeoutMs: 30_000 });
        stallMasters();
        const c = await open(s.port, REQUEST("/").repeat(2000));
        assert.strictEqual(await c.closed, "", "closed without an answer");
        assert.strictEqual(s.pendingHits(), 4, "only the hits within the limit wait for Redis");
        assert.strictEqual(await metricValue(s, "hitcounter_http_pipelining_closed_total"), 1);
        resumeMasters();
        const after = await get(`${s.url}/`);
        assert.strictEqual(after.status, 200, "other clients are served");
    });

    it("MAX_PENDING_HITS: with Redis stalled, one hit more is refused at once while the queued ones still wait; they are acknowledged when Redis returns", async () => {
        const s = await start({ maxPendingHits: 20, requestTimeoutMs: 30_000 });
        stallMasters();
        const queued = Array.from({ length: 20 }, () => get(`${s.url}/`));
        await until("20 hits pending", () => s.pendingHits() === 20);
        const overflow = await get(`${s.url}/`);
        // Ordering, not timing: the refusal came while every queued hit was still unanswered.
        assert.strictEqual(s.pendingHits(), 20);
        assert.deepStrictEqual(
            [overflow.status, overflow.headers["retry-after"], overflow.body],
            [503, "1", "Hit not recorded. Please retry.\n"],
        );
        assert.match((await get(`${s.metricsUrl}/metrics`)).body, /hitcounter_errors_total\{reason="overloaded"\} 1\n/);
        resumeMasters();
        const answers = await Promise.all(queued);
        assert.deepStrictEqual(
            answers.map((a) => a.status),
            Array(20).fill(200),
        );
        const counts = answers.map((a) => Number(/hit (\d+) times/.exec(a.body)?.[1])).sort((a, b) => a - b);
        assert.strictEqual(new Set(counts).size, 20, "each acknowledged hit has its own number");
        assert.strictEqual(counts[19] - counts[0], 19);
    });

    it("REQUEST_TIMEOUT_MS counts from a hit's arrival: a hit queued behind two stalled round trips is not sent with a fresh timeout", async () => {
        const timeoutMs = 2000;
        const s = await start({ requestTimeoutMs: timeoutMs });
        stallMasters();
        const t0 = Date.now();
        const first = get(`${s.url}/`);
        await until("the first round trip is out", () => s.pendingHits() === 1);
        const second = get(`${s.url}/`);
        await until("the second round trip is out", () => s.pendingHits() === 2);
        const queued = get(`${s.url}/`);
        await until("a hit is queued behind both", () => s.pendingHits() === 3);
        // Redis comes back at 1.5 x the timeout: after the queued hit's own deadline, before the 2 x
        // that a timeout restarted at its send (when the first round trip gave up) would allow it.
        await sleep(t0 + 1.5 * timeoutMs - Date.now());
        resumeMasters();
        const answers = await Promise.all([first, second, queued]);
        assert.deepStrictEqual(
            answers.map((a) => a.status),
            [503, 503, 503],
        );
        assert.match((await get(`${s.metricsUrl}/metrics`)).body, /hitcounter_errors_total\{reason="timeout"\} 3\n/);
    });

    it("a pipelined flood with Redis stalled: the queue stays at MAX_PENDING_HITS, the rest is refused at once, and the connection ends after MAX_REQUESTS_PER_SOCKET answers", async () => {
        const s = await start({ maxPendingHits: 50, maxRequestsPerSocket: 600, maxPipelinedRequests: 1000, requestTimeoutMs: 30_000 });
        stallMasters();
        const flood = await open(s.port, REQUEST("/").repeat(900));
        await until("the queue is full", () => s.pendingHits() === 50);
        // Hits 51 to 600 are refused at once (their 503s wait behind the first 50 answers on this
        // connection); requests 601 to 900 are past the connection's limit and dropped.
        await until("the rest is refused", async () => (await metricValue(s, 'hitcounter_errors_total\\{reason="overloaded"\\}')) === 550);
        assert.strictEqual(s.pendingHits(), 50);
        assert.strictEqual(await metricValue(s, "hitcounter_http_requests_refused_total"), 300);
        resumeMasters();
        const raw = await flood.closed;
        const codes = statuses(raw);
        assert.deepStrictEqual(codes, [...Array(50).fill(200), ...Array(550).fill(503)]);
        assert.match(raw.split(/(?=^HTTP\/1\.1 )/m)[599], /\r\nConnection: close\r\n/i, "the 600th answer closes the connection");
    });
});
