/**
 * components/redis/probe.sh against real redis-server processes (loopback block
 * 127.0.31.x), and the container's real entry (`sh node-start.sh redis-server
 * <runtime conf>`) producing a conf redis-server accepts.
 *
 * Readiness semantics under test: a node that never joined a cluster is ready (the
 * StatefulSet's pods must all be up before formation); once formed it is ready only
 * while cluster_state is ok.
 */
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderRedisConf } from "../../components/redis/redisConf";
import { LocalCluster, startLocalCluster } from "../../local/cluster";
import { LocalRedisNode } from "../../local/redisNode";
import { NODE_START_SCRIPT, POSIX_SHELLS, writeUsers } from "./startscriptSupport";
import { setTimeout as sleep } from "timers/promises";

const PROBE_SCRIPT = path.resolve(__dirname, "../../components/redis/probe.sh");
const NODE_TIMEOUT_MS = 1000;

interface ProbeResult {
    status: number | null;
    output: string;
}

/** A bare node's password (the default user), or the mounted users Secret of a pod (the admin user, as in the StatefulSet). */
type ProbeAuth = string | { readonly usersDir: string };

function probe(mode: string, host: string, auth: ProbeAuth, env: Record<string, string> = {}): ProbeResult {
    const credentials = typeof auth === "string" ? { REDIS_PASSWORD: auth } : { REDIS_USERS_DIR: auth.usersDir };
    const r = spawnSync(POSIX_SHELLS[0][0], [...POSIX_SHELLS[0].slice(1), PROBE_SCRIPT, mode], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...credentials, PROBE_HOST: host, PROBE_CLIENT_PORT: "6379", ...env },
        timeout: 10_000,
    });
    return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

async function probeUntil(mode: string, host: string, password: ProbeAuth, status: number, timeoutMs: number): Promise<ProbeResult> {
    const deadline = Date.now() + timeoutMs;
    let last = probe(mode, host, password);
    while (last.status !== status && Date.now() < deadline) {
        await sleep(200);
        last = probe(mode, host, password);
    }
    return last;
}

