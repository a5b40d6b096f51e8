/**
 * The hit counter's HTTP contract against a real 3x1 redis-server cluster.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import Redis from "ioredis";
import { ServerConfig, serverConfig } from "../../app/config";
import { HITS_KEY } from "../../app/hits";
import { RunningServer, startServer } from "../../app/server";
import { pickFreeBlock } from "../../lib/hitLoad";
import { LocalCluster, startLocalCluster, stopLocalCluster } from "../../local/cluster";
import { LocalRedisNode } from "../../local/redisNode";

interface Answer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

function request(url: string, init: { method?: string; accept?: string } = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
        const req = http.request(
            url,
            { method: init.method ?? "GET", headers: init.accept ? { accept: init.accept } : {}, agent: false },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c: string) => (body += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
            },
        );
        req.on("error", reject);
        req.end();
    });
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (ok(v) || Date.now() > deadline) return v;
        await new Promise((r) => setTimeout(r, 100));
    }
}

describe("hit-counter server (app/server.ts) against real redis-server", function () {
    this.timeout(60_000);
    let dir: string;
    let cluster: LocalCluster;
    const servers: RunningServer[] = [];

    const configFor = (over: Partial<ServerConfig> = {}): ServerConfig =>
        serverConfig({
            redisNodes: cluster.seeds.slice(0, 2).map((s) => ({ host: s.split(":")[0], port: Number(s.split(":")[1]) })),
            redisPassword: cluster.password,
            host: "127.0.0.1",
            port: 0,
            metricsPort: 0,
            ...over,
        });
    const logs: string[] = [];
    const start = async (over: Partial<ServerConfig> = {}) => {
        const s = await startServer(configFor(over), { defaultMetrics: false, log: (line) => logs.push(line) });
        servers.push(s);
        await eventually(
            () => request(`${s.url}/readyz`),
            (a) => a.status === 200,
        );
        return s;
    };

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hitcounter-server-"));
        cluster = await startLocalCluster({
            masters: 3,
            replicasPerMaster: 1,
            dir,
            block: await pickFreeBlock([25, 26, 27, 28, 29]),
            nodeTimeoutMs: 2000,
        });
    });
    after(async () => {
        for (const s of servers) await s.close();
        await stopLocalCluster(dir);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("counts hits with the tutorial's sentence, and answers JSON when asked", async () => {
        const s = await start();
        const a = await request(`${s.url}/`);
        const b = await request(`${s.url}/`);
        assert.strictEqual(a.status, 200);
        assert.match(a.headers["content-type"] ?? "", /^text\/plain/);
        const n = Number(/^I have been hit (\d+) times since deployment\.\n$/.exec(a.body)?.[1]);
        assert.ok(n >= 1, a.body);
        assert.strictEqual(b.body, `I have been hit ${n + 1} times since deployment.\n`);
        const j = await request(`${s.url}/`, { accept: "application/json" });
        assert.match(j.headers["content-type"] ?? "", /^application\/json/);
        assert.deepStrictEqual(JSON.parse(j.body), { hits: n + 2 });
        assert.strictEqual(Number(await s.redis.get(HITS_KEY)), n + 2);
    });

    it("gives every concurrent hit its own number (group commit)", async () => {
        const s = servers[0];
        const answers = await Promise.all(Array.from({ length: 40 }, () => request(`${s.url}/`, { accept: "application/json" })));
        const counts = answers.map((a) => (JSON.parse(a.body) as { hits: number }).hits);
        assert.strictEqual(new Set(counts).size, 40);
        assert.strictEqual(Math.max(...counts) - Math.min(...counts), 39);
    });

    it("public port: hits and a bare /readyz only; /metrics, /healthz and the reasons are on the metrics port", async () => {
        const s = servers[0];
        assert.notStrictEqual(s.metricsUrl, s.url);
        const before = Number(await s.redis.get(HITS_KEY));
        const ready = await request(`${s.url}/readyz`, { accept: "application/json" });
        assert.deepStrictEqual([ready.status, JSON.parse(ready.body)], [200, { ready: true }]);
        for (const hidden of ["/metrics", "/healthz", "/favicon.ico"])
            assert.strictEqual((await request(`${s.url}${hidden}`)).status, 404, hidden);
        const post = await request(`${s.url}/`, { method: "POST" });
        assert.deepStrictEqual([post.status, post.headers.allow, post.headers.connection], [405, "GET", "close"]);
        const head = await request(`${s.url}/`, { method: "HEAD" });
        assert.strictEqual(head.status, 405, "a HEAD must not count a hit");
        assert.strictEqual((await request(`${s.url}/readyz`, { method: "HEAD" })).status, 200);
        assert.strictEqual((await request(`${s.metricsUrl}/healthz`)).status, 200);
        assert.strictEqual((await request(`${s.metricsUrl}/healthz`, { method: "HEAD" })).status, 200);
        assert.deepStrictEqual(JSON.parse((await request(`${s.metricsUrl}/readyz`, { accept: "application/json" })).body), { ready: true });
        assert.strictEqual((await request(`${s.metricsUrl}/`)).status, 404, "the metrics port counts no hit");
        assert.strictEqual(Number(await s.redis.get(HITS_KEY)), before);
        const metrics = await request(`${s.metricsUrl}/metrics`);
        assert.strictEqual(metrics.status, 200);
        assert.match(metrics.body, /hitcounter_http_requests_total\{route="\/",code="200"\} \d+/);
        assert.match(metrics.body, /hitcounter_redis_roundtrip_seconds_bucket\{le="0.001",outcome="ok"\} \d+/);
        assert.match(metrics.body, /hitcounter_http_requests_total\{route="other",code="405"\} 2/);
        assert.match(metrics.body, /hitcounter_pending_hits 0/);
    });

    it("refuses with 503 + Retry-After when the replicas cannot confirm (WAIT); the body is generic, the reason is in the log and metrics", async () => {
        // Every master has one replica, so WAIT 2 can never be satisfied.
        const s = await start({ waitReplicas: 2, waitTimeoutMs: 50 });
        const a = await request(`${s.url}/`, { accept: "application/json" });
        assert.strictEqual(a.status, 503);
        assert.strictEqual(a.headers["retry-after"], "1");
        assert.deepStrictEqual(JSON.parse(a.body), { error: "hit not recorded; please retry" });
        const text = await request(`${s.url}/`);
        assert.deepStrictEqual([text.status, text.body], [503, "Hit not recorded. Please retry.\n"]);
        assert.ok(
            logs.some((l) => /^hit not recorded \(not_durable\): only 1 of 2 replica\(s\) confirmed/.test(l)),
            logs.join("\n"),
        );
        const metrics = await request(`${s.metricsUrl}/metrics`);
        assert.match(metrics.body, /hitcounter_errors_total\{reason="not_durable"\} 2/);
    });

    it("fails fast (503) while every node is down and recovers by itself when they return, counter intact", async () => {
        const s = servers[0];
        const before = (JSON.parse((await request(`${s.url}/`, { accept: "application/json" })).body) as { hits: number }).hits;
        await Promise.all(cluster.nodes.map((n) => n.stop("SIGTERM")));
        try {
            const t0 = Date.now();
            const down = await request(`${s.url}/`, { accept: "application/json" });
            assert.strictEqual(down.status, 503, down.body);
            assert.ok(Date.now() - t0 < 5000, "a hit must not hang while Redis is down");
            // Readiness answers are reused for a second (a /readyz flood must not become a CLUSTER INFO flood).
            const publicReady = await eventually(
                () => request(`${s.url}/readyz`),
                (a) => a.status === 503,
            );
            assert.deepStrictEqual([publicReady.status, publicReady.body], [503, "not ready\n"], "the public answer says no more");
            const operatorsReady = await eventually(
                () => request(`${s.metricsUrl}/readyz`),
                (a) => /^not ready: (Redis client is|cluster_state|CLUSTER INFO)/.test(a.body),
            );
            assert.strictEqual(operatorsReady.status, 503, operatorsReady.body);
        } finally {
            cluster.nodes.splice(0, cluster.nodes.length, ...(await LocalRedisNode.startAll(cluster.nodes.map((n) => n.spec))));
        }
        const back = await eventually(
            () => request(`${s.url}/`, { accept: "application/json" }),
            (a) => a.status === 200,
            30_000,
        );
        assert.strictEqual(back.status, 200, back.body);
        assert.ok((JSON.parse(back.body) as { hits: number }).hits > before);
        assert.strictEqual(
            (
                await eventually(
                    () => request(`${s.url}/readyz`),
                    (a) => a.status === 200,
                )
            ).status,
            200,
        );
    });

    it("drains on close: an in-flight hit is answered, new connections are refused, Redis is quit", async () => {
        const s = await start();
        // Hold writes on the key's master for a moment so the hit is surely in flight.
        const slot = (await s.redis.cluster("KEYSLOT", HITS_KEY)) as number;
        const owner = (await s.redis.cluster("SLOTS")).find(([from, to]) => slot >= from && slot <= to);
        assert.ok(owner, `no master owns slot ${slot}`);
        const [host, port] = owner[2];
        const admin = new Redis({ host, port, password: cluster.password });
        try {
            await admin.call("CLIENT", "PAUSE", "400", "WRITE");
            const inFlight = request(`${s.url}/`);
            await new Promise((r) => setTimeout(r, 100));
            const closed = s.close();
            const answer = await inFlight;
            assert.strictEqual(answer.status, 200, answer.body);
            assert.match(answer.body, /^I have been hit \d+ times/);
            await closed;
            await assert.rejects(request(`${s.url}/readyz`), /ECONNREFUSED/);
            await assert.rejects(request(`${s.metricsUrl}/healthz`), /ECONNREFUSED/);
            assert.strictEqual(s.redis.status, "end");
        } finally {
            admin.disconnect();
        }
    });
});
