/**
 * Environment -> validated server settings. Pure, so every rule is unit-tested and
 * a bad Deployment fails at start with a message that names the variable.
 *
 * Every number the server can be tuned with is one row of SERVER_LIMITS (default, bounds,
 * meaning), like ioredis' DEFAULT_CLUSTER_OPTIONS: the parser, the defaults of in-process
 * servers and the README's table (`npm run -s docs:app-env`) all read that one table.
 */

export interface RedisSeed {
    readonly host: string;
    readonly port: number;
}

/** One tunable integer of the server, read from the environment variable `env`. */
export interface IntegerVariable {
    readonly env: string;
    readonly fallback: number;
    readonly min: number;
    readonly max: number;
    /** README text. */
    readonly meaning: string;
}

/**
 * The limits and timeouts, with their defaults. The defaults are sized for the Deployment's
 * 256Mi memory limit (components/app/hitCounter.ts): at worst about 60 MB idle + MAX_CONNECTIONS
 * x 12 KB (open connections) + MAX_CONNECTIONS x MAX_PIPELINED_REQUESTS x 3 KB (unanswered
 * requests) + MAX_PENDING_HITS x 4 KB; `npm run bench:app-limits` measures it (README, "Limits").
 */
export const SERVER_LIMITS = {
    waitReplicas: {
        env: "WAIT_REPLICAS",
        fallback: 1,
        min: 0,
        max: 16,
        meaning: "replicas that must confirm a hit; `0` = fast mode without WAIT",
    },
    // A healthy replica confirms in well under a millisecond; 250 ms rides out a busy node's
    // hiccup without holding a request long when the replica is really gone.
    waitTimeoutMs: { env: "WAIT_TIMEOUT_MS", fallback: 250, min: 1, max: 60_000, meaning: "how long WAIT may wait" },
    // Longer than one failover retry cycle of the client (see redisClient.ts), shorter than a
    // typical HTTP client's patience.
    requestTimeoutMs: {
        env: "REQUEST_TIMEOUT_MS",
        fallback: 3000,
        min: 1,
        max: 600_000,
        meaning: "longest a hit waits for Redis, counted from its arrival (queue included); then 503",
    },
    // A batch carries every queued hit, so the queue bounds the batches too. 1024 hits is far
    // more than a healthy cluster ever has waiting (a round trip takes well under a millisecond)
    // and about 4 MB of pending requests when Redis stalls.
    maxPendingHits: {
        env: "MAX_PENDING_HITS",
        fallback: 1024,
        min: 1,
        max: 100_000,
        meaning: "hits waiting for Redis (queued or in flight); one more is answered 503 at once",
    },
    // About 12 KB per connection holding partial headers (measured): 4096 of them cost ~50 MB.
    maxConnections: {
        env: "MAX_CONNECTIONS",
        fallback: 4096,
        min: 1,
        max: 100_000,
        meaning: "open client connections on `PORT`; further connections are closed as soon as they are accepted",
    },
    // Bounds what one connection can pipeline, and makes long-lived keep-alive clients reconnect
    // now and then, so that they spread over new pods after a scale-out (the Service is L4).
    maxRequestsPerSocket: {
        env: "MAX_REQUESTS_PER_SOCKET",
        fallback: 1000,
        min: 1,
        max: 1_000_000,
        meaning: "requests one connection may send; the last is answered with `Connection: close` and the connection ends after it",
    },
    // Node parses every request of a read (up to ~2000 small ones) before any is answered, and a
    // pipelined request holds its request and response objects (~3 KB) until every earlier answer is
    // out: with Redis stalled, that is up to REQUEST_TIMEOUT_MS. This bounds it per connection.
    maxPipelinedRequests: {
        env: "MAX_PIPELINED_REQUESTS",
        fallback: 8,
        min: 1,
        max: 1000,
        meaning:
            "unanswered requests one connection may have at once (HTTP pipelining); one more closes the connection, its unanswered hits unacknowledged",
    },
    headersTimeoutMs: {
        env: "HEADERS_TIMEOUT_MS",
        fallback: 10_000,
        min: 1000,
        max: 120_000,
        meaning: "time to send a request's headers, from the connection's or the request's first byte; then 408 and close",
    },
    requestReceiveTimeoutMs: {
        env: "REQUEST_RECEIVE_TIMEOUT_MS",
        fallback: 30_000,
        min: 1000,
        max: 600_000,
        meaning: "time to send a whole request, body included; at least `HEADERS_TIMEOUT_MS`; then 408 and close",
    },
    // The Service is an L4 load balancer (GKE: a passthrough Network LB): clients hold their TCP
    // connections to the pods themselves and no proxy pools connections to us, so the old 620 s
    // (above Google's L7 Application LB, whose backend keep-alive is a fixed 600 s, to avoid 502s
    // on a reused connection we had just closed) only kept idle clients' sockets and memory.
    // Behind an L7 proxy (GKE Ingress or Gateway), set KEEP_ALIVE_TIMEOUT_MS above the proxy's
    // backend keep-alive (620000 for Google's), and size MAX_CONNECTIONS for the proxy's pool.
    keepAliveTimeoutMs: {
        env: "KEEP_ALIVE_TIMEOUT_MS",
        fallback: 5000,
        min: 1000,
        max: 1_200_000,
        meaning:
            "idle time allowed between two requests of a connection; behind an L7 load balancer set it above the LB's backend keep-alive (Google's: `620000`)",
    },
} as const satisfies Record<string, IntegerVariable>;

