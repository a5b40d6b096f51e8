/**
 * Scale-out through the program: `redis:masters` 3 -> 4 under Pulumi mocks (what
 * `pulumi up` would change), then the formation's update path on real redis-server
 * processes (loopback block 127.0.32-33.x): the StatefulSet's two new pods join, one
 * as a new master that receives a quarter of the slots with their keys, one as its
 * replica, while a client keeps writing. The scale-in drain runs before the StatefulSet
 * (the graph under mocks; the drain itself: scaleIn.test.ts, scaleInExec.test.ts).
 * The engine never sends FLUSHALL / FLUSHDB / CLUSTER RESET: checked on the servers
 * themselves (INFO commandstats), and a node holding keys is refused with its keys intact.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "ioredis";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { FormNode, FormationRefused, form } from "../../components/formation/form";
import { checkFormationInputs, diffFormation, FormationInputs } from "../../components/formation/provider";
import { drainProvider, diffDrain } from "../../components/formation/drain";
import { DirectTransport } from "../../components/formation/transport";
import { LocalCluster, localHostname, startLocalCluster } from "../../local/cluster";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";
import { ProgramRun, runProgram } from "../support/mocks";
import { setTimeout as sleep } from "timers/promises";

const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";
const FORMATION = "pulumi-nodejs:dynamic/redis-cluster-gke:RedisClusterFormation";
const DRAIN = "pulumi-nodejs:dynamic/redis-cluster-gke:RedisScaleInDrain";
const NODE_TIMEOUT_MS = 2000;
const KEYS = 2000;

const existingTarget = (masters: number) => ({
    config: { "redis-cluster-gke:target": "existing", "redis:masters": String(masters), "redis:replicasPerMaster": "1" },
    secrets: {
        "redis-cluster-gke:kubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
        "redis:adminPassword": "a-configured-password-0123456789",
    },
});

/**
 * Commands no formation step may ever send (they destroy data or cluster membership). DEL is not
 * among them: MIGRATE deletes each moved key at its source and replicas receive that DEL.
 */
const DESTRUCTIVE = /^cmdstat_(flushall|flushdb|cluster\|reset|swapdb|shutdown|debug):/m;

async function destructiveCommandsSeen(t: DirectTransport, addresses: readonly string[]): Promise<string[]> {
    const seen: string[] = [];
    for (const a of addresses) {
        const stats = await t.call(a, ["INFO", "commandstats"]);
        for (const line of stats.split(/\r?\n/)) if (DESTRUCTIVE.test(line)) seen.push(`${a} ${line}`);
    }
    return seen;
}

