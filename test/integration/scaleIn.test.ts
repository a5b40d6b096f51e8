/**
 * Scale-in on real redis-server processes over the direct transport (loopback blocks 127.0.210.x and
 * 127.0.211.x): the drain before the pods go (scaleIn.ts), the pods stopped as the StatefulSet would,
 * then the formation with the staying pods only, which makes every node forget the removed ones.
 * Keys written before are all readable after, redis-cli --cluster check is clean, no node remembers a
 * removed node, and a drain whose keys would not fit is refused with nothing changed.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Cluster } from "ioredis";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { FormNode, FormationRefused, form } from "../../components/formation/form";
import { drainLeaving } from "../../components/formation/scaleIn";
import { DirectTransport } from "../../components/formation/transport";
import { LocalCluster, startLocalCluster } from "../../local/cluster";
import { assertRedisCliCheckClean } from "../support/clusterChecks";
import { RecordingTransport } from "../support/recordingTransport";

const NODE_TIMEOUT_MS = 2000;
/** Commands that change the cluster (the drain's slot moves, handovers, re-pairings). */
const CHANGES_CLUSTER = /^(MIGRATE|CLUSTER (SETSLOT|REPLICATE|FAILOVER|FORGET|ADDSLOTS|ADDSLOTSRANGE|DELSLOTS|MEET))\b/i;
const KEYS = 3000;

const asPod = (address: string): FormNode => ({ address, target: address });

/** Node ids and roles as every given node sees them, sorted: equal before and after means nothing changed. */
async function clusterSnapshot(t: DirectTransport, addresses: readonly string[]): Promise<string[]> {
    const lines = await Promise.all(
        addresses.map(async (a) =>
            parseClusterNodes(await t.call(a, ["CLUSTER", "NODES"]))
                .map((e) => `${a} sees ${e.id} ${e.masterId ?? "master"} ${e.slotCount}`)
                .sort(),
        ),
    );
    return lines.flat();
}

/** Writes KEYS keys through a cluster client and returns a checker that reads them all back. */
async function writeKeys(c: LocalCluster, prefix: string): Promise<{ client: Cluster; missing: () => Promise<string[]> }> {
    const client = new Cluster([{ host: c.nodes[0].host, port: 6379 }], { redisOptions: { password: c.password } });
    await Promise.all(Array.from({ length: KEYS }, (_, i) => client.set(`${prefix}:${i}`, `v${i}`)));
    return {
        client,
        missing: async () => {
            const values = await Promise.all(Array.from({ length: KEYS }, (_, i) => client.get(`${prefix}:${i}`)));
            return values.flatMap((v, i) => (v === `v${i}` ? [] : [`${prefix}:${i}=${v}`]));
        },
    };
}

/** `cmdstat_cluster|forget` calls on a node (0 when never called). */
async function forgetCalls(t: DirectTransport, address: string): Promise<number> {
    const m = /^cmdstat_cluster\|forget:calls=(\d+)/m.exec(await t.call(address, ["INFO", "commandstats"]));
    return m ? Number(m[1]) : 0;
}

