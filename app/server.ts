/**
 * The hit-counter HTTP service: `GET /` counts a hit in Redis Cluster and answers
 * the tutorial's sentence with the new count. A hit is acknowledged only once a
 * replica holds it (see hits.ts); otherwise the answer is 503 + Retry-After.
 *
 * Runs in-process (`startServer`, used by tests, the local demo and the benchmarks)
 * or as a program (`node server.js` / `ts-node app/server.ts`) configured by env.
 * Plain `http` instead of a framework: one route, and every microsecond counts in
 * the benchmark.
 */
import * as http from "http";
import { AddressInfo } from "net";
import { Cluster } from "ioredis";
import { ConfigError, ServerConfig, parseServerConfig } from "./config";
import { HitNotRecordedError, HitRecorder } from "./hits";
import { createMetrics, ServerMetrics } from "./metrics";
import { CLIENT_FAILOVER_SETTINGS, createClusterClient } from "./redisClient";

export interface RunningServer {
    /** http://host:port the server listens on (host 127.0.0.1 when bound to all addresses). */
    readonly url: string;
    readonly port: number;
    readonly redis: Cluster;
    readonly metrics: ServerMetrics;
    /** Graceful stop: refuse new connections, finish in-flight requests, quit Redis. */
    close(): Promise<void>;
}

export interface StartOptions {
    /** Process-wide metrics (GC, memory, event loop); off when several servers share a process. */
    readonly defaultMetrics?: boolean;
    readonly log?: (line: string) => void;
}

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json";
const READY_CHECK_TIMEOUT_MS = 1000;

function wantsJson(req: http.IncomingMessage): boolean {
    const accept = req.headers.accept;
    return accept !== undefined && accept.includes(JSON_TYPE);
}

