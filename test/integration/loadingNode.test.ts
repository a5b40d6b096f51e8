/**
 * The app's Redis client against a real redis-server that is still loading its data, as a crashed
 * master is when the kubelet restarts it at once (loopback block 127.0.155.x). ioredis's ready check
 * asks INFO and, while `loading:1`, waits max(loading_eta_seconds, 1) s before asking again, holding
 * every command queued on that connection; the app's hits then waited a whole second after a crash
 * even though a replica had taken over within 0.3 s (measured: 1.2 s write gaps after a rolling
 * restart had grown the AOF). The client options cap that wait (`maxLoadingRetryTime`).
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Redis from "ioredis";
import { setTimeout as sleep } from "timers/promises";
import { parseServerConfig } from "../../app/config";
import { CLIENT_FAILOVER_SETTINGS, clusterOptions } from "../../app/redisClient";
import { loopbackAddresses, redisServerBinary } from "../../local/redisNode";
import { loopbackBlocks } from "../support/loopbackBlocks";

const [BLOCK] = loopbackBlocks(__filename);
const [HOST] = loopbackAddresses(BLOCK, 1);
const PORT = 6379;
const KEYS = 3000;
/** Microseconds per key while loading (a debug setting of Redis): 3000 keys load in about 3 s. */
const KEY_LOAD_DELAY_US = 1000;

function startRedis(dir: string, extra: string[]): ChildProcess {
    const args = ["--bind", HOST, "--port", String(PORT), "--dir", dir, "--save", "", "--appendonly", "no", ...extra];
    return spawn(redisServerBinary(), args, { stdio: "ignore" });
}

async function stopped(p: ChildProcess): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    await new Promise((resolve) => {
        p.once("exit", resolve);
        p.kill("SIGKILL");
    });
}

describe("the app's Redis client and a node still loading its data (real redis-server)", function () {
    this.timeout(60_000);
    let dir: string;
    let server: ChildProcess | undefined;
    const clients: Redis[] = [];

    beforeEach(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "loading-node-"));
        // A dump.rdb of KEYS keys, written by a first server.
        server = startRedis(dir, []);
        // Retried every 50 ms until the server listens; the commands wait in the offline queue.
        const writer = new Redis({ host: HOST, port: PORT, retryStrategy: () => 50 });
        writer.on("error", () => undefined); // refusals until it listens
        clients.push(writer);
        const pipeline = writer.pipeline();
        for (let i = 0; i < KEYS; i++) pipeline.set(`key:${i}`, String(i));
        await pipeline.exec();
        await writer.save();
        writer.disconnect();
        await stopped(server);
    });
    afterEach(async () => {
        for (const c of clients.splice(0)) c.disconnect();
        if (server) await stopped(server);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("asks a loading node again within the client's loading retry time, not after Redis's estimate of at least 1 s", async () => {
        // Loads slowly and answers between keys, so INFO says loading:1 for about 3 s.
        server = startRedis(dir, ["--key-load-delay", String(KEY_LOAD_DELAY_US), "--loading-process-events-interval-bytes", "1024"]);
        const options = clusterOptions(parseServerConfig({ REDIS_NODES: `${HOST}:${PORT}` })).redisOptions;
        const client = new Redis({ ...options, host: HOST, port: PORT, retryStrategy: () => 50 });
        client.on("error", () => undefined); // refusals until it listens
        clients.push(client);
        // "connect": the socket is up and the ready check (INFO) is sent now; Redis, loading for under
        // a second, estimates 1 s left, and ioredis by default asks again only after that estimate.
        await new Promise<void>((resolve) => client.once("connect", () => resolve()));
        await sleep(900);
        const observer = new Redis({ host: HOST, port: PORT, enableReadyCheck: false, retryStrategy: () => 50 });
        clients.push(observer);
        const stats = await observer.info("commandstats");
        const readyChecks = Number(/cmdstat_info:calls=(\d+)/.exec(stats)?.[1] ?? 0);
        // Asked every 100 ms that is about 9; with ioredis's default, 1. The bound leaves room for a slow machine.
        assert.ok(
            readyChecks >= 3,
            `the client asked INFO ${readyChecks} times in its first 900 ms against a loading node; expected at least 3 (every ${CLIENT_FAILOVER_SETTINGS.maxLoadingRetryTime} ms)`,
        );
        await new Promise<void>((resolve) => (client.status === "ready" ? resolve() : client.once("ready", () => resolve())));
        assert.equal(await client.dbsize(), KEYS, "the client is ready once every key is loaded");
    });
});
