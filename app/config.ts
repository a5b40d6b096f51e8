/**
 * Environment -> validated server settings. Pure, so every rule is unit-tested and
 * a bad Deployment fails at start with a message that names the variable.
 */

export interface RedisSeed {
    readonly host: string;
    readonly port: number;
}

export interface ServerConfig {
    /** Seed nodes; the client discovers the rest of the cluster from them. */
    readonly redisNodes: readonly RedisSeed[];
    /** AUTH password; undefined means the cluster has no password. */
    readonly redisPassword?: string;
    /** TLS to Redis (certificate checked against the system CAs). */
    readonly redisTls: boolean;
    readonly port: number;
    readonly host: string;
    /**
     * Replicas that must confirm a hit (WAIT) before it is acknowledged. 0 = no WAIT:
     * faster, but a hit acknowledged just before its master dies can be lost.
     */
    readonly waitReplicas: number;
    /** How long WAIT may wait for the replicas; when they do not confirm, the answer is 503. */
    readonly waitTimeoutMs: number;
    /** Upper bound on one request's wait for Redis; past it the answer is 503 + Retry-After. */
    readonly requestTimeoutMs: number;
}

export const SERVER_DEFAULTS = {
    port: 8080,
    host: "0.0.0.0",
    waitReplicas: 1,
    // A healthy replica confirms in well under a millisecond; 250 ms rides out a busy
    // node's hiccup without holding a request long when the replica is really gone.
    waitTimeoutMs: 250,
    // Longer than one failover retry cycle of the client (see redisClient.ts), shorter
    // than a typical HTTP client's patience.
    requestTimeoutMs: 3000,
} as const;

/** Env variables the server reads (documented in the README's config table). */
export type ServerEnv = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ConfigError";
    }
}

function parsePort(value: string, what: string, min = 1): number {
    if (!/^\d{1,5}$/.test(value) || Number(value) < min || Number(value) > 65535) {
        throw new ConfigError(`${what}: expected a port number ${min}-65535, got "${value}"`);
    }
    return Number(value);
}

/** "host:port" or "[ipv6]:port". */
export function parseSeed(item: string): RedisSeed {
    const what = `REDIS_NODES entry "${item}"`;
    const m = /^\[([0-9a-fA-F:.]+)\]:(\S+)$/.exec(item) ?? /^([A-Za-z0-9][A-Za-z0-9.-]*):(\S+)$/.exec(item);
    if (!m) throw new ConfigError(`${what}: expected host:port (e.g. redis-0.redis-headless:6379 or 10.0.0.5:6379)`);
    return { host: m[1], port: parsePort(m[2], what) };
}

function integerInRange(env: ServerEnv, name: string, fallback: number, min: number, max: number): number {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") return fallback;
    const value = raw.trim();
    if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
        throw new ConfigError(`${name}: expected an integer ${min}-${max}, got "${raw}"`);
    }
    return Number(value);
}

export function parseServerConfig(env: ServerEnv): ServerConfig {
    const nodes = (env.REDIS_NODES ?? "").trim();
    if (!nodes) {
        throw new ConfigError(
            "REDIS_NODES: required, a comma-separated list of Redis Cluster seed nodes host:port (e.g. redis-0.redis-headless:6379,redis-1.redis-headless:6379)",
        );
    }
    const redisNodes = nodes.split(",").map((s) => parseSeed(s.trim()));

    const tlsRaw = (env.REDIS_TLS ?? "false").trim().toLowerCase();
    if (tlsRaw !== "true" && tlsRaw !== "false") {
        throw new ConfigError(`REDIS_TLS: expected "true" or "false", got "${env.REDIS_TLS}"`);
    }

    const portRaw = env.PORT?.trim();
    // 0 = any free port (tests, benchmarks); the start line reports the real one.
    const port = portRaw ? parsePort(portRaw, "PORT", 0) : SERVER_DEFAULTS.port;

    const host = env.HOST?.trim() || SERVER_DEFAULTS.host;
    if (/\s/.test(host)) throw new ConfigError(`HOST: expected an address to listen on (e.g. 0.0.0.0 or ::), got "${env.HOST}"`);

    const password = env.REDIS_PASSWORD;
    return {
        redisNodes,
        redisPassword: password === undefined || password === "" ? undefined : password,
        redisTls: tlsRaw === "true",
        port,
        host,
        waitReplicas: integerInRange(env, "WAIT_REPLICAS", SERVER_DEFAULTS.waitReplicas, 0, 16),
        waitTimeoutMs: integerInRange(env, "WAIT_TIMEOUT_MS", SERVER_DEFAULTS.waitTimeoutMs, 1, 60_000),
        requestTimeoutMs: integerInRange(env, "REQUEST_TIMEOUT_MS", SERVER_DEFAULTS.requestTimeoutMs, 1, 600_000),
    };
}