/** The tunable numbers of ServerConfig, one per SERVER_LIMITS row. */
export type ServerLimits = { readonly [K in keyof typeof SERVER_LIMITS]: number };

export interface ServerConfig extends ServerLimits {
    /** Seed nodes; the client discovers the rest of the cluster from them. */
    readonly redisNodes: readonly RedisSeed[];
    /** The ACL user (REDIS_USERNAME); undefined: `default`. */
    readonly redisUsername?: string;
    /** AUTH password; undefined means the cluster has no password. */
    readonly redisPassword?: string;
    /** A file holding the password (REDIS_PASSWORD_FILE), re-read while the server runs (app/credentials.ts). */
    readonly redisPasswordFile?: string;
    /** TLS to Redis: the server's certificate is checked against `redisCaFile`, or else the system CAs. */
    readonly redisTls: boolean;
    /** PEM file of the CA that signed Redis' certificate (TLS only). */
    readonly redisCaFile?: string;
    /** The public listener: hits and a bare readiness answer. */
    readonly port: number;
    readonly host: string;
    /**
     * The operators' listener (same host): /metrics, /healthz and /readyz with reasons; not exposed
     * by the Service. Undefined (METRICS_PORT unset): DEFAULT_METRICS_PORT, or any free port when that
     * one is taken, e.g. by a second local cluster's app; the start line says which.
     */
    readonly metricsPort?: number;
}

/** Where Prometheus finds the metrics when METRICS_PORT is unset (and the Deployment's `metrics` port). */
export const DEFAULT_METRICS_PORT = 9464;

function limitDefaults(): ServerLimits {
    const entries = Object.entries(SERVER_LIMITS).map(([field, v]) => [field, v.fallback]);
    return Object.fromEntries(entries) as unknown as ServerLimits;
}

/** Every default in one object: `{ ...SERVER_DEFAULTS, ...yours }` is a complete configuration but for the seeds. */
export const SERVER_DEFAULTS = { port: 8080, host: "0.0.0.0", ...limitDefaults() } as const;

/** A configuration from seeds and any overrides; every other value is its default (in-process servers). */
export function serverConfig(over: Partial<ServerConfig> & Pick<ServerConfig, "redisNodes">): ServerConfig {
    return { redisTls: false, ...SERVER_DEFAULTS, ...over };
}

/** Env variables the server reads (documented in the README's table). */
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

function integer(env: ServerEnv, v: IntegerVariable): number {
    const raw = env[v.env];
    if (raw === undefined || raw.trim() === "") return v.fallback;
    const value = raw.trim();
    if (!/^-?\d+$/.test(value) || Number(value) < v.min || Number(value) > v.max) {
        throw new ConfigError(`${v.env}: expected an integer ${v.min}-${v.max}, got "${raw}"`);
    }
    return Number(value);
}

