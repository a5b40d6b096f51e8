/**
 * The hit-counter HTTP service: `GET /` counts a hit in Redis Cluster and answers
 * the tutorial's sentence with the new count. A hit is acknowledged only once a
 * replica holds it (see hits.ts); otherwise the answer is 503 + Retry-After.
 *
 * Two listeners. The public one (PORT, behind the Service) serves hits and a bare
 * readiness answer, with every resource a client can hold bounded (connections, requests
 * per connection, timeouts, pending hits) and error bodies that say nothing internal.
 * The operators' one (METRICS_PORT, not in the Service) serves /metrics, /healthz and
 * /readyz with its reason; the details of a refused hit go to the log and the metrics.
 *
 * Runs in-process (`startServer`, used by tests, the local demo and the benchmarks)
 * or as a program (`node server.js` / `ts-node app/server.ts`) configured by env.
 */
import * as http from "http";
import { Cluster } from "ioredis";
import { ConfigError, DEFAULT_METRICS_PORT, ServerConfig, parseServerConfig } from "./config";
import { HitFailureReason, HitNotRecordedError, HitRecorder } from "./hits";
import { boundedServer, listen, perConnectionLimits, reply, urlOf, wantsJson } from "./http";
import { createMetrics, ServerMetrics } from "./metrics";
import { CLIENT_FAILOVER_SETTINGS, createClusterClient } from "./redisClient";
import { watchPasswordFile } from "./credentials";

export interface RunningServer {
    /** http://host:port of the public listener (host 127.0.0.1 when bound to all addresses). */
    readonly url: string;
    readonly port: number;
    /** http://host:port of the operators' listener (/metrics, /healthz, /readyz with reasons). */
    readonly metricsUrl: string;
    readonly redis: Cluster;
    readonly metrics: ServerMetrics;
    /** Hits queued or in flight to Redis. */
    readonly pendingHits: () => number;
    /** Graceful stop: refuse new connections, finish in-flight requests, quit Redis. */
    close(): Promise<void>;
}

export interface StartOptions {
    /** Process-wide metrics (GC, memory, event loop); off when several servers share a process. */
    readonly defaultMetrics?: boolean;
    readonly log?: (line: string) => void;
}

const READY_CHECK_TIMEOUT_MS = 1000;
/** A readiness answer is reused this long: a flood of /readyz on the public port costs Redis one CLUSTER INFO a second. */
const READY_CACHE_MS = 1000;
/** The operators' listener serves a kubelet and a scraper or two. */
const METRICS_LISTENER_CONNECTIONS = 16;

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

/** One log line per second and key at most; the lines dropped meanwhile are counted in the next. */
function rateLimitedLog(log: (line: string) => void): (key: string, line: string) => void {
    const last = new Map<string, { at: number; dropped: number }>();
    return (key, line) => {
        const seen = last.get(key);
        const now = Date.now();
        if (seen && now - seen.at < 1000) {
            seen.dropped++;
            return;
        }
        last.set(key, { at: now, dropped: 0 });
        log(seen?.dropped ? `${line} (and ${seen.dropped} more like it)` : line);
    };
}

/** A readiness check run at most once per READY_CACHE_MS, shared by every caller meanwhile. */
function cachedReadiness(check: () => Promise<string | undefined>): () => Promise<string | undefined> {
    let last: { at: number; answer: Promise<string | undefined> } | undefined;
    return () => {
        if (!last || Date.now() - last.at >= READY_CACHE_MS) {
            const answer = check().catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
            last = { at: Date.now(), answer };
        }
        return last.answer;
    };
}

