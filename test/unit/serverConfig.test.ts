import * as assert from "assert";
import { ConfigError, SERVER_DEFAULTS, parseServerConfig } from "../../app/config";

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
    });

    it("reads every variable when set", () => {
        const c = parseServerConfig({
            ...base,
            REDIS_PASSWORD: "s3cret",
            REDIS_TLS: "true",
            PORT: "9000",
            HOST: "127.0.0.1",
            WAIT_REPLICAS: "0",
            WAIT_TIMEOUT_MS: "50",
            REQUEST_TIMEOUT_MS: "1500",
        });
        assert.deepStrictEqual(
            [c.redisPassword, c.redisTls, c.port, c.host, c.waitReplicas, c.waitTimeoutMs, c.requestTimeoutMs],
            ["s3cret", true, 9000, "127.0.0.1", 0, 50, 1500],
        );
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
    ];
    for (const [name, env, message] of bad) {
        it(`rejects ${name} with a message naming the variable`, () => {
            assert.throws(
                () => parseServerConfig(env),
                (err: Error) => err instanceof ConfigError && message.test(err.message),
            );
        });
    }
});
