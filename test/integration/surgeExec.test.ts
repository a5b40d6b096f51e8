/**
 * The surge pod through both providers over Kubernetes exec (the stand-in API server enforcing the
 * formation's Role, real redis-server "pods", loopback block 127.0.221.x), with `surgeReplica` on: a
 * 4x1 formed over redis-0..7 leaves redis-8 alone; the drain of 4x1 -> 3x1 empties redis-6..8 and
 * releases redis-6, which stays; the formation after the StatefulSet keeps 7 pods forgets redis-7 and
 * redis-8 only; a recruited redis-6 is then neither forgotten nor counted by a refresh or an update.
 */
import * as assert from "assert";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { DrainInputs, DrainOutputs, drainProvider } from "../../components/formation/drain";
import { FormationOutputs, formationId, formationProvider } from "../../components/formation/provider";
import { waitUntil } from "../../lib/poll";
import { validFormationInputs } from "../support/formationInputs";
import { loopbackBlocks } from "../support/loopbackBlocks";
import { PodRig, startPodRig } from "../support/podRig";

const PASSWORD = "surge-exec-0123456";

describe("surge pod over Kubernetes exec: formed without it, released by a scale-in, left alone while recruited", function () {
    this.timeout(240_000);
    let rig: PodRig;
    const nodesOf = async (i: number) => parseClusterNodes(await rig.direct.call(rig.nodes[i].address, ["CLUSTER", "NODES"]));
    const idOf = async (i: number) => (await nodesOf(i)).find((e) => e.flags.includes("myself"))!.id;

    before(async () => {
        rig = await startPodRig({
            label: "surge-exec",
            block: loopbackBlocks(__filename)[0],
            count: 9,
            password: PASSWORD,
            nodeTimeoutMs: 1000,
        });
    });

    after(async () => {
        await rig?.stop();
    });

    it("4x1 with redis-8 as the surge -> 3x1 with redis-6 as the surge, then redis-6 recruited", async () => {
        const four = {
            ...validFormationInputs(rig.api.kubeconfig()),
            masters: 4,
            headlessServiceName: "redis-headless",
            timeoutMs: 120_000,
            surgeReplica: true,
        };
        const formed = (await formationProvider.create!(four)).outs as FormationOutputs;
        assert.strictEqual(formed.shards.length, 4);
        assert.ok(
            formed.seeds.every((s) => !s.startsWith("redis-8.")),
            formed.seeds.join(", "),
        );
        assert.strictEqual((await nodesOf(8)).length, 1, "the surge pod was made a member");

        const drainInputs = (masters: number): DrainInputs => ({
            kubeconfig: four.kubeconfig,
            namespace: "redis",
            statefulSetName: "redis",
            containerName: "redis",
            masters,
            replicasPerMaster: 1,
            providerVersion: four.providerVersion,
            timeoutMs: 120_000,
            surgeReplica: true,
        });
        // Same shape: nothing leaves, the surge pod included.
        const same = (await drainProvider.update!("redis/redis", { ...drainInputs(4), drained: [] }, drainInputs(4))).outs as DrainOutputs;
        assert.deepStrictEqual(same.drained, []);

        const surgeId = await idOf(6);
        const drained = (await drainProvider.update!("redis/redis", { ...drainInputs(4), drained: [] }, drainInputs(3)))
            .outs as DrainOutputs;
        assert.deepStrictEqual(drained.drained, ["redis-6", "redis-7", "redis-8"]);
        assert.deepStrictEqual(
            (await nodesOf(6)).map((e) => e.id),
            [surgeId],
            "redis-6 was not released",
        );
        for (const i of [0, 1, 2, 3, 4, 5]) assert.ok(!(await nodesOf(i)).some((e) => e.id === surgeId), `redis-${i} still knows redis-6`);

        // The StatefulSet keeps 3x1 + the surge pod: redis-7 and redis-8 go.
        await rig.shrinkTo(7);
        const three = { ...four, masters: 3 };
        const outs = (await formationProvider.update!(formationId(four), formed, three)).outs as FormationOutputs;
        assert.ok(outs.shards.every((s) => s.replicas.length === 1));
        assert.deepStrictEqual([outs.clusterState, outs.drift, outs.converge], ["ok", [], []]);

        // A preStop recruits redis-6 as a second replica of the first shard.
        const master = outs.shards[0].master;
        for (const i of [0, 1, 2, 3, 4, 5]) await rig.direct.call(rig.nodes[6].address, ["CLUSTER", "MEET", rig.nodes[i].host, "6379"]);
        await waitUntil(
            "redis-6 to know its master",
            async () => ((await nodesOf(6)).some((e) => e.id === master.id && e.flags.includes("master")) ? undefined : "not yet"),
            { timeoutMs: 30_000, intervalMs: 200 },
        );
        await rig.direct.call(rig.nodes[6].address, ["CLUSTER", "REPLICATE", master.id]);
        await waitUntil(
            "every member to know redis-6 as a replica",
            async () => {
                for (const i of [0, 1, 2, 3, 4, 5])
                    if (!(await nodesOf(i)).some((e) => e.id === surgeId && e.masterId === master.id)) return `redis-${i}`;
                return undefined;
            },
            { timeoutMs: 30_000, intervalMs: 200 },
        );

        const read = (await formationProvider.read!(formationId(three), outs)).props as FormationOutputs;
        assert.deepStrictEqual([read.drift, read.converge], [[], []]);
        assert.ok(read.shards.every((s) => s.replicas.length === 1 && s.replicas.every((r) => r.pod !== "redis-6")));
        const again = (await formationProvider.update!(formationId(three), outs, three)).outs as FormationOutputs;
        assert.deepStrictEqual([again.drift, again.converge], [[], []]);
        assert.ok(
            (await nodesOf(0)).some((e) => e.id === surgeId),
            "the formation forgot the recruited surge",
        );
        assert.deepStrictEqual(rig.api.denied, [], "the surge needed more than the formation's Role");
    });
});
