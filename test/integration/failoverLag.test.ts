/**
 * WAIT is what keeps an acknowledged hit through a failover. On loopback a healthy replica has
 * every write within microseconds, so a failover test with a healthy replica passes with or
 * without WAIT. Here the replica of the master that owns `hits` lags at the moment its master is
 * SIGKILLed: it is SIGSTOPped (a VM that stops answering) and its master has dropped its
 * replication link (as it does after repl-timeout; here at once, with CLIENT KILL). Hits sent
 * then reach the master only. The replica is then let go and promoted.
 *  - WAIT_REPLICAS=1 (shipped): those hits are refused (503), so none of them is acknowledged,
 *    and the promoted replica's counter is at least every acknowledged count;
 *  - WAIT_REPLICAS=0: the same hits are acknowledged and the promoted replica does not have them:
 *    the loss is observed, which shows this test can see one.
 * Real redis-server processes (3 masters x 1 replica) and the real hit-counter server in-process.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { serverConfig } from "../../app/config";
import { HITS_KEY } from "../../app/hits";
import { startServer } from "../../app/server";
import { ownsSlot, parseClusterNodes } from "../../components/formation/clusterState";
import { DirectTransport } from "../../components/formation/transport";
import { LocalCluster, startLocalCluster } from "../../local/cluster";
import { loopbackBlocks } from "../support/loopbackBlocks";
import { setTimeout as sleep } from "timers/promises";

const BLOCKS = loopbackBlocks(__filename);
/** Hits acknowledged before the replica lags, and hits sent while it lags. */
const HITS_BEFORE = 20;
const HITS_WHILE_LAGGING = 10;

/** One GET of `route` as JSON: the status and, for an acknowledged hit, the count it was given. */
function get(url: string, route = "/"): Promise<{ status: number; count?: number }> {
    return new Promise((resolve, reject) => {
        const req = http.get(`${url}${route}`, { headers: { accept: "application/json" }, agent: false }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (body += c));
            res.on("end", () => {
                const status = res.statusCode ?? 0;
                resolve(status === 200 && route === "/" ? { status, count: (JSON.parse(body) as { hits: number }).hits } : { status });
            });
        });
        req.on("error", reject);
    });
}

interface LagOutcome {
    /** Statuses of the hits sent before the replica lagged, and while it lagged. */
    readonly before: number[];
    readonly whileLagging: number[];
    /** Highest count any request was given. */
    readonly maxAcknowledged: number;
    /** `hits` on the master just before it was killed, and on the promoted replica after. */
    readonly masterCounter: number;
    readonly promotedCounter: number;
}

/** The scenario of the module comment on a fresh 3x1 cluster; returns what was acknowledged and what survived. */
async function lagThenKill(cluster: LocalCluster, waitReplicas: number): Promise<LagOutcome> {
    const t = new DirectTransport(cluster.password);
    const server = await startServer(
        serverConfig({
            redisNodes: cluster.seeds.map((s) => ({ host: s.split(":")[0], port: Number(s.split(":")[1]) })),
            redisPassword: cluster.password,
            host: "127.0.0.1",
            port: 0,
            metricsPort: 0,
            waitReplicas,
        }),
        { defaultMetrics: false, log: () => undefined },
    );
    try {
        // Hits are sent once the server has the slot map and sees cluster_state:ok.
        const readyBy = Date.now() + 10_000;
        while ((await get(server.url, "/readyz")).status !== 200) {
            if (Date.now() > readyBy) throw new Error("the hit counter never became ready");
            await sleep(50);
        }
        const slot = Number(await t.call(cluster.seeds[0], ["CLUSTER", "KEYSLOT", HITS_KEY]));
        const shard = cluster.shards.find((s) => s.slots.some(([a, b]) => slot >= a && slot <= b));
        const master = cluster.nodes.find((n) => n.address === shard?.master.address);
        const replica = cluster.nodes.find((n) => n.address === shard?.replicas[0]?.address);
        if (!master || !replica) throw new Error(`no master with a replica owns slot ${slot}: ${JSON.stringify(cluster.shards)}`);

        const counts: number[] = [];
        const before: number[] = [];
        for (let i = 0; i < HITS_BEFORE; i++) {
            const r = await get(server.url);
            before.push(r.status);
            if (r.count !== undefined) counts.push(r.count);
        }

        await waitUntilInSync(t, master.address);
        process.kill(replica.pid, "SIGSTOP");
        await t.call(master.address, ["CLIENT", "KILL", "TYPE", "replica"]);
        assert.match(await t.call(master.address, ["INFO", "replication"]), /connected_slaves:0/);
        const whileLagging: number[] = [];
        for (let i = 0; i < HITS_WHILE_LAGGING; i++) {
            const r = await get(server.url);
            whileLagging.push(r.status);
            if (r.count !== undefined) counts.push(r.count);
        }
        const masterCounter = Number(await t.call(master.address, ["GET", HITS_KEY]));

        await master.kill();
        process.kill(replica.pid, "SIGCONT");
        await waitUntilOwner(t, replica.address, slot);
        return {
            before,
            whileLagging,
            maxAcknowledged: Math.max(0, ...counts),
            masterCounter,
            promotedCounter: Number(await t.call(replica.address, ["GET", HITS_KEY])),
        };
    } finally {
        await server.close();
        await t.close();
    }
}

