/**
 * LocalRedisNode against real redis-server: a start only succeeds when the process it
 * started is the one answering (loopback block 127.0.9.x).
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isAlive } from "../../lib/process";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";

describe("LocalRedisNode (real redis-server)", function () {
    this.timeout(30_000);
    const [host, otherHost] = loopbackAddresses(9, 2);
    const password = "node-test";
    let dir: string;
    const started: LocalRedisNode[] = [];

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "redis-node-"));
    });
    afterEach(async () => {
        await Promise.all(started.splice(0).map((n) => n.stop("SIGKILL")));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("starts a node that answers as the process it started, and stops it", async () => {
        const node = await LocalRedisNode.start({ host, dir: path.join(dir, "a"), password, nodeTimeoutMs: 1000 });
        started.push(node);
        assert.equal(fs.readFileSync(path.join(dir, "a", "redis.pid"), "utf8").trim(), String(node.pid));
        await node.stop("SIGTERM");
        assert.equal(node.isAlive(), false);
    });

    it("refuses an address another redis-server already serves, naming that process, and leaves nothing running", async () => {
        const first = await LocalRedisNode.start({ host, dir: path.join(dir, "first"), password, nodeTimeoutMs: 1000 });
        started.push(first);
        await assert.rejects(LocalRedisNode.start({ host, dir: path.join(dir, "second"), password, nodeTimeoutMs: 1000 }), (e: Error) => {
            assert.match(
                e.message,
                new RegExp(`${host.replace(/\./g, "\\.")}:6379 is already served by another redis-server \\(pid ${first.pid}\\)`),
            );
            return true;
        });
        assert.ok(first.isAlive(), "the node that held the address is left alone");
        // The second process either never bound or was stopped: no pid of it may remain.
        const pidFile = path.join(dir, "second", "redis.pid");
        if (fs.existsSync(pidFile)) assert.equal(isAlive(Number(fs.readFileSync(pidFile, "utf8"))), false);
    });

    it("startAll: when one node cannot start, the others it started are stopped before the error", async () => {
        started.push(await LocalRedisNode.start({ host, dir: path.join(dir, "blocker"), password, nodeTimeoutMs: 1000 }));
        await assert.rejects(
            LocalRedisNode.startAll([
                { host, dir: path.join(dir, "taken"), password, nodeTimeoutMs: 1000 },
                { host: otherHost, dir: path.join(dir, "free"), password, nodeTimeoutMs: 1000 },
            ]),
            /is already served by another redis-server/,
        );
        const ping = spawnSync("redis-cli", ["--no-auth-warning", "-h", otherHost, "PING"], {
            env: { ...process.env, REDISCLI_AUTH: password },
            encoding: "utf8",
            timeout: 5000,
        });
        assert.notEqual(ping.stdout.trim(), "PONG", `nothing may answer on ${otherHost} after the failed startAll`);
        assert.match(ping.stdout + ping.stderr, /Connection refused/);
    });
});
