/** Prometheus metrics of the hit counter, in a registry of its own (one per server). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { HitFailureReason } from "./hits";

export interface ServerMetrics {
    readonly registry: Registry;
    readonly requests: Counter<"route" | "code">;
    readonly errors: Counter<"reason">;
    readonly redisRoundTrip: Histogram<"outcome">;
    readonly batchSize: Histogram;
    /** Connections closed at accept: MAX_CONNECTIONS were open. */
    readonly connectionsRefused: Counter;
    /** Requests past MAX_REQUESTS_PER_SOCKET on one connection (not answered: the connection is closing). */
    readonly requestsRefused: Counter;
    /** Connections closed for pipelining more than MAX_PIPELINED_REQUESTS unanswered requests. */
    readonly pipeliningClosed: Counter;
    error(reason: HitFailureReason | "internal"): void;
}

/** Values read at each scrape. */
export interface LiveValues {
    /** Open connections of the public listener. */
    openConnections(): number;
    /** Hits queued or in flight. */
    pendingHits(): number;
}

/** A gauge whose value is read at each scrape. */
function liveGauge(registry: Registry, name: string, help: string, read: () => number): void {
    new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
            this.set(read());
        },
    });
}

export function createMetrics(live: LiveValues, defaultMetrics = true): ServerMetrics {
    const registry = new Registry();
    if (defaultMetrics) collectDefaultMetrics({ register: registry });
    const requests = new Counter({
        name: "hitcounter_http_requests_total",
        help: "HTTP requests by route and status code",
        labelNames: ["route", "code"] as const,
        registers: [registry],
    });
    const errors = new Counter({
        name: "hitcounter_errors_total",
        help: "Hits not acknowledged (answered 503), by reason",
        labelNames: ["reason"] as const,
        registers: [registry],
    });
    const redisRoundTrip = new Histogram({
        name: "hitcounter_redis_roundtrip_seconds",
        help: "Latency of one Redis round trip (INCRBY + WAIT for a batch of hits)",
        labelNames: ["outcome"] as const,
        buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers: [registry],
    });
    const batchSize = new Histogram({
        name: "hitcounter_redis_batch_hits",
        help: "Hits sent in one Redis round trip (group commit)",
        buckets: [1, 2, 4, 8, 16, 32, 64, 128],
        registers: [registry],
    });
    const connectionsRefused = new Counter({
        name: "hitcounter_http_connections_refused_total",
        help: "Connections closed as soon as accepted because MAX_CONNECTIONS were open",
        registers: [registry],
    });
    const requestsRefused = new Counter({
        name: "hitcounter_http_requests_refused_total",
        help: "Requests beyond MAX_REQUESTS_PER_SOCKET on one connection, dropped as the connection closes",
        registers: [registry],
    });
    const pipeliningClosed = new Counter({
        name: "hitcounter_http_pipelining_closed_total",
        help: "Connections closed for having more than MAX_PIPELINED_REQUESTS requests unanswered",
        registers: [registry],
    });
    liveGauge(registry, "hitcounter_http_open_connections", "Open connections of the public listener", () => live.openConnections());
    liveGauge(registry, "hitcounter_pending_hits", "Hits queued or in flight to Redis (at most MAX_PENDING_HITS)", () =>
        live.pendingHits(),
    );
    return {
        registry,
        requests,
        errors,
        redisRoundTrip,
        batchSize,
        connectionsRefused,
        requestsRefused,
        pipeliningClosed,
        error: (reason) => errors.inc({ reason }),
    };
}
