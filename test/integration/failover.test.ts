/**
 * Failover without waiting for timeouts, through the local pod runtime (3x1, real redis-server, the
 * StatefulSet's own pods with their preStop handover and failover agent), under durable load:
 * - a killed master's in-sync replica takes over at once (CLUSTER FAILOVER FORCE by its agent);
 * - a master frozen for less than the node timeout is left alone: no takeover, same process;
 * - a master frozen longer is judged by Redis (FAIL); its replica's agent, holding the node's
 *   automatic election while the master is silent, runs it the moment FAIL comes;
 * - a stale replica never takes over: its master comes back and stays master, as Redis decides;
 * - a deleted master hands its slots to its replica (a coordinated CLUSTER FAILOVER) before it stops;
 * - a short seeded chaos run ends with every acknowledged hit in Redis and the cluster whole.
 * Who took over, and how, is read from the pods' logs (Redis's own lines and the agent's); times are
 * printed, never asserted. Kubelet: restarts at once (no back-off), probes 5x as often.
 */
import * as assert from "assert";
import * as fs from "fs";
import { setTimeout as sleep } from "timers/promises";
import { Cluster } from "ioredis";
import { pickFreeBlock } from "../../lib/hitLoad";
import { waitUntil } from "../../lib/poll";
import { runChaos } from "../../local/chaos";
import { DrillReport, masterOfHits, runDrill } from "../../local/drill";
import { PodView, StatusView, call } from "../../local/protocol";
import { readConfig, usersOf } from "../../local/state";
import { Started } from "../../local/up";
import { Credentials, FAST_TIMINGS, admin, podOf, redisCli, removeTempDirs, startInProcess, status, waitHealthy } from "../support/runtime";

function assertNothingLost(r: DrillReport): void {
    assert.ok(r.windowMs !== undefined, "writes never succeeded again after the disruption");
    assert.ok(
        r.acknowledgedBefore > 0 && r.acknowledgedAfter > 0,
        `the load must straddle the disruption (${r.acknowledgedBefore} before, ${r.acknowledgedAfter} after)`,
    );
    assert.strictEqual(r.lost, 0, `acknowledged hits lost (counter ${r.finalCounter}, ${r.acknowledged} acknowledged)`);
    assert.ok(r.finalCounter >= r.acknowledged, `counter ${r.finalCounter} < ${r.acknowledged} acknowledged hits`);
}

/** A master with a replica, and that replica. */
function shardOf(s: StatusView, master?: string): { master: PodView; replica: PodView } {
    const m = s.pods.find((p) => p.role === "master" && (master ? p.name === master : s.pods.some((r) => r.master === p.name)));
    const r = m && s.pods.find((p) => p.role === "replica" && p.master === m.name);
    assert.ok(m && r, `no shard with a replica in ${JSON.stringify(s.pods.map((p) => [p.name, p.role, p.master]))}`);
    return { master: m, replica: r };
}

