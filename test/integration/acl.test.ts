/**
 * ACL users and password rotation on a real cluster of the local pod runtime (the StatefulSet's own
 * start script, ACL template and users Secret, formed by the engine as the admin user): `default` is
 * off; each user can run exactly what it is for; replication and failover work with the replication
 * user; and `rotate-password` changes every password under durable load with no refused hit, no
 * lost hit, a pod restarted mid-rotation accepting both passwords, and every old password refused
 * on every pod at the end.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import { Cluster, Redis } from "ioredis";
import { HitLoad, acknowledgedHitsLost, analyseAnswers } from "../../lib/hitLoad";
import { waitUntil } from "../../lib/poll";
import { masterOfHits } from "../../local/drill";
import { call } from "../../local/protocol";
import { rotateLocalPasswords } from "../../local/rotate";
import { readConfig, usersOf } from "../../local/state";
import { Started } from "../../local/up";
import { AclUserName } from "../../components/redis/acl";
import { loopbackBlocks } from "../support/loopbackBlocks";
import { FAST_TIMINGS, admin, podOf, redisCli, removeTempDirs, startInProcess, status, waitHealthy } from "../support/runtime";

const [BLOCK] = loopbackBlocks(__filename);

/** redis-cli as `user` with `password` against one pod; stdout and stderr. */
function cliAs(host: string, user: string, password: string, ...args: string[]): string {
    const r = spawnSync("redis-cli", ["--no-auth-warning", "-h", host, "-p", "6379", "--user", user, ...args], {
        encoding: "utf8",
        env: { ...process.env, REDISCLI_AUTH: password },
        timeout: 5000,
    });
    return `${r.stdout}${r.stderr}`.replace(/\r/g, "").trim();
}

/** redis-cli without authenticating. */
function anonymous(host: string, ...args: string[]): string {
    const r = spawnSync("redis-cli", ["-h", host, "-p", "6379", ...args], { encoding: "utf8", timeout: 5000 });
    return `${r.stdout}${r.stderr}`.replace(/\r/g, "").trim();
}

