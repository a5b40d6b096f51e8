import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ConfigError, SERVER_DEFAULTS, SERVER_LIMITS, ServerConfig, parseServerConfig, serverEnvironmentTable } from "../../app/config";
import * as os from "os";
import { clusterOptions } from "../../app/redisClient";

/** The HTTP and queue limits of a configuration, in a fixed order. */
const limitsOf = (c: ServerConfig) => [
    c.maxConnections,
    c.maxRequestsPerSocket,
    c.maxPipelinedRequests,
    c.maxPendingHits,
    c.headersTimeoutMs,
    c.requestReceiveTimeoutMs,
    c.keepAliveTimeoutMs,
];

const base = { REDIS_NODES: "redis-0.redis-headless:6379,10.0.0.5:6380,[fd00::1]:6379" };

describe("hit-counter server configuration (app/config.ts)", () => {
    it("reads seeds and applies the documented defaults", () => {
        const c = parseServerConfig(base);
        assert.deepStrictEqual(c.redisNodes, [
            { host: "redis-0.redis-headless", port: 6379 },
            { host: "10.0.0.5", port: 6380 },
            { host: "fd00::1", port: 6379 },
        ]);
        assert.strictEqual(c.port, SERVER_DEFAULTS.port);
        assert.strictEqual(c.host, "0.0.0.0");
        assert.strictEqual(c.waitReplicas, 1);
        assert.strictEqual(c.waitTimeoutMs, SERVER_DEFAULTS.waitTimeoutMs);
        assert.strictEqual(c.redisTls, false);
        assert.strictEqual(c.redisPassword, undefined);
        assert.strictEqual(c.metricsPort, undefined, "unset: the default port, or any free one when it is taken");
        assert.deepStrictEqual(limitsOf(c), [4096, 1000, 8, 1024, 10_000, 30_000, 5000]);
    });

    it("every limit has a default within its bounds, and timeouts of seconds (the Service is L4: no 620 s keep-alive)", () => {
        for (const v of Object.values(SERVER_LIMITS)) assert.ok(v.min <= v.fallback && v.fallback <= v.max, v.env);
        for (const t of [SERVER_LIMITS.headersTimeoutMs, SERVER_LIMITS.requestReceiveTimeoutMs, SERVER_LIMITS.keepAliveTimeoutMs]) {
            assert.ok(t.fallback >= 1000 && t.fallback <= 30_000, `${t.env} = ${t.fallback} ms`);
        }
    });

    it("reads every variable when set", () => {
        const c = parseServerConfig({
            ...base,
            REDIS_PASSWORD: "s3cret",
            REDIS_TLS: "true",
            REDIS_CA_FILE: "/tls-ca/ca.crt",
            PORT: "9000",
            HOST: "127.0.0.1",
            WAIT_REPLICAS: "0",
            WAIT_TIMEOUT_MS: "50",
            REQUEST_TIMEOUT_MS: "1500",
            METRICS_PORT: "9100",
            MAX_CONNECTIONS: "100",
            MAX_REQUESTS_PER_SOCKET: "10",
            MAX_PIPELINED_REQUESTS: "2",
            MAX_PENDING_HITS: "20",
            HEADERS_TIMEOUT_MS: "2000",
            REQUEST_RECEIVE_TIMEOUT_MS: "2000",
            KEEP_ALIVE_TIMEOUT_MS: "620000",
        });
        assert.deepStrictEqual(
            [c.redisPassword, c.redisTls, c.port, c.host, c.waitReplicas, c.waitTimeoutMs, c.requestTimeoutMs, c.metricsPort],
            ["s3cret", true, 9000, "127.0.0.1", 0, 50, 1500, 9100],
        );
        assert.deepStrictEqual(limitsOf(c), [100, 10, 2, 20, 2000, 2000, 620_000]);
        assert.strictEqual(c.redisCaFile, "/tls-ca/ca.crt");
        assert.strictEqual(parseServerConfig({ ...base, PORT: "0", METRICS_PORT: "0" }).metricsPort, 0, "both on any free port");
    });

    const bad: Array<[string, Record<string, string>, RegExp]> = [
        ["REDIS_NODES missing", {}, /^REDIS_NODES: required/],
        ["REDIS_NODES without a port", { REDIS_NODES: "redis-0" }, /REDIS_NODES entry "redis-0": expected host:port/],
        ["REDIS_NODES with a bad port", { REDIS_NODES: "a:1,b:70000" }, /REDIS_NODES entry "b:70000": expected a port number 1-65535/],
        ["REDIS_NODES with an empty entry", { REDIS_NODES: "a:1,,b:2" }, /REDIS_NODES entry "": expected host:port/],
        ["PORT not a number", { ...base, PORT: "http" }, /^PORT: expected a port number 0-65535, got "http"/],
        ["WAIT_REPLICAS negative", { ...base, WAIT_REPLICAS: "-1" }, /^WAIT_REPLICAS: expected an integer 0-16, got "-1"/],
        ["WAIT_TIMEOUT_MS zero", { ...base, WAIT_TIMEOUT_MS: "0" }, /^WAIT_TIMEOUT_MS: expected an integer 1-60000/],
        ["REDIS_TLS yes", { ...base, REDIS_TLS: "yes" }, /^REDIS_TLS: expected "true" or "false", got "yes"/],
        ["METRICS_PORT = PORT", { ...base, PORT: "8080", METRICS_PORT: "8080" }, /^METRICS_PORT: expected a port other than PORT \(8080\)/],
        ["METRICS_PORT = default PORT", { ...base, METRICS_PORT: "8080" }, /^METRICS_PORT: expected a port other than PORT \(8080\)/],
        ["METRICS_PORT not a port", { ...base, METRICS_PORT: "metrics" }, /^METRICS_PORT: expected a port number 0-65535, got "metrics"/],
        ["MAX_CONNECTIONS zero", { ...base, MAX_CONNECTIONS: "0" }, /^MAX_CONNECTIONS: expected an integer 1-100000, got "0"/],
        [
            "MAX_REQUESTS_PER_SOCKET zero (unbounded)",
            { ...base, MAX_REQUESTS_PER_SOCKET: "0" },
            /^MAX_REQUESTS_PER_SOCKET: expected an integer 1-1000000/,
        ],
        ["MAX_PENDING_HITS huge", { ...base, MAX_PENDING_HITS: "1e9" }, /^MAX_PENDING_HITS: expected an integer 1-100000, got "1e9"/],
        [
            "HEADERS_TIMEOUT_MS in seconds",
            { ...base, HEADERS_TIMEOUT_MS: "10" },
            /^HEADERS_TIMEOUT_MS: expected an integer 1000-120000, got "10"/,
        ],
        [
            "REQUEST_RECEIVE_TIMEOUT_MS 10 min+",
            { ...base, REQUEST_RECEIVE_TIMEOUT_MS: "600001" },
            /^REQUEST_RECEIVE_TIMEOUT_MS: expected an integer 1000-600000/,
        ],
        [
            "REQUEST_RECEIVE_TIMEOUT_MS below HEADERS_TIMEOUT_MS",
            { ...base, HEADERS_TIMEOUT_MS: "20000", REQUEST_RECEIVE_TIMEOUT_MS: "15000" },
            /^REQUEST_RECEIVE_TIMEOUT_MS: expected at least HEADERS_TIMEOUT_MS \(20000\), got "15000"/,
        ],
        [
            "KEEP_ALIVE_TIMEOUT_MS unbounded",
            { ...base, KEEP_ALIVE_TIMEOUT_MS: "0" },
            /^KEEP_ALIVE_TIMEOUT_MS: expected an integer 1000-1200000, got "0"/,
        ],
    ];
    for (const [name, env, message] of bad) {
        it(`rejects ${name} with a message naming the variable`, () => {
            assert.throws(
                () => parseServerConfig(env),
                (err: Error) => err instanceof ConfigError && message.test(err.message),
            );
        });
    }

    it("the README's table of variables is the one generated from the declarations", () => {
        const readme = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");
        assert.ok(
            readme.includes(serverEnvironmentTable()),
            `README's hit-counter variables table differs; replace it with (npm run -s docs:app-env):\n${serverEnvironmentTable()}`,
        );
    });
});