export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
    const log = options.log ?? ((line: string) => console.log(line));
    const logLimited = rateLimitedLog(log);
    const redis = createClusterClient(config);
    // Failovers produce bursts of identical errors; one line a second is enough.
    redis.on("error", (err: Error) => logLimited("redis", `redis: ${err.message}`));
    const stopWatchingPassword = config.redisPasswordFile ? watchPasswordFile(config.redisPasswordFile, redis, log) : () => undefined;
    const hits = new HitRecorder(redis, {
        waitReplicas: config.waitReplicas,
        waitTimeoutMs: config.waitTimeoutMs,
        timeoutMs: config.requestTimeoutMs,
        maxPending: config.maxPendingHits,
        retryDelayMs: CLIENT_FAILOVER_SETTINGS.retryDelayOnFailover,
        onRoundTrip: (seconds, size, ok) => {
            metrics.redisRoundTrip.observe({ outcome: ok ? "ok" : "error" }, seconds);
            metrics.batchSize.observe(size);
        },
    });
    let openConnections = 0;
    const live = { openConnections: () => openConnections, pendingHits: () => hits.pending };
    const metrics = createMetrics(live, options.defaultMetrics ?? true);

    let shuttingDown = false;
    const readinessProblem = cachedReadiness(() => checkCluster(redis));
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
                const reason: HitFailureReason | "internal" = err instanceof HitNotRecordedError ? err.reason : "internal";
                hitUnavailable.inc();
                metrics.error(reason);
                // The why is for operators (log, hitcounter_errors_total); the client learns only to retry.
                logLimited(`hit:${reason}`, `hit not recorded (${reason}): ${err instanceof Error ? err.message : String(err)}`);
                const retry = { "retry-after": "1" };
                reply(res, 503, json, { error: "hit not recorded; please retry" }, "Hit not recorded. Please retry.\n", retry);
            },
        );
    }

    /** /readyz: the public answer is bare; the operators' one says why. */
    async function readiness(req: http.IncomingMessage, res: http.ServerResponse, detailed: boolean): Promise<void> {
        const json = wantsJson(req);
        const problem = shuttingDown ? "shutting down" : await readinessProblem();
        const code = problem ? 503 : 200;
        metrics.requests.inc({ route: "/readyz", code: String(code) });
        const shown = detailed ? problem : undefined;
        const body = problem ? { ready: false, ...(shown ? { reason: shown } : {}) } : { ready: true };
        reply(res, code, json, body, problem ? (shown ? `not ready: ${shown}\n` : "not ready\n") : "ready\n");
    }

    async function metricsPage(res: http.ServerResponse): Promise<void> {
        metrics.requests.inc({ route: "/metrics", code: "200" });
        const body = await metrics.registry.metrics();
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(body);
    }

    /** Method check shared by both listeners: only `GET /` counts, so `/` takes GET only, the rest GET and HEAD. */
    function methodAllowed(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean {
        if (req.method === "GET" || (req.method === "HEAD" && path !== "/")) return true;
        metrics.requests.inc({ route: "other", code: "405" });
        // The body of a refused request is not read: close rather than wait for it.
        const headers = { allow: path === "/" ? "GET" : "GET, HEAD", connection: "close" };
        reply(res, 405, wantsJson(req), { error: "method not allowed" }, "Method not allowed; use GET.\n", headers);
        return false;
    }

    function notFound(req: http.IncomingMessage, res: http.ServerResponse): void {
        metrics.requests.inc({ route: "other", code: "404" });
        reply(res, 404, wantsJson(req), { error: "not found" }, "Not found.\n");
    }

    const pathOf = (req: http.IncomingMessage) => (req.url === undefined ? "/" : req.url.split("?", 1)[0]);

    const withinConnectionLimits = perConnectionLimits(config, {
        requestDropped: () => metrics.requestsRefused.inc(),
        connectionClosed: () => {
            metrics.pipeliningClosed.inc();
            logLimited("pipelining", `closed a connection with more than ${config.maxPipelinedRequests} unanswered requests`);
        },
    });

    const server = boundedServer(config, (req, res) => {
        if (!withinConnectionLimits(req, res)) return;
        // Keep-alive clients are told to reconnect elsewhere once we are draining.
        if (shuttingDown) res.setHeader("connection", "close");
        const path = pathOf(req);
        if (!methodAllowed(req, res, path)) return;
        if (path === "/") return countHit(req, res);
        // Kubelet's readiness probe comes here: a pod whose public listener is full must leave the endpoints.
        if (path === "/readyz") return void readiness(req, res, false);
        // Notably /favicon.ico: a browser's second request must not count as a hit.
        return notFound(req, res);
    });
    server.on("connection", (socket) => {
        openConnections++;
        socket.once("close", () => openConnections--);
    });
    server.on("drop", () => metrics.connectionsRefused.inc());

    const admin = boundedServer({ ...config, maxConnections: METRICS_LISTENER_CONNECTIONS }, (req, res) => {
        const path = pathOf(req);
        if (!methodAllowed(req, res, path)) return;
        switch (path) {
            case "/metrics":
                return void metricsPage(res).catch((err: Error) => {
                    log(`metrics failed: ${err.message}`);
                    reply(res, 500, false, {}, "metrics unavailable\n");
                });
            case "/healthz":
                metrics.requests.inc({ route: "/healthz", code: "200" });
                return reply(res, 200, wantsJson(req), { status: "ok" }, "ok\n");
            case "/readyz":
                return void readiness(req, res, true);
            default:
                return notFound(req, res);
        }
    });

    const listenMetrics = () =>
        listen(admin, config.metricsPort ?? DEFAULT_METRICS_PORT, config.host).catch((err: NodeJS.ErrnoException) => {
            // Unset METRICS_PORT and its default taken (say, by a second local cluster's app): any free port, printed at start.
            if (config.metricsPort === undefined && err.code === "EADDRINUSE") return listen(admin, 0, config.host);
            throw err;
        });
    let port: number;
    let metricsPort: number;
    try {
        port = await listen(server, config.port, config.host);
        metricsPort = await listenMetrics();
    } catch (err) {
        // Nothing is left behind by a failed start: no listener, no Redis connection.
        server.close();
        stopWatchingPassword();
        redis.disconnect();
        throw err;
    }

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
            // The operators' listener answers (/readyz: shutting down) until the public one has drained.
            const adminClosed = new Promise<void>((resolve) => admin.close(() => resolve()));
            admin.closeAllConnections();
            await adminClosed;
            stopWatchingPassword();
            const ended = new Promise<void>((resolve) => (redis.status === "end" ? resolve() : redis.once("end", () => resolve())));
            await redis.quit().catch(() => redis.disconnect());
            await withTimeout(ended, 2000, "Redis QUIT").catch(() => redis.disconnect());
        })();
        return closing;
    };

    return {
        url: urlOf(config.host, port),
        port,
        metricsUrl: urlOf(config.host, metricsPort),
        redis,
        metrics,
        pendingHits: () => hits.pending,
        close,
    };
}