describe("probe.sh against real redis-server", function () {
    this.timeout(60_000);
    const dirs: string[] = [];
    const pids: number[] = [];
    let cluster: LocalCluster | undefined;

    after(async () => {
        await cluster?.stop();
        for (const pid of pids) {
            try {
                process.kill(pid, "SIGTERM");
            } catch {
                // already gone
            }
        }
        await sleep(200);
        for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    function tempDir(label: string): string {
        const d = fs.mkdtempSync(path.join(os.tmpdir(), `probe-${label}-`));
        dirs.push(d);
        return d;
    }

    describe("a node started through the container entry (node-start.sh execs redis-server)", () => {
        const host = "127.0.31.21";
        // What redis.conf quoting must escape (no spaces: the ACL file splits on them).
        const password = `pr"obe\\'pw'$x-0123456789`;
        let users: { usersDir: string };

        before(async () => {
            const dir = tempDir("entry");
            const dataDir = path.join(dir, "data");
            fs.mkdirSync(dataDir);
            // What the ConfigMap ships, plus what differs locally (one loopback address per node).
            const shared =
                renderRedisConf({ nodeTimeoutMs: NODE_TIMEOUT_MS, dataDir, port: 6379, preferredEndpointType: "ip" }) +
                [
                    `bind ${host}`,
                    `bind-source-addr ${host}`,
                    `pidfile ${dataDir}/redis.pid`,
                    `logfile ${dataDir}/redis.log`,
                    "daemonize no",
                    "",
                ].join("\n");
            fs.writeFileSync(path.join(dir, "redis.conf"), shared);
            const runtimeConf = path.join(dir, "run", "redis.conf");
            const usersEnv = writeUsers(dir, { admin: password, replication: password });
            users = { usersDir: usersEnv.REDIS_USERS_DIR };
            const child = spawn(POSIX_SHELLS[0][0], [...POSIX_SHELLS[0].slice(1), NODE_START_SCRIPT, "redis-server", runtimeConf], {
                detached: true,
                stdio: "ignore",
                env: {
                    PATH: process.env.PATH ?? "/usr/bin:/bin",
                    POD_NAME: "redis-0",
                    POD_IP: host,
                    POD_HOSTNAME: "redis-0.local",
                    ...usersEnv,
                    REDIS_DATA_DIR: dataDir,
                    REDIS_SHARED_CONF: path.join(dir, "redis.conf"),
                    REDIS_RUNTIME_CONF: runtimeConf,
                },
            });
            child.unref();
            assert.ok(child.pid);
            pids.push(child.pid);
            const up = await probeUntil("live", host, users, 0, 10_000);
            assert.strictEqual(
                up.status,
                0,
                `node did not come up: ${up.output}\n${fs.existsSync(`${dataDir}/redis.log`) ? fs.readFileSync(`${dataDir}/redis.log`, "utf8") : ""}`,
            );
        });

        it("redis-server accepts the runtime conf and the ACL file: admin's password with quotes and backslash authenticates, and the node announces its hostname", () => {
            const r = spawnSync(
                "redis-cli",
                ["--no-auth-warning", "-h", host, "-p", "6379", "--user", "admin", "CONFIG", "GET", "cluster-announce-hostname"],
                {
                    encoding: "utf8",
                    env: { ...process.env, REDISCLI_AUTH: password },
                },
            );
            assert.strictEqual(r.stdout.trim(), "cluster-announce-hostname\nredis-0.local");
        });

        it("an unformed node is live and ready (formation needs every pod ready first)", () => {
            assert.deepStrictEqual(probe("live", host, users), { status: 0, output: "" });
            assert.deepStrictEqual(probe("ready", host, users), {
                status: 0,
                output: "ready: not part of a cluster yet (waiting to be formed)",
            });
        });

        it("a wrong password is neither live nor ready, and says why; so is the default user, which is off", () => {
            const wrong = { usersDir: writeUsers(tempDir("wrong"), { admin: "not-the-admin-password" }).REDIS_USERS_DIR };
            const ready = probe("ready", host, wrong);
            assert.strictEqual(ready.status, 1);
            assert.match(ready.output, /^not ready: PING answered 'AUTH failed: WRONGPASS/);
            assert.strictEqual(probe("live", host, wrong).status, 1);
            assert.match(probe("live", host, password).output, /WRONGPASS/, "the default user with the admin password");
        });

        it("live releases a held election its failover agent left (no recorded start, or one older than an agent holds it), and keeps a fresh one", () => {
            const holdFile = path.join(tempDir("hold"), "election-hold");
            const cli = (...args: string[]) =>
                spawnSync("redis-cli", ["--no-auth-warning", "-h", host, "-p", "6379", "--user", "admin", ...args], {
                    encoding: "utf8",
                    env: { ...process.env, REDISCLI_AUTH: password },
                }).stdout.trim();
            const held = () => cli("CONFIG", "GET", "cluster-replica-no-failover").split("\n")[1];
            /** A hold as the agent sets it: its start in the file (none: no file), then the setting. */
            const hold = (since?: number) => {
                if (since === undefined) fs.rmSync(holdFile, { force: true });
                else fs.writeFileSync(holdFile, `${since}\n`);
                assert.strictEqual(cli("CONFIG", "SET", "cluster-replica-no-failover", "yes"), "OK");
            };
            const live = () => probe("live", host, users, { ELECTION_HOLD_FILE: holdFile });
            try {
                hold(Date.now());
                assert.deepStrictEqual(live(), { status: 0, output: "" });
                assert.strictEqual(held(), "yes", "a fresh hold was released");
                // The agent never holds longer than 2 x node timeout + 2 s; the probe allows 5 s more.
                hold(Date.now() - (2 * NODE_TIMEOUT_MS + 7000) + 2000);
                assert.strictEqual(live().status, 0);
                assert.strictEqual(held(), "yes", "a hold within an agent's longest was released");
                hold(Date.now() - (2 * NODE_TIMEOUT_MS + 7000) - 1000);
                const old = live();
                assert.strictEqual(old.status, 0);
                assert.match(old.output, /^released a held election its failover agent left \(held since \d+\)$/);
                assert.strictEqual(held(), "no");
                assert.ok(!fs.existsSync(holdFile), "the stale hold's file stayed");
                hold();
                assert.match(live().output, /^released a held election its failover agent left \(held since an unrecorded time\)$/);
                assert.strictEqual(held(), "no");
            } finally {
                cli("CONFIG", "SET", "cluster-replica-no-failover", "no");
            }
        });

        it("an unknown mode is a usage error", () => {
            const r = probe("healthy", host, users);
            assert.strictEqual(r.status, 2);
            assert.match(r.output, /usage: probe\.sh live\|ready/);
        });
    });

    it("no server listening: not live", () => {
        const r = probe("live", "127.0.31.99", "x");
        assert.strictEqual(r.status, 1);
        assert.match(r.output, /not live: PING answered 'Could not connect/);
    });

    describe("a formed cluster (3 masters)", () => {
        before(async () => {
            cluster = await startLocalCluster({
                masters: 3,
                replicasPerMaster: 0,
                dir: tempDir("formed"),
                block: 31,
                nodeTimeoutMs: NODE_TIMEOUT_MS,
            });
        });

        it("cluster_state:ok -> every node ready", () => {
            for (const n of cluster!.nodes) assert.deepStrictEqual(probe("ready", n.host, cluster!.password), { status: 0, output: "" });
        });

        it("a formed node that lost the majority (cluster_state:fail) is live but not ready; ready again once the others are back", async () => {
            const c = cluster!;
            const [survivor, ...stopped] = c.nodes;
            await Promise.all(stopped.map((n) => n.stop()));

            const down = await probeUntil("ready", survivor.host, c.password, 1, 15_000);
            assert.strictEqual(down.status, 1, down.output);
            assert.match(down.output, /^not ready: cluster_state:fail \(3 known nodes, 16384 slots assigned\)$/);
            assert.strictEqual(probe("live", survivor.host, c.password).status, 0);

            const restarted = await LocalRedisNode.startAll(stopped.map((n) => n.spec));
            c.nodes.splice(1, restarted.length, ...restarted);
            const up = await probeUntil("ready", survivor.host, c.password, 0, 15_000);
            assert.strictEqual(up.status, 0, up.output);
        });

        it("a replica is Ready only once its link is up and its initial sync is done (a roll never stops its master before)", async () => {
            const c = cluster!;
            const master = c.nodes[0];
            const cli = (host: string, ...args: string[]) =>
                spawnSync("redis-cli", ["--no-auth-warning", "-h", host, "-p", "6379", ...args], {
                    encoding: "utf8",
                    env: { ...process.env, REDISCLI_AUTH: c.password },
                }).stdout.trim();
            // The master holds every initial sync back (diskless, with a delay far beyond the test).
            assert.strictEqual(cli(master.host, "CONFIG", "SET", "repl-diskless-sync", "yes", "repl-diskless-sync-delay", "3600"), "OK");
            const replica = await LocalRedisNode.start({
                host: "127.0.31.31",
                dir: tempDir("replica"),
                password: c.password,
                nodeTimeoutMs: NODE_TIMEOUT_MS,
            });
            pids.push(replica.pid);
            try {
                assert.strictEqual(cli(replica.host, "CLUSTER", "MEET", master.host, "6379"), "OK");
                const masterId = cli(master.host, "CLUSTER", "MYID");
                const deadline = Date.now() + 15_000;
                while (cli(replica.host, "CLUSTER", "REPLICATE", masterId) !== "OK" && Date.now() < deadline) await sleep(100);
                // Until gossip has told it the whole cluster, its cluster_state is not ok yet: wait for that to pass.
                let held = probe("ready", replica.host, c.password);
                const joinedBy = Date.now() + 15_000;
                while (/cluster_state/.test(held.output) && Date.now() < joinedBy) {
                    await sleep(100);
                    held = probe("ready", replica.host, c.password);
                }
                assert.strictEqual(held.status, 1, `a replica whose initial sync is held back is Ready: ${held.output}`);
                assert.match(held.output, /^not ready: a replica whose link to its master is down \(initial sync in progress: [01]\)$/);
                assert.strictEqual(probe("live", replica.host, c.password).status, 0);
                assert.strictEqual(cli(master.host, "CONFIG", "SET", "repl-diskless-sync-delay", "0"), "OK");
                const synced = await probeUntil("ready", replica.host, c.password, 0, 15_000);
                assert.strictEqual(synced.status, 0, synced.output);
                assert.match(cli(replica.host, "INFO", "replication"), /master_link_status:up/);
            } finally {
                // Back to the shipped disk-based sync, so later tests see the node as shipped.
                cli(master.host, "CONFIG", "SET", "repl-diskless-sync", "no", "repl-diskless-sync-delay", "5");
                await replica.stop();
            }
        });
    });
});
