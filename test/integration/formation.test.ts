/**
 * The formation engine against real redis-server processes (loopback block 127.0.10-19.x).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Cluster } from "ioredis";
import { FormNode, FormationRefused, form } from "../../components/formation/form";
import { SLOT_COUNT } from "../../components/shape";
import { DirectTransport } from "../../components/formation/transport";
import { LocalCluster, startLocalCluster } from "../../local/cluster";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";
import { assertFormed3x1, assertRedisCliCheckClean, redisCliCheck as redisCliCheckAt } from "../support/clusterChecks";

const NODE_TIMEOUT_MS = 1000;

function tempDir(label: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), `formation-${label}-`));
}

function clusterClient(c: LocalCluster): Cluster {
    return new Cluster(
        c.seeds.map((s) => ({ host: s.split(":")[0], port: Number(s.split(":")[1]) })),
        { redisOptions: { password: c.password }, enableReadyCheck: true },
    );
}

function redisCliCheck(c: LocalCluster): string {
    return redisCliCheckAt(c.seeds[0], c.password);
}

function formNodes(c: LocalCluster): FormNode[] {
    return c.nodes.map((n) => ({ address: n.address, target: n.address }));
}

describe("formation against real redis-server", function () {
    this.timeout(60_000);
    const clusters: LocalCluster[] = [];
    const extraNodes: LocalRedisNode[] = [];

    after(async () => {
        await Promise.all([...clusters.map((c) => c.stop()), ...extraNodes.map((n) => n.stop())]);
    });

    describe("3 masters x 1 replica", () => {
        let cluster: LocalCluster;

        before(async () => {
            cluster = await startLocalCluster({
                masters: 3,
                replicasPerMaster: 1,
                dir: tempDir("3x1"),
                block: 10,
                nodeTimeoutMs: NODE_TIMEOUT_MS,
            });
            clusters.push(cluster);
        });

        it("is formed: 3 shards, even contiguous slot ranges, one linked replica each", () => {
            assert.strictEqual(cluster.shards.length, 3);
            assert.deepStrictEqual(
                cluster.shards.map((s) => s.slots),
                [[[0, 5460]], [[5461, 10921]], [[10922, 16383]]],
            );
            for (const s of cluster.shards) assert.strictEqual(s.replicas.length, 1);
            assert.strictEqual(cluster.formation.clusterState, "ok");
            assert.strictEqual(cluster.seeds.length, 6);
        });

        it("every replica reports master_link_status:up", async () => {
            const t = new DirectTransport(cluster.password);
            try {
                for (const s of cluster.shards) {
                    for (const r of s.replicas) {
                        assert.match(await t.call(r.address, ["INFO", "replication"]), /master_link_status:up/);
                    }
                }
            } finally {
                await t.close();
            }
        });

        it("redis-cli --cluster check: all slots covered, no open slots", () => {
            const out = redisCliCheck(cluster);
            assert.match(out, /\[OK\] All 16384 slots covered/);
            assert.doesNotMatch(out, /\[WARNING\]|\[ERR\]/);
            assert.match(out, /\[OK\] All nodes agree about slots configuration/);
        });

        it("a key written through ioredis Cluster is readable", async () => {
            const client = clusterClient(cluster);
            try {
                await client.set("formation:test", "hello");
                assert.strictEqual(await client.get("formation:test"), "hello");
            } finally {
                client.disconnect();
            }
        });

        it("re-running formation changes nothing", async () => {
            const t = new DirectTransport(cluster.password);
            try {
                const before = await t.call(cluster.seeds[0], ["CLUSTER", "INFO"]);
                const again = await form({ nodes: formNodes(cluster), masters: 3, replicasPerMaster: 1, transport: t });
                assert.strictEqual(again.action, "unchanged");
                assert.deepStrictEqual(again.shards, cluster.shards);
                const after = await t.call(cluster.seeds[0], ["CLUSTER", "INFO"]);
                assert.strictEqual(/cluster_current_epoch:(\d+)/.exec(after)![1], /cluster_current_epoch:(\d+)/.exec(before)![1]);
            } finally {
                await t.close();
            }
        });

        it("stopped and started again in the same dir: same cluster, same data, nothing re-formed", async () => {
            await cluster.stop();
            const again = await startLocalCluster({
                masters: 3,
                replicasPerMaster: 1,
                dir: cluster.dir,
                block: 10,
                nodeTimeoutMs: NODE_TIMEOUT_MS,
            });
            clusters.push(again);
            assert.strictEqual(again.formation.action, "unchanged");
            assert.strictEqual(again.password, cluster.password);
            assert.deepStrictEqual(
                again.shards.map((s) => s.master.id),
                cluster.shards.map((s) => s.master.id),
            );
            const client = clusterClient(again);
            try {
                assert.strictEqual(await client.get("formation:test"), "hello");
            } finally {
                client.disconnect();
            }
            cluster = again;
        });

        it("a node of this cluster is refused when another set of nodes is formed with it", async () => {
            const fresh = await LocalRedisNode.startAll(
                loopbackAddresses(11, 2).map((h, i) => ({
                    host: h,
                    dir: path.join(tempDir("foreign"), `n${i}`),
                    password: cluster.password,
                    nodeTimeoutMs: NODE_TIMEOUT_MS,
                })),
            );
            extraNodes.push(...fresh);
            const t = new DirectTransport(cluster.password);
            try {
                const nodes: FormNode[] = [...fresh.map((n) => ({ address: n.address, target: n.address })), formNodes(cluster)[0]];
                await assert.rejects(form({ nodes, masters: 3, replicasPerMaster: 0, transport: t }), (e: Error) => {
                    assert.ok(e instanceof FormationRefused, e.message);
                    assert.match(e.message, /belongs to another cluster/);
                    return true;
                });
                // Nothing was touched: the fresh nodes still know nobody and own no slots.
                for (const n of fresh) {
                    const nodesText = await t.call(n.address, ["CLUSTER", "NODES"]);
                    assert.strictEqual(nodesText.trim().split("\n").length, 1);
                }
                assert.match(redisCliCheck(cluster), /\[OK\] All 16384 slots covered/);
            } finally {
                await t.close();
            }
        });
    });

    it("forms 5 masters x 1 replica", async () => {
        const c = await startLocalCluster({
            masters: 5,
            replicasPerMaster: 1,
            dir: tempDir("5x1"),
            block: 12,
            nodeTimeoutMs: NODE_TIMEOUT_MS,
        });
        clusters.push(c);
        assert.strictEqual(c.shards.length, 5);
        assert.strictEqual(
            c.shards.reduce((k, s) => k + s.slots.reduce((n, [a, b]) => n + b - a + 1, 0), 0),
            SLOT_COUNT,
        );
        assert.ok(c.shards.every((s) => s.replicas.length === 1));
        assert.match(redisCliCheck(c), /\[OK\] All 16384 slots covered/);
        await c.stop();
    });
    it("the large-cluster steps (replicas paired and syncing before the mesh, no announce round) form the same cluster", async () => {
        const password = "large-steps";
        const nodes = await LocalRedisNode.startAll(
            loopbackAddresses(15, 6).map((host, i) => ({
                host,
                dir: path.join(tempDir("large"), `n${i}`),
                password,
                nodeTimeoutMs: NODE_TIMEOUT_MS,
            })),
        );
        extraNodes.push(...nodes);
        const t = new DirectTransport(password);
        const log: string[] = [];
        try {
            const result = await form({
                nodes: nodes.map((n) => ({ address: n.address, target: n.address })),
                masters: 3,
                replicasPerMaster: 1,
                transport: t,
                largeClusterNodes: 5,
                log: (l) => log.push(l),
            });
            assert.ok(
                log.some((l) => l === "pairing: 3 replicas meet their masters and start syncing"),
                log.join("\n"),
            );
            // The three master-replica pairs already met: 15 pairs in all, 12 left for the mesh.
            assert.ok(log.includes("meeting: 12 direct handshakes between 6 nodes"), log.join("\n"));
            assert.ok(!log.some((l) => l.startsWith("announcing")), log.join("\n"));
            assert.strictEqual(result.action, "created");
            await assertFormed3x1(result, t);
            for (const s of result.shards) {
                const info = await t.call(s.replicas[0].address, ["INFO", "replication"]);
                assert.match(info, new RegExp(`master_host:${s.master.address.split(":")[0].replace(/\./g, "\\.")}\\b`));
            }
            assertRedisCliCheckClean(nodes[0].address, password);
        } finally {
            await t.close();
        }
    });

    it("scale-out from 3 to 4 masters keeps every key, and so does going back to 3", async () => {
        const c = await startLocalCluster({
            masters: 3,
            replicasPerMaster: 1,
            dir: tempDir("scale"),
            block: 13,
            nodeTimeoutMs: NODE_TIMEOUT_MS,
        });
        clusters.push(c);
        const client = clusterClient(c);
        const t = new DirectTransport(c.password);
        try {
            const keys = Array.from({ length: 2000 }, (_, i) => `scale:${i}`);
            await Promise.all(keys.map((k, i) => client.set(k, String(i))));
            const added = await LocalRedisNode.startAll(
                loopbackAddresses(13, 8)
                    .slice(6)
                    .map((host, i) => ({
                        host,
                        dir: path.join(c.dir, `added-${i}`),
                        password: c.password,
                        nodeTimeoutMs: NODE_TIMEOUT_MS,
                    })),
            );
            extraNodes.push(...added);
            const nodes = [...formNodes(c), ...added.map((n) => ({ address: n.address, target: n.address }))];
            const result = await form({ nodes, masters: 4, replicasPerMaster: 1, transport: t });
            assert.strictEqual(result.action, "scaled-out");
            assert.strictEqual(result.shards.length, 4);
            const sizes = result.shards.map((s) => s.slots.reduce((n, [a, b]) => n + b - a + 1, 0));
            assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `uneven slots: ${sizes}`);
            assert.ok(result.shards.every((s) => s.replicas.length === 1));
            const newMaster = result.shards.find((s) => added.some((n) => n.address === s.master.address));
            assert.ok(newMaster, "one of the added nodes became a master");
            assert.ok(Number(await t.call(newMaster.master.address, ["DBSIZE"])) > 0, "the new master received keys");
            const check = redisCliCheck(c);
            assert.match(check, /\[OK\] All 16384 slots covered/);
            assert.doesNotMatch(check, /\[WARNING\]|\[ERR\]/);
            const values = await Promise.all(keys.map((k) => client.get(k)));
            assert.deepStrictEqual(
                values,
                keys.map((_, i) => String(i)),
            );

            // Back to 3 masters over the same pods (converge, not refused): one master is emptied, its slots
            // moved with their keys, evenly, to the other three; every key stays readable.
            const back = await form({ nodes, masters: 3, replicasPerMaster: 1, transport: t });
            assert.strictEqual(back.shards.length, 3);
            const backSizes = back.shards.map((s) => s.slots.reduce((n, [a, b]) => n + b - a + 1, 0));
            assert.ok(Math.max(...backSizes) - Math.min(...backSizes) <= 1, `uneven slots: ${backSizes}`);
            assert.doesNotMatch(redisCliCheck(c), /\[WARNING\]|\[ERR\]/);
            assert.deepStrictEqual(
                await Promise.all(keys.map((k) => client.get(k))),
                keys.map((_, i) => String(i)),
            );
        } finally {
            client.disconnect();
            await t.close();
        }
    });

    it("a master killed right after formation is failed over to its replica", async () => {
        const c = await startLocalCluster({
            masters: 3,
            replicasPerMaster: 1,
            dir: tempDir("failover"),
            block: 14,
            nodeTimeoutMs: NODE_TIMEOUT_MS,
        });
        clusters.push(c);
        const victim = c.shards[1];
        await c.nodes.find((n) => n.address === victim.master.address)!.kill();
        const t = new DirectTransport(c.password);
        try {
            const deadline = Date.now() + 30_000;
            let role = "";
            while (Date.now() < deadline) {
                role = /role:(\w+)/.exec(await t.call(victim.replicas[0].address, ["INFO", "replication"]))?.[1] ?? "";
                const state = /cluster_state:(\w+)/.exec(await t.call(c.seeds[0], ["CLUSTER", "INFO"]))?.[1];
                if (role === "master" && state === "ok") break;
                await new Promise((r) => setTimeout(r, 100));
            }
            assert.strictEqual(role, "master", `replica ${victim.replicas[0].address} was not promoted`);
        } finally {
            await t.close();
        }
    });
});
