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
 * The routes of both are in routes.ts; this file builds the client, the listeners and the stop.
 *
 * Runs in-process (`startServer`, used by tests, the local demo and the benchmarks)
 * or as a program (`node server.js` / `ts-node app/server.ts`) configured by env.
 */
import * as http from "http";
import { Cluster } from "ioredis";
import { ConfigError, DEFAULT_METRICS_PORT, ServerConfig, parseServerConfig } from "./config";
import { HitRecorder } from "./hits";
import { boundedServer, listen, perConnectionLimits, urlOf } from "./http";
import { createMetrics, ServerMetrics } from "./metrics";
import { CLIENT_FAILOVER_SETTINGS, createClusterClient } from "./redisClient";
import { adminRoutes, publicRoutes, RouteContext } from "./routes";
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

/** The two listeners, built but not yet listening. */
interface Listeners {
    /** PORT, behind the Service: hits and a bare readiness answer. */
    readonly publicListener: http.Server;
    /** METRICS_PORT, not in the Service: /metrics, /healthz, /readyz with its reason. */
    readonly adminListener: http.Server;
    /** Open connections of the public listener. */
    openConnections(): number;
}

/** The listeners with their limits: connections, requests per connection (pipelined ones too) and timeouts. */
function createListeners(config: ServerConfig, routes: RouteContext): Listeners {
    const { metrics, logLimited } = routes;
    const withinConnectionLimits = perConnectionLimits(config, {
        requestDropped: () => metrics.requestsRefused.inc(),
        connectionClosed: () => {
            metrics.pipeliningClosed.inc();
            logLimited("pipelining", `closed a connection with more than ${config.maxPipelinedRequests} unanswered requests`);
        },
    });
    const servePublic = publicRoutes(routes);
    const publicListener = boundedServer(config, (req, res) => {
        if (withinConnectionLimits(req, res)) servePublic(req, res);
    });
    let openConnections = 0;
    publicListener.on("connection", (socket) => {
        openConnections++;
        socket.once("close", () => openConnections--);
    });
    publicListener.on("drop", () => metrics.connectionsRefused.inc());
    const adminListener = boundedServer({ ...config, maxConnections: METRICS_LISTENER_CONNECTIONS }, adminRoutes(routes));
    return { publicListener, adminListener, openConnections: () => openConnections };
}

/** Listens on METRICS_PORT; resolves with the port bound. */
function listenMetrics(adminListener: http.Server, config: ServerConfig): Promise<number> {
    return listen(adminListener, config.metricsPort ?? DEFAULT_METRICS_PORT, config.host).catch((err: NodeJS.ErrnoException) => {
        // Unset METRICS_PORT and its default taken (say, by a second local cluster's app): any free port, printed at start.
        if (config.metricsPort === undefined && err.code === "EADDRINUSE") return listen(adminListener, 0, config.host);
        throw err;
    });
}

/** Hits recorded as configured, each Redis round trip timed into the metrics. */
function createHitRecorder(config: ServerConfig, redis: Cluster, metrics: ServerMetrics): HitRecorder {
    return new HitRecorder(redis, {
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
}

/**
 * Graceful stop, once the routes see shuttingDown: the public listener drains first, then the
 * operators' one closes, then the password watch stops and Redis quits.
 */
async function closeGracefully(
    listeners: Listeners,
    redis: Cluster,
    stopWatchingPassword: () => void,
    requestTimeoutMs: number,
): Promise<void> {
    const { publicListener, adminListener } = listeners;
    const drained = new Promise<void>((resolve) => publicListener.close(() => resolve()));
    publicListener.closeIdleConnections();
    // In-flight hits finish within the request timeout; then whatever is left is cut.
    const deadline = setTimeout(() => publicListener.closeAllConnections(), requestTimeoutMs + 1000);
    await drained;
    clearTimeout(deadline);
    // The operators' listener answers (/readyz: shutting down) until the public one has drained.
    const adminClosed = new Promise<void>((resolve) => adminListener.close(() => resolve()));
    adminListener.closeAllConnections();
    await adminClosed;
    stopWatchingPassword();
    const ended = new Promise<void>((resolve) => (redis.status === "end" ? resolve() : redis.once("end", () => resolve())));
    await redis.quit().catch(() => redis.disconnect());
    await withTimeout(ended, 2000, "Redis QUIT").catch(() => redis.disconnect());
}

export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
    const log = options.log ?? ((line: string) => console.log(line));
    const logLimited = rateLimitedLog(log);
    const redis = createClusterClient(config);
    // Failovers produce bursts of identical errors; one line a second is enough.
    redis.on("error", (err: Error) => logLimited("redis", `redis: ${err.message}`));
    const stopWatchingPassword = config.redisPasswordFile ? watchPasswordFile(config.redisPasswordFile, redis, log) : () => undefined;
    // Read at each scrape, which the operators' listener serves: the recorder and the listeners exist by then.
    const live = { openConnections: () => listeners.openConnections(), pendingHits: () => hits.pending };
    const metrics = createMetrics(live, options.defaultMetrics ?? true);
    const hits = createHitRecorder(config, redis, metrics);

    let shuttingDown = false;
    const routes: RouteContext = {
        metrics,
        hits,
        readinessProblem: cachedReadiness(() => checkCluster(redis)),
        log,
        logLimited,
        shuttingDown: () => shuttingDown,
    };
    const listeners = createListeners(config, routes);
    let port: number;
    let metricsPort: number;
    try {
        port = await listen(listeners.publicListener, config.port, config.host);
        metricsPort = await listenMetrics(listeners.adminListener, config);
    } catch (err) {
        // Nothing is left behind by a failed start: no listener, no Redis connection.
        listeners.publicListener.close();
        stopWatchingPassword();
        redis.disconnect();
        throw err;
    }

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
        // Before anything closes: /readyz answers "shutting down" and keep-alive clients are told to reconnect elsewhere.
        shuttingDown = true;
        closing ??= closeGracefully(listeners, redis, stopWatchingPassword, config.requestTimeoutMs);
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