describe("scale-out through the program (mocks): masters 3 -> 4", function () {
    this.timeout(60_000);
    let three: ProgramRun;
    let four: ProgramRun;

    before(async () => {
        three = await runProgram(existingTarget(3));
        four = await runProgram(existingTarget(4));
    });

    it("the StatefulSet grows from 7 to 9 pods (members and the surge pod) and nothing else in it changes (no rolling restart of the running pods)", () => {
        const a = three.one(STATEFUL_SET).inputs;
        const b = four.one(STATEFUL_SET).inputs;
        assert.strictEqual(a.spec.replicas, 7);
        assert.strictEqual(b.spec.replicas, 9);
        // The surge pod's name moves (redis-6 -> redis-8) in the ConfigMap only, outside the pod template's digest.
        assert.deepStrictEqual({ ...b, spec: { ...b.spec, replicas: 7 } }, a);
        assert.strictEqual(four.one(STATEFUL_SET).urn, three.one(STATEFUL_SET).urn);
    });

    it("the formation resource is the same resource with masters 4: check passes, diff is an in-place update (not a replace)", () => {
        const olds = three.one(FORMATION).inputs as FormationInputs;
        const news = four.one(FORMATION).inputs as FormationInputs;
        assert.strictEqual(four.one(FORMATION).urn, three.one(FORMATION).urn);
        assert.strictEqual(olds.masters, 3);
        assert.strictEqual(news.masters, 4);
        assert.deepStrictEqual(checkFormationInputs(news), []);
        assert.deepStrictEqual(diffFormation(olds, news), { changes: true, replaces: [], deleteBeforeReplace: false });
        const changed = Object.keys({ ...olds, ...news }).filter(
            (k) => JSON.stringify(olds[k as keyof FormationInputs]) !== JSON.stringify(news[k as keyof FormationInputs]),
        );
        assert.deepStrictEqual(changed, ["masters"]);
    });

    it("the formation still runs after the StatefulSet and before the app", () => {
        const formation = four.one(FORMATION);
        assert.ok(formation.dependsOnUrns.includes(four.one(STATEFUL_SET).urn));
        assert.ok(four.one("kubernetes:apps/v1:Deployment") !== undefined);
    });

    it("ordering: the scale-in drain runs before the StatefulSet (it depends on the drain directly and through the Namespace), the formation after it", async () => {
        const drain = four.one(DRAIN);
        assert.deepStrictEqual(
            {
                masters: drain.inputs.masters,
                replicasPerMaster: drain.inputs.replicasPerMaster,
                statefulSetName: drain.inputs.statefulSetName,
            },
            { masters: 4, replicasPerMaster: 1, statefulSetName: "redis" },
        );
        const sts = four.one(STATEFUL_SET);
        assert.ok(sts.dependsOnUrns.includes(drain.urn), "the StatefulSet does not wait for the drain");
        assert.ok(four.one("kubernetes:core/v1:Namespace").dependsOnUrns.includes(drain.urn), "the Namespace does not wait for the drain");
        assert.ok(four.one(FORMATION).dependsOnUrns.includes(sts.urn), "the formation does not wait for the StatefulSet");
        assert.ok(!drain.dependsOnUrns.some((u) => four.byUrn(u).type.startsWith("kubernetes:")), "the drain waits for a Redis object");
        // The drain's kubeconfig is secret, and scale-in (4 -> 3) is an update of it, which drains.
        assert.ok(drain.secretPaths.includes("kubeconfig"));
        assert.deepStrictEqual(diffDrain(drain.inputs, three.one(DRAIN).inputs), {
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
        assert.deepStrictEqual(diffDrain(drain.inputs, { ...drain.inputs }), { changes: false, replaces: [], deleteBeforeReplace: false });
    });

    it("scale-in passes every check (masters 4 -> 3, replicas 1 -> 0); below 3 masters is refused", async () => {
        const olds = four.one(FORMATION).inputs as FormationInputs;
        const news = three.one(FORMATION).inputs as FormationInputs;
        assert.deepStrictEqual(checkFormationInputs(news), []);
        assert.deepStrictEqual(diffFormation(olds, news), { changes: true, replaces: [], deleteBeforeReplace: false });
        assert.deepStrictEqual(
            (await drainProvider.check!(four.one(DRAIN).inputs as never, { ...three.one(DRAIN).inputs, replicasPerMaster: 0 } as never))
                .failures,
            undefined,
        );
        const refused = await drainProvider.check!(four.one(DRAIN).inputs as never, { ...three.one(DRAIN).inputs, masters: 2 } as never);
        assert.deepStrictEqual(
            refused.failures?.map((f) => f.property),
            ["masters"],
        );
    });

    it("the drain's provider survives Pulumi's serialization and works on its own", async () => {
        const serialized = await pulumi.runtime.serializeFunction(() => drainProvider, { allowSecrets: false });
        assert.strictEqual(serialized.containsSecrets, false);
        const file = path.join(__dirname, "..", "..", "node_modules", ".cache", `scale-in-drain-${process.pid}.js`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, serialized.text);
        try {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const loaded = require(file)[serialized.exportName]() as pulumi.dynamic.ResourceProvider;
            const refused = await loaded.check!({}, { ...four.one(DRAIN).inputs, masters: 2 });
            assert.match(refused.failures![0].reason, /^masters: expected a whole number from 3 to 1000/);
            assert.strictEqual((await loaded.diff!("id", four.one(DRAIN).inputs, three.one(DRAIN).inputs)).changes, true);
        } finally {
            fs.rmSync(file, { force: true });
        }
    });
});

describe("scale-out on real redis-server: the formation update path", function () {
    this.timeout(90_000);
    let dir: string;
    let cluster: LocalCluster;
    let added: LocalRedisNode[] = [];
    let extra: LocalRedisNode[] = [];
    let t: DirectTransport;
    /** The StatefulSet's pods in ordinal order, as the provider passes them (redis-0 … redis-7). */
    let pods: FormNode[];

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "scale-"));
        cluster = await startLocalCluster({
            masters: 3,
            replicasPerMaster: 1,
            dir: path.join(dir, "cluster"),
            block: 32,
            nodeTimeoutMs: NODE_TIMEOUT_MS,
        });
        t = new DirectTransport(cluster.password);
    });

    after(async () => {
        await t?.close();
        await Promise.all([cluster?.stop(), ...added.map((n) => n.stop()), ...extra.map((n) => n.stop())]);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("3x1 -> 4x1 with a client writing throughout: new master gets a quarter of the slots with their keys, new replica linked, every key intact, old shards untouched", async () => {
        const client = new Cluster(
            cluster.seeds.map((s) => ({ host: s.split(":")[0], port: 6379 })),
            { redisOptions: { password: cluster.password } },
        );
        try {
            await Promise.all(Array.from({ length: KEYS }, (_, i) => client.set(`scale:${i}`, `v${i}`)));
            const oldView = parseClusterNodes(await t.call(cluster.seeds[0], ["CLUSTER", "NODES"]));

            // `pulumi up` with masters 4: the StatefulSet starts redis-6 and redis-7 (fresh PVCs), then the formation updates.
            added = await LocalRedisNode.startAll(
                loopbackAddresses(32, 8)
                    .slice(6)
                    .map((host, i) => ({
                        host,
                        dir: path.join(dir, `pod-${6 + i}`),
                        password: cluster.password,
                        nodeTimeoutMs: NODE_TIMEOUT_MS,
                        announceHostname: localHostname(6 + i),
                    })),
            );
            pods = [...cluster.nodes, ...added].map((n) => ({ address: n.address, target: n.address }));

            let writing = true;
            let written = 0;
            const failures: string[] = [];
            const writer = (async () => {
                while (writing) {
                    const i = written++;
                    await client.set(`during:${i}`, `d${i}`).catch((e: Error) => failures.push(`during:${i} ${e.message}`));
                }
            })();
            const started = Date.now();
            const result = await form({ nodes: pods, masters: 4, replicasPerMaster: 1, transport: t });
            const tookMs = Date.now() - started;
            writing = false;
            await writer;
            console.log(
                `      scale-out 3x1 -> 4x1 with ${KEYS} keys took ${tookMs} ms; ${written} writes during it, ${failures.length} failed`,
            );

            assert.strictEqual(result.action, "scaled-out");
            assert.strictEqual(result.clusterState, "ok");
            assert.strictEqual(result.shards.length, 4);
            const newShard = result.shards.find((s) => added.some((n) => n.address === s.master.address));
            assert.ok(newShard, "one of the new pods is a master");
            const newSlots = newShard.slots.reduce((k, [a, b]) => k + b - a + 1, 0);
            assert.ok(newSlots >= 4095 && newSlots <= 4097, `new master owns ${newSlots} slots`);
            assert.deepStrictEqual(
                newShard.replicas.map((r) => r.address),
                added.filter((n) => n.address !== newShard.master.address).map((n) => n.address),
            );
            assert.match(await t.call(newShard.replicas[0].address, ["INFO", "replication"]), /master_link_status:up/);
            assert.ok(Number(await t.call(newShard.master.address, ["DBSIZE"])) > 0, "keys moved with their slots");

            // The three old shards keep their node IDs and master/replica pairs: nothing was reset or re-paired.
            const newView = parseClusterNodes(await t.call(cluster.seeds[0], ["CLUSTER", "NODES"]));
            for (const old of oldView) {
                const now = newView.find((e) => e.id === old.id);
                assert.ok(now, `node ${old.id} is still in the cluster`);
                assert.strictEqual(now.masterId, old.masterId, `node ${old.address} keeps its role and master`);
            }

            assert.deepStrictEqual(failures, []);
            const values = await Promise.all(Array.from({ length: KEYS }, (_, i) => client.get(`scale:${i}`)));
            assert.deepStrictEqual(
                values.filter((v, i) => v !== `v${i}`),
                [],
            );
            const during = await Promise.all(Array.from({ length: written }, (_, i) => client.get(`during:${i}`)));
            assert.deepStrictEqual(
                during.filter((v, i) => v !== `d${i}`),
                [],
            );
        } finally {
            client.disconnect();
        }
    });

    it("running the update again with the same inputs changes nothing", async () => {
        const result = await form({ nodes: pods, masters: 4, replicasPerMaster: 1, transport: t });
        assert.strictEqual(result.action, "unchanged");
    });

    it("a node holding keys is refused (fresh formation and scale-out alike) and keeps its keys; no node ever received FLUSHALL, FLUSHDB or CLUSTER RESET", async () => {
        const hosts = loopbackAddresses(33, 4);
        extra = await LocalRedisNode.startAll(
            hosts.map((host, i) => ({
                host,
                dir: path.join(dir, `extra-${i}`),
                password: cluster.password,
                nodeTimeoutMs: NODE_TIMEOUT_MS,
            })),
        );
        const [withData, ...empty] = extra;
        // A node that once served all slots, took writes, then gave the slots up: keys without slots.
        await t.call(withData.address, ["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
        for (let i = 0; i < 100 && !/cluster_state:ok/.test(await t.call(withData.address, ["CLUSTER", "INFO"])); i++) await sleep(50);
        for (let i = 0; i < 50; i++) await t.call(withData.address, ["SET", `precious:{a}:${i}`, String(i)]);
        await t.call(withData.address, ["CLUSTER", "DELSLOTSRANGE", "0", "16383"]);
        assert.strictEqual(await t.call(withData.address, ["DBSIZE"]), "50");
        const asPod = (n: LocalRedisNode): FormNode => ({ address: n.address, target: n.address });

        await assert.rejects(
            form({ nodes: [withData, ...empty].map(asPod), masters: 3, replicasPerMaster: 0, transport: t }),
            (e: Error) => {
                assert.ok(e instanceof FormationRefused, e.message);
                assert.match(e.message, new RegExp(`node ${withData.address.replace(/\./g, "\\.")} holds 50 keys .* Nothing was changed`));
                return true;
            },
        );
        await assert.rejects(
            form({ nodes: [...pods, asPod(withData), asPod(empty[0])], masters: 5, replicasPerMaster: 1, transport: t }),
            (e: Error) => {
                assert.ok(e instanceof FormationRefused, e.message);
                assert.match(e.message, /holds 50 keys/);
                return true;
            },
        );

        assert.strictEqual(await t.call(withData.address, ["DBSIZE"]), "50");
        assert.strictEqual(
            parseClusterNodes(await t.call(withData.address, ["CLUSTER", "NODES"])).length,
            1,
            "it was not met into any cluster",
        );
        // The servers' own counters: no destructive command reached any node, old or new, at any point of this file.
        assert.deepStrictEqual(await destructiveCommandsSeen(t, [...pods.map((p) => p.address), ...extra.map((n) => n.address)]), []);
    });
});