/** Polls until the master's replica has acknowledged its whole replication stream. */
async function waitUntilInSync(t: DirectTransport, master: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
        const info = await t.call(master, ["INFO", "replication"]);
        const offset = /master_repl_offset:(\d+)/.exec(info)?.[1];
        if (offset !== undefined && new RegExp(`slave0:.*offset=${offset},`).test(info)) return;
        if (Date.now() > deadline) throw new Error(`the replica of ${master} did not catch up: ${info}`);
        await sleep(20);
    }
}

/** Polls until `address` is a master that owns `slot` (its failover is done). */
async function waitUntilOwner(t: DirectTransport, address: string, slot: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    let seen = "";
    while (Date.now() < deadline) {
        const self = parseClusterNodes(await t.call(address, ["CLUSTER", "NODES"])).find((e) => e.flags.includes("myself"));
        if (self && self.flags.includes("master") && ownsSlot(self, slot)) return;
        seen = self?.flags.join(",") ?? "no myself line";
        await sleep(100);
    }
    throw new Error(`${address} was not promoted within 30 s (flags: ${seen})`);
}

describe("failover while the replica lags: WAIT keeps every acknowledged hit (real redis-server)", function () {
    this.timeout(90_000);
    const dirs: string[] = [];
    const clusters: LocalCluster[] = [];

    after(async () => {
        // SIGKILL also ends a process left SIGSTOPped by a failed run; nothing here is kept.
        await Promise.all(clusters.flatMap((c) => c.nodes.map((n) => n.kill())));
        for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    async function freshCluster(block: number): Promise<LocalCluster> {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "failover-lag-"));
        dirs.push(dir);
        const cluster = await startLocalCluster({ masters: 3, replicasPerMaster: 1, dir, block });
        clusters.push(cluster);
        return cluster;
    }

    it("WAIT_REPLICAS=1 (shipped): the hits the lagging replica misses are refused, and every acknowledged count survives the promotion", async () => {
        const r = await lagThenKill(await freshCluster(BLOCKS[0]), 1);
        console.log(
            `      WAIT 1: acknowledged up to ${r.maxAcknowledged}; master had ${r.masterCounter}; promoted replica has ${r.promotedCounter}`,
        );
        assert.deepStrictEqual(new Set(r.before), new Set([200]), "the replica was healthy: every hit before the lag is acknowledged");
        // The master did take the hits sent while the replica lagged: acknowledging them would have lost them.
        assert.strictEqual(r.masterCounter, HITS_BEFORE + HITS_WHILE_LAGGING);
        assert.ok(
            r.promotedCounter >= r.maxAcknowledged,
            `acknowledged hit lost: counts up to ${r.maxAcknowledged} were given, the promoted replica has ${r.promotedCounter}`,
        );
        assert.deepStrictEqual(new Set(r.whileLagging), new Set([503]), "a hit no replica confirmed was acknowledged");
    });

    it("WAIT_REPLICAS=0: the same hits are acknowledged and lost with their master (the loss this test exists to see)", async () => {
        const r = await lagThenKill(await freshCluster(BLOCKS[1]), 0);
        console.log(
            `      WAIT 0: acknowledged up to ${r.maxAcknowledged}; master had ${r.masterCounter}; promoted replica has ${r.promotedCounter}`,
        );
        assert.deepStrictEqual(new Set(r.whileLagging), new Set([200]));
        assert.strictEqual(r.maxAcknowledged, HITS_BEFORE + HITS_WHILE_LAGGING);
        assert.strictEqual(
            r.promotedCounter,
            HITS_BEFORE,
            "the promoted replica should have exactly the hits it received before it lagged",
        );
    });
});