describe("ACL users on the local pod runtime (real redis-server, the pods' own start script)", function () {
    this.timeout(240_000);
    let cluster: Started;
    let users: Record<AclUserName, string>;
    const config = () => readConfig(cluster.layout) as NonNullable<ReturnType<typeof readConfig>>;
    const host = () => cluster.summary.pods[0].address;
    /** What the ACL says of `user` running `args` (ACL DRYRUN, as admin): "OK" or why not. */
    const dryRun = (user: string, ...args: string[]) => cliAs(host(), "admin", users.admin, "ACL", "DRYRUN", user, ...args);

    before(async () => {
        cluster = await startInProcess(BLOCK, FAST_TIMINGS, "acl");
        users = usersOf(cluster.layout, config());
    });
    after(async () => {
        await cluster?.supervisor?.stop();
        removeTempDirs();
    });

    it("the formation ran as admin; `default` is off: without a user nothing runs, and no password makes `default` work", () => {
        assert.strictEqual(cluster.summary.password, users.admin);
        assert.match(cliAs(host(), "admin", users.admin, "CLUSTER", "INFO"), /cluster_state:ok/);
        for (const p of cluster.summary.pods) {
            assert.match(anonymous(p.address, "PING"), /NOAUTH Authentication required/, p.name);
            assert.match(anonymous(p.address, "AUTH", users.admin), /WRONGPASS/, "AUTH <password> is the default user, which is off");
            assert.match(cliAs(p.address, "admin", users.admin, "ACL", "GETUSER", "default"), /flags\n+off/, p.name);
        }
        // Each user has its own password: one user's does not open another.
        assert.match(cliAs(host(), "admin", users.hitcounter, "PING"), /WRONGPASS/);
    });

    it("the hit counter's user: INCRBY/GET on `hits`, WAIT and the cluster views; not FLUSHALL, CONFIG, KEYS, DEBUG or any other key", () => {
        const app = (...args: string[]) => cliAs(host(), "hitcounter", users.hitcounter, "-c", ...args);
        assert.match(app("INCRBY", "hits", "0"), /^\d+$/);
        assert.match(app("GET", "hits"), /^\d+$/);
        assert.match(app("WAIT", "0", "100"), /^\d+$/);
        assert.match(app("CLUSTER", "SLOTS"), /\d/);
        assert.match(app("CLUSTER", "INFO"), /cluster_state:ok/);
        // DEBUG is also off in the server (enable-debug-command no), which would answer first: ask the ACL itself.
        assert.match(dryRun("hitcounter", "DEBUG", "SLEEP", "0"), /no permissions to run the 'debug' command/);
        for (const denied of [["FLUSHALL"], ["CONFIG", "GET", "maxmemory"], ["KEYS", "*"], ["SHUTDOWN"]]) {
            assert.match(app(...denied), /NOPERM this user has no permissions to run the '[a-z|]+' command/, denied.join(" "));
        }
        for (const other of [
            ["SET", "other", "x"],
            ["GET", "other"],
            ["INCRBY", "hits:other", "1"],
            ["DEL", "hits"],
        ]) {
            assert.match(app(...other), /NOPERM/, other.join(" "));
        }
    });

    it("the exporter's user reads INFO, CONFIG and CLUSTER INFO but cannot write or read a key", () => {
        const exporter = (...args: string[]) => cliAs(host(), "exporter", users.exporter, "-c", ...args);
        assert.match(exporter("INFO", "memory"), /used_memory:/);
        assert.match(exporter("CONFIG", "GET", "maxmemory"), /maxmemory/);
        assert.match(exporter("CLUSTER", "INFO"), /cluster_state:ok/);
        for (const write of [
            ["SET", "x", "1"],
            ["INCRBY", "hits", "1"],
            ["DEL", "hits"],
            ["GET", "hits"],
            ["CONFIG", "SET", "maxmemory", "1"],
            ["FLUSHALL"],
        ]) {
            assert.match(exporter(...write), /NOPERM/, write.join(" "));
        }
    });

    it("the client user (other applications) reads and writes any key but runs no administration or dangerous command", async () => {
        const client = new Cluster(
            cluster.summary.pods.map((p) => ({ host: p.address, port: 6379 })),
            { redisOptions: { username: "client", password: users.client } },
        );
        try {
            await client.set("shop:{cart}:1", "apples");
            assert.strictEqual(await client.get("shop:{cart}:1"), "apples");
        } finally {
            client.disconnect();
        }
        for (const denied of [["FLUSHALL"], ["CONFIG", "SET", "appendonly", "no"], ["KEYS", "*"], ["CLUSTER", "RESET"], ["ACL", "LIST"]]) {
            assert.match(cliAs(host(), "client", users.client, ...denied), /NOPERM/, denied.join(" "));
        }
        assert.match(dryRun("client", "DEBUG", "SEGFAULT"), /no permissions to run the 'debug' command/);
    });

    it("replicas authenticate to their masters as the replication user, which can do nothing else; a failover keeps every link up", async () => {
        let s = await waitHealthy(cluster.layout);
        for (const r of s.pods.filter((p) => p.role === "replica")) {
            assert.match(redisCli(r.address, admin(users.admin), "INFO", "replication"), /master_link_status:up/, r.name);
            assert.match(redisCli(r.address, admin(users.admin), "CONFIG", "GET", "masteruser"), /masteruser\nreplication/);
        }
        assert.match(cliAs(host(), "replication", users.replication, "GET", "hits"), /NOPERM/);
        assert.match(cliAs(host(), "replication", users.replication, "CLUSTER", "NODES"), /NOPERM/);
        // A manual failover (as admin), then the old master follows its old replica with the replication user.
        const replica = s.pods.find((p) => p.role === "replica") as (typeof s.pods)[number];
        const oldMaster = replica.master as string;
        assert.strictEqual(redisCli(replica.address, admin(users.admin), "CLUSTER", "FAILOVER"), "OK");
        await waitUntil(
            "the replica promoted and its old master following it with its link up",
            async () => {
                s = await status(cluster.layout);
                if (podOf(s, replica.name).role !== "master") return `${replica.name} is ${podOf(s, replica.name).role}`;
                const info = redisCli(podOf(s, oldMaster).address, admin(users.admin), "INFO", "replication");
                return /master_link_status:up/.test(info) ? undefined : `${oldMaster}: ${info.split("\n").slice(0, 4).join(" ")}`;
            },
            { timeoutMs: 30_000, intervalMs: 200 },
        );
        await waitHealthy(cluster.layout);
    });

    it("rotate-password under durable load: 0 refused, 0 lost; a pod killed after phase 1 comes back accepting both; every old password refused at the end", async () => {
        const s = await waitHealthy(cluster.layout);
        const hitsOwner = await masterOfHits(cluster.layout);
        // A replica of another shard: killing it does not touch the durability (WAIT 1) of `hits`.
        const victim = s.pods.find((p) => p.role === "replica" && p.master !== hitsOwner.name) as (typeof s.pods)[number];
        const before = { ...users };
        const load = new HitLoad({ url: `${s.app?.url}/`, clients: 8 });
        let restartedAccepts: { old: string; hashes: string } | undefined;
        const oldStillWorks: boolean[] = [];
        let appMoved = false;
        try {
            await new Promise((r) => setTimeout(r, 1000));
            const result = await rotateLocalPasswords(cluster.layout, {
                log: () => undefined,
                afterPhase: async (phase) => {
                    // Until the prune, a client still on the old password connects anywhere (new connections too).
                    if (phase < 3)
                        oldStillWorks.push(s.pods.every((p) => cliAs(p.address, "hitcounter", before.hitcounter, "PING") === "PONG"));
                    if (phase === 2) appMoved = usersOf(cluster.layout, config()).hitcounter !== before.hitcounter;
                    if (phase !== 1) return;
                    await call(cluster.layout, { verb: "kill", pod: victim.name });
                    await waitUntil(
                        `${victim.name} restarted and Ready`,
                        async () =>
                            (await status(cluster.layout)).pods.find((p) => p.name === victim.name && p.ready && p.restarts > 0)
                                ? undefined
                                : "not yet",
                        { timeoutMs: 60_000, intervalMs: 200 },
                    );
                    const now = usersOf(cluster.layout, config());
                    // Its ACL file came back from the volume: the old password and the new one (two hashes).
                    const user = cliAs(victim.address, "admin", before.admin, "ACL", "GETUSER", "hitcounter");
                    restartedAccepts = {
                        old: cliAs(victim.address, "hitcounter", before.hitcounter, "PING"),
                        hashes: String(
                            (/passwords\n((?:[0-9a-f]{64}\n?)*)/.exec(user)?.[1] ?? "").trim().split("\n").filter(Boolean).length,
                        ),
                    };
                    assert.deepStrictEqual(now, before, "phase 1 leaves the users Secret as it was");
                },
            });
            await new Promise((r) => setTimeout(r, 1000));
            await load.stop();
            assert.deepStrictEqual(result.users, ["admin", "replication", "hitcounter", "client", "exporter"]);
            assert.deepStrictEqual(result.oldRefused, { admin: true, replication: true, hitcounter: true, client: true, exporter: true });
        } finally {
            await load.stop();
        }
        assert.deepStrictEqual(oldStillWorks, [true, true], "the old password works on every pod until the clients have moved");
        assert.ok(appMoved, "phase 2 gave the app its new password before the prune");
        assert.deepStrictEqual(
            restartedAccepts,
            { old: "PONG", hashes: "2" },
            "the pod restarted mid-rotation accepts the old and the new password",
        );
        const after = usersOf(cluster.layout, config());
        for (const u of Object.keys(before) as AclUserName[]) assert.notStrictEqual(after[u], before[u], u);
        const f = analyseAnswers(load.answers);
        const counter = Number(cliAs(hitsOwner.address, "hitcounter", after.hitcounter, "-c", "GET", "hits"));
        console.log(`      rotation under load: ${f.acknowledged} acknowledged, ${f.failed} refused, counter ${counter}`);
        assert.ok(f.acknowledged > 50, `too little load to mean anything (${f.acknowledged} hits)`);
        assert.strictEqual(f.failed, 0, `refused hits: ${JSON.stringify(load.answers.filter((a) => a.status !== 200).slice(0, 3))}`);
        assert.strictEqual(acknowledgedHitsLost(f, counter), 0);
        // Every pod: only the new passwords; replication links up with the new replication password.
        const healthy = await waitHealthy(cluster.layout);
        for (const p of healthy.pods) {
            assert.match(cliAs(p.address, "hitcounter", before.hitcounter, "PING"), /WRONGPASS/, p.name);
            assert.strictEqual(cliAs(p.address, "hitcounter", after.hitcounter, "PING"), "PONG", p.name);
            if (p.role === "replica") assert.match(redisCli(p.address, admin(after.admin), "INFO", "replication"), /master_link_status:up/);
        }
        // The app reconnects with its new password: a new connection works.
        const app = new Redis({
            host: hitsOwner.address,
            port: 6379,
            username: "hitcounter",
            password: after.hitcounter,
            lazyConnect: true,
        });
        try {
            await app.connect();
            assert.strictEqual(await app.ping(), "PONG");
        } finally {
            app.disconnect();
        }
    });
});