function reply(
    res: http.ServerResponse,
    code: number,
    json: boolean,
    body: Record<string, unknown>,
    text: string,
    extra?: http.OutgoingHttpHeaders,
): void {
    const payload = json ? JSON.stringify(body) + "\n" : text;
    res.writeHead(code, { "content-type": json ? JSON_TYPE : TEXT, "content-length": Buffer.byteLength(payload), ...extra });
    res.end(payload);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Ready = the client holds a slot map and the cluster reports cluster_state:ok. */
async function checkCluster(redis: Cluster): Promise<string | undefined> {
    if (redis.status !== "ready") return `Redis client is ${redis.status}`;
    const info = await withTimeout(redis.cluster("INFO") as Promise<string>, READY_CHECK_TIMEOUT_MS, "CLUSTER INFO");
    const state = /cluster_state:(\w+)/.exec(info)?.[1];
    return state === "ok" ? undefined : `cluster_state:${state ?? "unknown"}`;
}

export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
    const log = options.log ?? ((line: string) => console.log(line));
    const metrics = createMetrics(options.defaultMetrics ?? true);
    const redis = createClusterClient(config);
    let lastErrorLog = 0;
    redis.on("error", (err: Error) => {
        // Failovers produce bursts of identical errors; one line a second is enough.
        if (Date.now() - lastErrorLog > 1000) {
            lastErrorLog = Date.now();
            log(`redis: ${err.message}`);
        }
    });
    const hits = new HitRecorder(redis, {
        waitReplicas: config.waitReplicas,
        waitTimeoutMs: config.waitTimeoutMs,
        timeoutMs: config.requestTimeoutMs,
        retryDelayMs: CLIENT_FAILOVER_SETTINGS.retryDelayOnFailover,
        onRoundTrip: (seconds, size, ok) => {
            metrics.redisRoundTrip.observe({ outcome: ok ? "ok" : "error" }, seconds);
            metrics.batchSize.observe(size);
        },
    });

    let shuttingDown = false;
    const hitOk = metrics.requests.labels("/", "200");
    const hitUnavailable = metrics.requests.labels("/", "503");

    function countHit(req: http.IncomingMessage, res: http.ServerResponse): void {
        const json = wantsJson(req);
        hits.record().then(
            (count) => {
                hitOk.inc();
                reply(res, 200, json, { hits: count }, `I have been hit ${count} times since deployment.\n`);
            },
            (err: unknown) => {
                const reason = err instanceof HitNotRecordedError ? err.reason : "internal";
                const message = err instanceof Error ? err.message : String(err);
                hitUnavailable.inc();
                metrics.error(reason);
                reply(
                    res,
                    503,
                    json,
                    { error: "hit not recorded", reason, detail: message },
                    `Hit not recorded (${reason}): ${message}. Please retry.\n`,
                    {
                        "retry-after": "1",
                    },
                );
            },
        );
    }

    async function readiness(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const json = wantsJson(req);
        let problem: string | undefined;
        try {
            problem = shuttingDown ? "shutting down" : await checkCluster(redis);
        } catch (err) {
            problem = err instanceof Error ? err.message : String(err);
        }
        const code = problem ? 503 : 200;
        metrics.requests.inc({ route: "/readyz", code: String(code) });
        reply(
            res,
            code,
            json,
            problem ? { ready: false, reason: problem } : { ready: true },
            problem ? `not ready: ${problem}\n` : "ready\n",
        );
    }

    async function metricsPage(res: http.ServerResponse): Promise<void> {
        metrics.requests.inc({ route: "/metrics", code: "200" });
        const body = await metrics.registry.metrics();
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(body);
    }

    const server = http.createServer((req, res) => {
        // Keep-alive clients are told to reconnect elsewhere once we are draining.
        if (shuttingDown) res.setHeader("connection", "close");
        const path = req.url === undefined ? "/" : req.url.split("?", 1)[0];
        // Only a GET is a hit: a HEAD / from a monitor must not count.
        const allowed = path === "/" ? "GET" : "GET, HEAD";
        if (req.method !== "GET" && !(req.method === "HEAD" && path !== "/")) {
            metrics.requests.inc({ route: "other", code: "405" });
            return reply(res, 405, wantsJson(req), { error: "method not allowed" }, "Method not allowed; use GET.\n", { allow: allowed });
        }
        switch (path) {
            case "/":
                return countHit(req, res);
            case "/healthz":
                metrics.requests.inc({ route: "/healthz", code: "200" });
                return reply(res, 200, wantsJson(req), { status: "ok" }, "ok\n");
            case "/readyz":
                return void readiness(req, res);
            case "/metrics":
                return void metricsPage(res).catch((err: Error) => reply(res, 500, false, {}, `metrics failed: ${err.message}\n`));
            default:
                // Notably /favicon.ico: a browser's second request must not count as a hit.
                metrics.requests.inc({ route: "other", code: "404" });
                return reply(res, 404, wantsJson(req), { error: "not found" }, "Not found.\n");
        }
    });
    // Longer than Google Cloud load balancers' 600 s keep-alive, so the LB never reuses a
    // connection we have just closed (which would surface as 502s).
    server.keepAliveTimeout = 620_000;
    server.headersTimeout = 621_000;

    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.host, () => {
            server.off("error", reject);
            resolve();
        });
    });
    const address = server.address() as AddressInfo;
    const urlHost =
        config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host.includes(":") ? `[${config.host}]` : config.host;

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
        closing ??= (async () => {
            shuttingDown = true;
            const drained = new Promise<void>((resolve) => server.close(() => resolve()));
            server.closeIdleConnections();
            // In-flight hits finish within the request timeout; then whatever is left is cut.
            const deadline = setTimeout(() => server.closeAllConnections(), config.requestTimeoutMs + 1000);
            await drained;
            clearTimeout(deadline);
            const ended = new Promise<void>((resolve) => (redis.status === "end" ? resolve() : redis.once("end", () => resolve())));
            await redis.quit().catch(() => redis.disconnect());
            await withTimeout(ended, 2000, "Redis QUIT").catch(() => redis.disconnect());
        })();
        return closing;
    };

    return { url: `http://${urlHost}:${address.port}`, port: address.port, redis, metrics, close };
}

/** Program entry: env -> server; SIGTERM/SIGINT -> graceful stop. Exit code 2 on bad configuration. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
    let config: ServerConfig;
    try {
        config = parseServerConfig(env);
    } catch (err) {
        if (err instanceof ConfigError) {
            console.error(`hit-counter: invalid configuration: ${err.message}`);
            process.exit(2);
        }
        throw err;
    }
    const running = await startServer(config);
    const seeds = config.redisNodes.map((n) => `${n.host}:${n.port}`).join(",");
    console.log(
        `hit-counter listening on ${config.host}:${running.port} (redis ${seeds}, WAIT ${config.waitReplicas} replica(s), tls ${config.redisTls})`,
    );
    const stop = (signal: string) => {
        console.log(`hit-counter: ${signal}, draining`);
        running.close().then(
            () => process.exit(0),
            (err: Error) => {
                console.error(`hit-counter: shutdown failed: ${err.message}`);
                process.exit(1);
            },
        );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
}

if (require.main === module) {
    main().catch((err: Error) => {
        console.error(`hit-counter: ${err.stack ?? err.message}`);
        process.exit(1);
    });
}
