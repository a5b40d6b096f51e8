/**
 * The ioredis Cluster client of the hit counter, with the settings that decide how
 * fast it finds a new master after a failover.
 */
import * as fs from "fs";
import { Cluster, ClusterOptions } from "ioredis";
import { ConnectionOptions } from "tls";
import { ConfigError, ServerConfig } from "./config";
import { readPasswordFile } from "./credentials";

/**
 * Failover tuning. A command that hits a closed connection or CLUSTERDOWN is retried
 * every RETRY_DELAY_MS, each retry first refreshing the slot map, up to
 * MAX_REDIRECTIONS times (~1.6 s); then the request fails with 503 and the HTTP client
 * retries. So the app writes again within ~RETRY_DELAY_MS of the replica's promotion.
 */
export const CLIENT_FAILOVER_SETTINGS = {
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    maxRedirections: 16,
    // A dead pod IP on GKE may blackhole packets instead of refusing them: bound every wait.
    slotsRefreshTimeout: 1000,
    // Background refresh also catches topology changes that caused no error (e.g. a scale-out).
    slotsRefreshInterval: 5000,
    connectTimeout: 1000,
    // A crashed master restarts at once and, still loading its AOF, is asked INFO by ioredis's
    // ready check; ioredis waits max(loading_eta_seconds, 1) s before asking again, and holds the
    // hits queued on that connection meanwhile. Ask every 100 ms: the load of a small dataset ends
    // in a fraction of a second, and the hits then learn (MOVED) that a replica took over.
    maxLoadingRetryTime: 100,
} as const;

export function clusterOptions(config: ServerConfig): ClusterOptions {
    const s = CLIENT_FAILOVER_SETTINGS;
    return {
        retryDelayOnFailover: s.retryDelayOnFailover,
        retryDelayOnClusterDown: s.retryDelayOnClusterDown,
        retryDelayOnTryAgain: s.retryDelayOnTryAgain,
        maxRedirections: s.maxRedirections,
        slotsRefreshTimeout: s.slotsRefreshTimeout,
        slotsRefreshInterval: s.slotsRefreshInterval,
        // While the whole cluster is unreachable, fail fast (503) instead of queueing
        // requests in memory without bound.
        enableOfflineQueue: false,
        // Never give up reconnecting: the app must recover by itself when Redis returns.
        clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
        // Seeds are dialled by the name given, not an address looked up beforehand: with TLS the name
        // dialled is the name verified (a pod's DNS name is in Redis' certificate, its IP is not).
        // Node resolves the name at each connect, so a pod whose IP changed is still found.
        dnsLookup: (address, callback) => callback(null, address),
        // Slot owners are announced as names on Kubernetes (preferred-endpoint-type hostname).
        redisOptions: {
            ...(config.redisUsername !== undefined ? { username: config.redisUsername } : {}),
            password: config.redisPasswordFile !== undefined ? readPasswordFile(config.redisPasswordFile) : config.redisPassword,
            // No CLIENT SETINFO: the app's ACL user runs only what the hit counter needs.
            disableClientInfo: true,
            tls: redisTlsOptions(config),
            connectTimeout: s.connectTimeout,
            maxLoadingRetryTime: s.maxLoadingRetryTime,
            // TCP keep-alive probes after 10 s idle: a vanished node (no RST) is noticed.
            keepAlive: 10_000,
        },
    };
}

/** TLS to every node, verified against REDIS_CA_FILE (else the system CAs); undefined without TLS. */
export function redisTlsOptions(config: Pick<ServerConfig, "redisTls" | "redisCaFile">): ConnectionOptions | undefined {
    if (!config.redisTls) return undefined;
    if (config.redisCaFile === undefined) return {};
    try {
        return { ca: fs.readFileSync(config.redisCaFile) };
    } catch (e) {
        throw new ConfigError(`REDIS_CA_FILE: cannot read ${config.redisCaFile} (${(e as Error).message})`);
    }
}

export function createClusterClient(config: ServerConfig): Cluster {
    return new Cluster(
        config.redisNodes.map((n) => ({ host: n.host, port: n.port })),
        clusterOptions(config),
    );
}