function parseLimits(env: ServerEnv): ServerLimits {
    const entries = Object.entries(SERVER_LIMITS).map(([field, v]) => [field, integer(env, v)]);
    const limits = Object.fromEntries(entries) as unknown as ServerLimits;
    // Node refuses a headers timeout above the request timeout; say it in the variables' terms.
    if (limits.headersTimeoutMs > limits.requestReceiveTimeoutMs) {
        const { headersTimeoutMs: h, requestReceiveTimeoutMs: r } = SERVER_LIMITS;
        throw new ConfigError(
            `${r.env}: expected at least ${h.env} (${limits.headersTimeoutMs}), got "${limits.requestReceiveTimeoutMs}": the whole request includes its headers`,
        );
    }
    return limits;
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

    const caFile = env.REDIS_CA_FILE?.trim() || undefined;
    if (caFile !== undefined && tlsRaw !== "true") {
        throw new ConfigError(
            `REDIS_CA_FILE: only used with REDIS_TLS=true (got REDIS_TLS "${env.REDIS_TLS ?? ""}"); set REDIS_TLS=true or remove it`,
        );
    }

    const portRaw = env.PORT?.trim();
    // 0 = any free port (tests, benchmarks); the start line reports the real one.
    const port = portRaw ? parsePort(portRaw, "PORT", 0) : SERVER_DEFAULTS.port;
    const metricsRaw = env.METRICS_PORT?.trim();
    const metricsPort = metricsRaw ? parsePort(metricsRaw, "METRICS_PORT", 0) : undefined;
    if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) {
        throw new ConfigError(`METRICS_PORT: expected a port other than PORT (${port}), got "${metricsRaw}": metrics must not be public`);
    }

    const host = env.HOST?.trim() || SERVER_DEFAULTS.host;
    if (/\s/.test(host)) throw new ConfigError(`HOST: expected an address to listen on (e.g. 0.0.0.0 or ::), got "${env.HOST}"`);

    const password = env.REDIS_PASSWORD;
    const passwordFile = env.REDIS_PASSWORD_FILE?.trim() || undefined;
    if (passwordFile !== undefined && password) {
        throw new ConfigError("REDIS_PASSWORD_FILE: set either it or REDIS_PASSWORD, not both (the file is re-read; the variable is not)");
    }
    const username = env.REDIS_USERNAME?.trim() || undefined;
    if (username !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(username)) {
        throw new ConfigError(`REDIS_USERNAME: expected an ACL user name (letters, digits, '.', '_', '-'), got "${env.REDIS_USERNAME}"`);
    }
    return {
        redisNodes,
        ...(username !== undefined ? { redisUsername: username } : {}),
        redisPassword: password === undefined || password === "" ? undefined : password,
        ...(passwordFile !== undefined ? { redisPasswordFile: passwordFile } : {}),
        redisTls: tlsRaw === "true",
        ...(caFile !== undefined ? { redisCaFile: caFile } : {}),
        port,
        host,
        metricsPort,
        ...parseLimits(env),
    };
}

/** Variables that are not tunable numbers, as the README lists them (Markdown cells). */
const OTHER_VARIABLES: ReadonlyArray<readonly [names: string, fallback: string, allowed: string, meaning: string]> = [
    ["`REDIS_NODES`", "required", "`host:port[,host:port…]`", "seeds; on Kubernetes the pods' stable DNS names, from the formation"],
    ["`REDIS_USERNAME`", "`default`", "an ACL user name", "on Kubernetes `hitcounter`, the app's own user"],
    ["`REDIS_PASSWORD`", "none", "any string", "the user's password; or:"],
    [
        "`REDIS_PASSWORD_FILE`",
        "none",
        "a file, not with `REDIS_PASSWORD`",
        "the user's password, re-read every second: a rotated password is used for new connections without a restart (on Kubernetes the app user's Secret)",
    ],
    ["`REDIS_TLS`", "`false`", "`true`, `false`", "TLS to Redis; the server's name and certificate are verified"],
    [
        "`REDIS_CA_FILE`",
        "the system CAs",
        "a PEM file, with `REDIS_TLS=true`",
        "the CA Redis' certificate must chain to (on Kubernetes, the stack's `redis-ca` ConfigMap)",
    ],
    [
        "`PORT` / `HOST`",
        `\`${SERVER_DEFAULTS.port}\` / \`${SERVER_DEFAULTS.host}\``,
        "`0`–`65535` / an address",
        "public listener: `GET /` (a hit) and `GET /readyz` (200 or 503, no reason); `0` = any free port",
    ],
    [
        "`METRICS_PORT`",
        `\`${DEFAULT_METRICS_PORT}\``,
        "`0`–`65535`, not `PORT`",
        `operators' listener on \`HOST\`, not exposed by the Service: \`/metrics\`, \`/healthz\`, \`/readyz\` with its reason; when unset and ${DEFAULT_METRICS_PORT} is taken, any free port (printed at start)`,
    ],
];

/** The README's table of the server's environment (`npm run -s docs:app-env`). */
export function serverEnvironmentTable(): string {
    const rows = [
        ...OTHER_VARIABLES.map(([names, fallback, allowed, meaning]) => `| ${names} | ${fallback} | ${allowed} | ${meaning} |`),
        ...Object.values(SERVER_LIMITS).map(
            (v: IntegerVariable) => `| \`${v.env}\` | \`${v.fallback}\` | \`${v.min}\`–\`${v.max}\` | ${v.meaning} |`,
        ),
    ];
    return ["| variable | default | allowed | meaning |", "|---|---|---|---|", ...rows].join("\n");
}