describe("scale-in on real redis-server: drain, remove the pods, forget them", function () {
    this.timeout(180_000);
    let dir: string;
    let t: DirectTransport;
    const clusters: LocalCluster[] = [];

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "scale-in-"));
    });

    after(async () => {
        await t?.close();
        await Promise.all(clusters.map((c) => c.stop()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("masters 4 -> 3: refused while the keys would not fit, then drained evenly with a client writing, pods removed, forgotten everywhere", async () => {
        const c = await startLocalCluster({
            masters: 4,
            replicasPerMaster: 1,
            dir: path.join(dir, "four"),
            block: 210,
            nodeTimeoutMs: NODE_TIMEOUT_MS,
        });
        clusters.push(c);
        t = new DirectTransport(c.password);
        const pods = c.nodes.map((n) => asPod(n.address));
        const leaving = pods.slice(6).map((p) => p.address);
        const { client, missing } = await writeKeys(c, "four");
        try {
            // Every master's maxmemory just above what it holds now: the moved keys cannot fit.
            const before = await clusterSnapshot(
                t,
                pods.map((p) => p.address),
            );
            for (const p of pods) {
                const used = Number(/^used_memory:(\d+)/m.exec(await t.call(p.address, ["INFO", "memory"]))![1]);
                await t.call(p.address, ["CONFIG", "SET", "maxmemory", String(used + 64 * 1024)]);
            }
            await assert.rejects(drainLeaving({ nodes: pods, leaving, masters: 3, replicasPerMaster: 1, transport: t }), (e: Error) => {
                assert.ok(e instanceof FormationRefused, e.message);
                assert.match(e.message, /^keys: after the scale-in .* would hold about .* of its maxmemory .* Nothing was changed\.$/);
                return true;
            });
            assert.deepStrictEqual(
                await clusterSnapshot(
                    t,
                    pods.map((p) => p.address),
                ),
                before,
                "a refused drain changed the cluster",
            );
            for (const p of pods) await t.call(p.address, ["CONFIG", "SET", "maxmemory", "0"]);

            let writing = true;
            let written = 0;
            const failures: string[] = [];
            const writer = (async () => {
                while (writing) {
                    const i = written++;
                    await client.set(`during:${i}`, `d${i}`).catch((e: Error) => failures.push(`during:${i} ${e.message}`));
                }
            })();
            const lines: string[] = [];
            // Where the log stood when the first command that changes the cluster went out.
            let linesAtFirstWrite: number | undefined;
            const observed = new RecordingTransport(t, (_target, args) => {
                if (linesAtFirstWrite === undefined && CHANGES_CLUSTER.test(args.slice(0, 2).join(" "))) linesAtFirstWrite = lines.length;
                return false;
            });
            const result = await drainLeaving({
                nodes: pods,
                leaving,
                masters: 3,
                replicasPerMaster: 1,
                transport: observed,
                log: (l) => lines.push(l),
            });
            writing = false;
            await writer;
            console.log(`      drain 4x1 -> 3x1: ${result.rounds} round(s), ${written} writes during it, ${failures.length} failed`);
            const planAt = lines.findIndex((l) => l.startsWith("plan: drain 2 leaving nodes"));
            assert.ok(planAt >= 0, lines.join("\n"));
            // The plan is logged before anything changes (every action is a plan value first).
            assert.ok(
                linesAtFirstWrite !== undefined && planAt < linesAtFirstWrite,
                `plan at line ${planAt}, first write after ${linesAtFirstWrite}`,
            );
            assert.deepStrictEqual(failures, []);

            // Drained: the leaving nodes own nothing, nothing staying follows them, they cannot be promoted; 3 even masters stay.
            const view = parseClusterNodes(await t.call(pods[0].address, ["CLUSTER", "NODES"]));
            const leavingIds = view.filter((e) => leaving.includes(e.address)).map((e) => e.id);
            assert.ok(view.filter((e) => leaving.includes(e.address)).every((e) => e.slotCount === 0));
            assert.ok(view.every((e) => (!leaving.includes(e.address) ? !leavingIds.includes(e.masterId ?? "") : true)));
            const slots = view
                .filter((e) => e.slotCount > 0)
                .map((e) => e.slotCount)
                .sort();
            assert.deepStrictEqual(slots, [5461, 5461, 5462]);
            for (const a of leaving) assert.match(await t.call(a, ["CONFIG", "GET", "cluster-replica-no-failover"]), /yes$/);

            // The StatefulSet removes redis-6 and redis-7; then the formation runs with the staying pods.
            await Promise.all(c.nodes.slice(6).map((n) => n.stop("SIGKILL")));
            const staying = pods.slice(0, 6);
            const forgetBefore = await Promise.all(staying.map((p) => forgetCalls(t, p.address)));
            const formed = await form({ nodes: staying, masters: 3, replicasPerMaster: 1, transport: t });
            assert.strictEqual(formed.action, "scaled-in");
            assert.strictEqual(formed.clusterState, "ok");
            assert.ok(formed.shards.every((s) => s.replicas.length === 1));
            // Every staying node got one CLUSTER FORGET per removed node, and none lists them any more.
            const forgetAfter = await Promise.all(staying.map((p) => forgetCalls(t, p.address)));
            assert.deepStrictEqual(
                forgetAfter.map((n, i) => n - forgetBefore[i]),
                staying.map(() => leavingIds.length),
            );
            await new Promise((r) => setTimeout(r, 3 * NODE_TIMEOUT_MS)); // several gossip rounds
            for (const p of staying) {
                const known = parseClusterNodes(await t.call(p.address, ["CLUSTER", "NODES"])).map((e) => e.id);
                assert.deepStrictEqual(
                    known.filter((id) => leavingIds.includes(id)),
                    [],
                    `${p.address} still knows a removed node`,
                );
                assert.strictEqual(known.length, 6);
            }
            assertRedisCliCheckClean(staying[0].address, c.password);
            assert.deepStrictEqual(await missing(), []);
            const during = await Promise.all(Array.from({ length: written }, (_, i) => client.get(`during:${i}`)));
            assert.deepStrictEqual(
                during.flatMap((v, i) => (v === `d${i}` ? [] : [i])),
                [],
            );
        } finally {
            client.disconnect();
        }
    });

    it("replicas 2 -> 1 with masters on the leaving pods: each such shard is handed over to a staying replica in sync; no slot moves", async () => {
        const c = await startLocalCluster({
            masters: 3,
            replicasPerMaster: 2,
            dir: path.join(dir, "three-by-two"),
            block: 211,
            nodeTimeoutMs: NODE_TIMEOUT_MS,
        });
        clusters.push(c);
        const t2 = new DirectTransport(c.password);
        const { client, missing } = await writeKeys(c, "r2");
        try {
            const pods = c.nodes.map((n) => asPod(n.address));
            const leaving = pods.slice(6).map((p) => p.address);
            // Make two of the leaving pods masters, as failovers would have.
            for (const a of leaving.slice(0, 2)) {
                await t2.call(a, ["CLUSTER", "FAILOVER"]);
                for (
                    let i = 0;
                    i < 100 &&
                    /slave/.test(
                        parseClusterNodes(await t2.call(a, ["CLUSTER", "NODES"]))
                            .find((e) => e.flags.includes("myself"))!
                            .flags.join(),
                    );
                    i++
                )
                    await new Promise((r) => setTimeout(r, 50));
            }
            const slotsBefore = parseClusterNodes(await t2.call(pods[0].address, ["CLUSTER", "NODES"]))
                .filter((e) => e.slotCount > 0)
                .map((e) => e.slotRanges.map((r) => r.join("-")).join(","))
                .sort();
            const lines: string[] = [];
            await drainLeaving({ nodes: pods, leaving, masters: 3, replicasPerMaster: 1, transport: t2, log: (l) => lines.push(l) });
            assert.ok(
                lines.some((l) => /handing over 2 shards whose master leaves to a replica that stays/.test(l)),
                lines.join("\n"),
            );
            assert.ok(!lines.some((l) => /moving \d+ slots/.test(l)), "a replica scale-in moved slots");
            const view = parseClusterNodes(await t2.call(pods[0].address, ["CLUSTER", "NODES"]));
            const owners = view.filter((e) => e.slotCount > 0);
            assert.ok(
                owners.every((e) => !leaving.includes(e.address)),
                owners.map((e) => e.address).join(", "),
            );
            assert.deepStrictEqual(owners.map((e) => e.slotRanges.map((r) => r.join("-")).join(",")).sort(), slotsBefore);

            await Promise.all(c.nodes.slice(6).map((n) => n.stop("SIGKILL")));
            const formed = await form({ nodes: pods.slice(0, 6), masters: 3, replicasPerMaster: 1, transport: t2 });
            assert.strictEqual(formed.clusterState, "ok");
            assertRedisCliCheckClean(pods[0].address, c.password);
            assert.deepStrictEqual(await missing(), []);
        } finally {
            client.disconnect();
            await t2.close();
        }
    });
});