describe("failover without timeouts: takeover, handover, chaos (local pod runtime, 3x1, real redis-server)", function () {
    this.timeout(180_000);
    let cluster: Started;
    let password: Credentials;
    let adminUser: { username: string; password: string };
    /** The replication user's password: what masterauth holds. */
    let replicationPassword: string;
    /** Log lengths when a test began: what a test reads is what its own disruption wrote. */
    let marks = new Map<string, number>();

    const logOf = (pod: string) => fs.readFileSync(cluster.layout.log(pod), "utf8");
    const markLogs = (s: StatusView) => (marks = new Map(s.pods.map((p) => [p.name, logOf(p.name).length])));
    const newLog = (pod: string) => logOf(pod).slice(marks.get(pod) ?? 0);

    /** A node's cluster-replica-no-failover: "yes" while its agent holds its automatic election. */
    const noFailover = (pod: PodView) =>
        redisCli(pod.address, password, "CONFIG", "GET", "cluster-replica-no-failover").trim().split("\n")[1];

    /** The status view may miss a role while its node is busy (it asks with a short timeout): wait for it. */
    const waitUntilRole = (pod: string, role: "master" | "replica", otherwise: string) =>
        waitUntil(
            `${pod} ${role} (${otherwise} if not)`,
            async () => {
                const seen = podOf(await status(cluster.layout), pod).role;
                return seen === role ? undefined : `${pod} is ${seen ?? "not answering"}`;
            },
            { timeoutMs: 30_000, intervalMs: 200 },
        );

    before(async () => {
        cluster = await startInProcess(
            await pickFreeBlock([20, 21, 22, 23, 24]),
            { ...FAST_TIMINGS, backoffInitialMs: 0, backoffMaxMs: 0 },
            "failover",
        );
        const users = usersOf(cluster.layout, readConfig(cluster.layout) as NonNullable<ReturnType<typeof readConfig>>);
        adminUser = { username: "admin", password: users.admin };
        password = admin(users.admin);
        replicationPassword = users.replication;
    });
    after(async () => {
        await cluster?.supervisor?.stop();
        removeTempDirs();
    });

    it("takeover on kill: the crashed master's in-sync replica takes over at once (FORCE, voted) and the restarted master rejoins as its replica", async () => {
        const before = await waitHealthy(cluster.layout);
        const heir = shardOf(before, (await masterOfHits(cluster.layout)).name).replica;
        markLogs(before);
        const r = await runDrill(cluster.layout, { mode: "kill", clients: 12, say: () => undefined });
        console.log(
            `      kill ${r.pod}: ${heir.name} took over after ${r.promotedMs} ms; longest write gap ${r.longestGapMs.toFixed(0)} ms; ${r.acknowledged} acknowledged, lost ${r.lost}`,
        );
        assertNothingLost(r);
        assert.match(
            newLog(heir.name),
            /Forced failover user request accepted/,
            `${heir.name} did not take over by CLUSTER FAILOVER FORCE`,
        );
        assert.match(newLog(heir.name), /failover-agent\[[^\]]*\] [\d:.]+: took over: master \d+ ms after the death was seen/);
        await waitUntilRole(r.pod, "replica", "nobody took over");
        assert.strictEqual(r.addressAfter, r.addressBefore, "a crashed container restarts in its pod, at the same address");
        const after = await waitHealthy(cluster.layout);
        assert.strictEqual(podOf(after, r.pod).master, heir.name);
        assert.match(redisCli(podOf(after, r.pod).address, password, "INFO", "replication"), /master_link_status:up/);
        // The restarted master came back without its replication ID (it loads the AOF), so the heir gave
        // it a full sync: through a file, after which the heir streams writes at once. A streamed sync
        // would wait for the replica's ACK and could miss the first one (Redis's race with reaping the
        // RDB child), holding WAIT 1 for a second (redisConf.ts).
        assert.match(
            newLog(heir.name),
            /Starting BGSAVE for SYNC with target: disk/,
            "the rejoining master's full sync did not go through a file",
        );
        assert.doesNotMatch(newLog(heir.name), /Waiting for REPLCONF ACK from (slave|replica) to enable streaming/);
    });

    it("no takeover on freeze before the node timeout: the master, frozen 2 s (timeout 3 s), stays master, the same process", async () => {
        const before = await waitHealthy(cluster.layout);
        const { master, replica } = shardOf(before);
        const runId = redisCli(master.address, password, "INFO", "server").match(/run_id:(\w+)/)?.[1];
        markLogs(before);
        await call(cluster.layout, { verb: "freeze", pod: master.name });
        await sleep(2000);
        await call(cluster.layout, { verb: "thaw", pod: master.name });
        await waitHealthy(cluster.layout);
        await sleep(1000); // anything late would show by now
        const after = await waitHealthy(cluster.layout);
        assert.strictEqual(podOf(after, master.name).role, "master");
        assert.strictEqual(podOf(after, replica.name).master, master.name);
        assert.strictEqual(
            redisCli(master.address, password, "INFO", "server").match(/run_id:(\w+)/)?.[1],
            runId,
            "the master was restarted",
        );
        assert.doesNotMatch(
            newLog(replica.name),
            /FAILOVER FORCE|Forced failover|Failover election won/,
            "the replica took over a frozen master",
        );
        // Held or not (its ping may have been pending under 0.5 s), its own election is free again.
        if (/its automatic election held/.test(newLog(replica.name)))
            assert.match(newLog(replica.name), /election: hold released: its master answers again/);
        assert.strictEqual(noFailover(replica), "no", "the replica's automatic election stayed held");
    });

    it("a master frozen past the node timeout is judged by Redis (FAIL); its replica's agent, holding the automatic election meanwhile, runs it at once then", async () => {
        const before = await waitHealthy(cluster.layout);
        const heir = shardOf(before, (await masterOfHits(cluster.layout)).name).replica;
        markLogs(before);
        const r = await runDrill(cluster.layout, { mode: "freeze", clients: 12, say: () => undefined });
        console.log(
            `      freeze ${r.pod}: ${heir.name} took over after ${r.promotedMs} ms; longest write gap ${r.longestGapMs.toFixed(0)} ms; ${r.acknowledged} acknowledged, lost ${r.lost}`,
        );
        assertNothingLost(r);
        const log = newLog(heir.name);
        const held = log.search(
            /election: master \S+ has not answered this node's cluster-bus ping for \d+ ms: its automatic election held/,
        );
        const failed = log.search(/FAIL message received from \w+ about|Marking node \w+ as failing/);
        const forced = log.search(/Forced failover user request accepted/);
        assert.ok(held >= 0, `${heir.name}'s agent never held its election:\n${log}`);
        assert.ok(failed > held, `the cluster flagged the master FAIL before the hold (or never):\n${log}`);
        assert.ok(forced > failed, `${heir.name} did not run its election by CLUSTER FAILOVER FORCE after FAIL:\n${log}`);
        assert.match(log, /election: took over at FAIL: master \d+ ms after the election began/);
        // Redis's own election, with its 0.5-1 s delay, never ran.
        assert.match(log, /Start of election delayed for 0 milliseconds/);
        assert.doesNotMatch(log, /Start of election delayed for [1-9]/);
        await waitUntilRole(r.pod, "replica", "nobody took over");
        assert.strictEqual(noFailover(podOf(await waitHealthy(cluster.layout), heir.name)), "no", "the hold outlived the election");
    });

    it("a stale replica never takes over: its master, killed, restarts and stays master, keeping what the replica never got", async () => {
        const before = await waitHealthy(cluster.layout);
        const { master, replica } = shardOf(before);
        // The replica loses its link and cannot get it back (wrong masterauth), while its master takes writes.
        assert.strictEqual(redisCli(replica.address, password, "CONFIG", "SET", "masterauth", "not-the-password"), "OK");
        redisCli(replica.address, password, "CLIENT", "KILL", "TYPE", "master");
        await waitUntil(
            `${replica.name}'s link down`,
            () => (/master_link_status:down/.test(redisCli(replica.address, password, "INFO", "replication")) ? undefined : "still up"),
            { timeoutMs: 10_000 },
        );
        const keys = Array.from({ length: 300 }, (_, i) => `stale:{${i}}`);
        const client = new Cluster(
            before.pods.map((p) => ({ host: p.address, port: 6379 })),
            { redisOptions: { username: adminUser.username, password: adminUser.password } },
        );
        try {
            await Promise.all(keys.map((k) => client.set(k, k)));
        } finally {
            client.disconnect();
        }
        await sleep(1500); // stale: longer than the agent's in-sync window (10 answers of its master, 1 s)
        markLogs(await status(cluster.layout));
        await call(cluster.layout, { verb: "kill", pod: master.name });
        await waitUntil(
            `${master.name} answers as a master again`,
            async () => (podOf(await status(cluster.layout), master.name).role === "master" ? undefined : "not yet"),
            { timeoutMs: 20_000, intervalMs: 100 },
        );
        await sleep(1000);
        const agent = newLog(replica.name);
        console.log(
            `      ${agent
                .split("\n")
                .filter((l) => l.includes("failover-agent"))
                .join("\n      ")}`,
        );
        assert.match(agent, /this replica is not in sync \(its master last listed it online \d+ answers before it died/);
        assert.doesNotMatch(agent, /FAILOVER FORCE|Forced failover|Failover election won/, "the stale replica took over");
        assert.strictEqual(redisCli(replica.address, password, "CONFIG", "SET", "masterauth", replicationPassword), "OK");
        const after = await waitHealthy(cluster.layout);
        assert.strictEqual(podOf(after, master.name).role, "master");
        assert.strictEqual(podOf(after, replica.name).master, master.name);
        const check = new Cluster(
            after.pods.map((p) => ({ host: p.address, port: 6379 })),
            { redisOptions: { username: adminUser.username, password: adminUser.password } },
        );
        try {
            const values = await Promise.all(keys.map((k) => check.get(k)));
            assert.strictEqual(values.filter((v, i) => v !== keys[i]).length, 0, "keys written while the replica was stale were lost");
        } finally {
            check.disconnect();
        }
    });

    it("handover on delete: the master hands its slots to its replica (coordinated CLUSTER FAILOVER) before Redis stops", async () => {
        const before = await waitHealthy(cluster.layout);
        const heir = shardOf(before, (await masterOfHits(cluster.layout)).name).replica;
        markLogs(before);
        const r = await runDrill(cluster.layout, { mode: "delete", clients: 12, say: () => undefined });
        console.log(
            `      delete ${r.pod}: handed over to ${heir.name}; longest write gap ${r.longestGapMs.toFixed(0)} ms; lost ${r.lost}`,
        );
        assertNothingLost(r);
        const old = newLog(r.pod);
        assert.match(
            old,
            new RegExp(
                `handover\\[${r.pod}\\] .*: handed over to ${heir.address.replace(/\./g, "\\.")}:6379 after \\d+ ms; every master agrees`,
            ),
        );
        const requested = old.indexOf("Manual failover requested by replica");
        const shutdown = old.search(/\d+:S .* User requested shutdown/);
        assert.ok(requested >= 0 && shutdown > requested, "Redis stopped before (or without) the handover, or while still a master");
        assert.match(newLog(heir.name), /Manual failover user request accepted/);
        assert.doesNotMatch(newLog(heir.name), /Forced failover/, "a handover is coordinated, never forced");
        await waitUntilRole(r.pod, "replica", "it did not rejoin as a replica");
        assert.notStrictEqual(r.addressAfter, r.addressBefore);
    });

    it("chaos: a seeded run of a deletion, a crash and a freeze of the master under load passes the verdict", async () => {
        await waitHealthy(cluster.layout);
        const lines: string[] = [];
        const r = await runChaos(cluster.layout, { durationMs: 14_000, seed: 30, clients: 4, say: (l) => lines.push(l) });
        console.log(`      ${lines.join("\n      ")}`);
        console.log(
            `      longest write gap ${r.longestGapMs.toFixed(0)} ms; ${r.acknowledged} acknowledged, lost ${r.lost}; ${r.verdict}`,
        );
        assert.deepStrictEqual(r.problems, []);
        assert.strictEqual(r.verdict, "pass");
        const kinds = r.faults.filter((f) => !f.skipped).map((f) => f.what.split(" ")[0]);
        for (const kind of ["delete", "SIGKILL", "freeze"]) assert.ok(kinds.includes(kind), `no ${kind} applied: ${kinds.join(", ")}`);
    });
});