describe("the app's Redis client options (app/redisClient.ts)", () => {
    const config = (env: Record<string, string>) =>
        parseServerConfig({ REDIS_NODES: "redis-0.redis-headless.redis.svc.cluster.local:6379", ...env });

    it("dials seeds by the name given, which TLS then verifies (a pod's certificate names its DNS name, not its IP)", async () => {
        const lookup = clusterOptions(config({})).dnsLookup;
        assert.ok(lookup, "a dnsLookup that keeps names");
        const resolved = await new Promise<string>((resolve, reject) =>
            lookup("redis-0.redis-headless.redis.svc.cluster.local", (e, a) => (e ? reject(e) : resolve(a))),
        );
        assert.strictEqual(resolved, "redis-0.redis-headless.redis.svc.cluster.local");
    });

    it("TLS with REDIS_CA_FILE trusts that CA only; without it the system CAs; no TLS without REDIS_TLS", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "app-ca-"));
        try {
            const ca = path.join(dir, "ca.crt");
            fs.writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
            assert.deepStrictEqual(clusterOptions(config({ REDIS_TLS: "true", REDIS_CA_FILE: ca })).redisOptions?.tls, {
                ca: fs.readFileSync(ca),
            });
            assert.deepStrictEqual(clusterOptions(config({ REDIS_TLS: "true" })).redisOptions?.tls, {});
            assert.strictEqual(clusterOptions(config({})).redisOptions?.tls, undefined);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