/** Program entry: env -> server; SIGTERM/SIGINT -> graceful stop. Exit code 2 on bad configuration. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
    let config: ServerConfig;
    let running: RunningServer;
    try {
        config = parseServerConfig(env);
        running = await startServer(config);
    } catch (err) {
        if (err instanceof ConfigError) {
            console.error(`hit-counter: invalid configuration: ${err.message}`);
            process.exit(2);
        }
        throw err;
    }
    const seeds = config.redisNodes.map((n) => `${n.host}:${n.port}`).join(",");
    const metricsPort = new URL(running.metricsUrl).port;
    console.log(
        `hit-counter listening on ${config.host}:${running.port} (redis ${seeds}, WAIT ${config.waitReplicas} replica(s), tls ${config.redisTls}); ` +
            `metrics, health and readiness on ${config.host}:${metricsPort}`,
    );
    console.log(
        `hit-counter limits: ${config.maxConnections} connections, ${config.maxRequestsPerSocket} requests per connection ` +
            `(${config.maxPipelinedRequests} unanswered at once), ` +
            `${config.maxPendingHits} pending hits; timeouts: headers ${config.headersTimeoutMs} ms, request ${config.requestReceiveTimeoutMs} ms, ` +
            `keep-alive ${config.keepAliveTimeoutMs} ms, Redis ${config.requestTimeoutMs} ms`,
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
