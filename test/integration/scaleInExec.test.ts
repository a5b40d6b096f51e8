/**
 * Scale-in through both providers over Kubernetes exec (the stand-in API server enforcing the
 * formation's Role, real redis-cli in real redis-server "pods", loopback block 127.0.213.x), in the
 * order `pulumi up` runs them: the drain's update while the StatefulSet still has 8 pods, then the
 * StatefulSet removes redis-6 and redis-7, then the formation's update with 6. Keys written before are
 * all readable after, redis-cli --cluster check is clean, and no pod remembers a removed node.
 */
import * as assert from "assert";
import { Cluster } from "ioredis";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { DrainInputs, DrainOutputs, drainProvider } from "../../components/formation/drain";
import { FormationOutputs, formationId, formationProvider } from "../../components/formation/provider";
import { assertRedisCliCheckClean } from "../support/clusterChecks";
import { validFormationInputs } from "../support/formationInputs";
import { PodRig, startPodRig } from "../support/podRig";

const PASSWORD = "scale-in-exec-0123";
const KEYS = 2000;

describe("scale-in over Kubernetes exec: drain, StatefulSet shrinks, formation forgets", function () {
    this.timeout(240_000);
    let rig: PodRig;

    before(async () => {
        rig = await startPodRig({ label: "scale-in-exec", block: 213, count: 8, password: PASSWORD, nodeTimeoutMs: 1000 });
    });

    after(async () => {
        await rig?.stop();
    });

    it("masters 4 -> 3: the drain empties the leaving shard with redis-cli --cluster reshard in a pod, and every pod forgets redis-6 and redis-7", async () => {
        const four = {
            ...validFormationInputs(rig.api.kubeconfig()),
            masters: 4,
            headlessServiceName: "redis-headless",
            timeoutMs: 120_000,
        };
        const formed = (await formationProvider.create!(four)).outs as FormationOutputs;
        assert.strictEqual(formed.shards.length, 4);
        const client = new Cluster([{ host: rig.nodes[0].host, port: 6379 }], { redisOptions: { password: PASSWORD } });
        try {
            await Promise.all(Array.from({ length: KEYS }, (_, i) => client.set(`exec-in:${i}`, `v${i}`)));
            const drainInputs = (masters: number): DrainInputs => ({
                kubeconfig: four.kubeconfig,
                namespace: "redis",
                statefulSetName: "redis",
                containerName: "redis",
                masters,
                replicasPerMaster: 1,
                providerVersion: four.providerVersion,
                timeoutMs: 120_000,
            });
            // `pulumi up` with masters 3: the drain's update first (the StatefulSet depends on it) …
            const execsBefore = rig.api.execs.length;
            const drained = (await drainProvider.update!("redis/redis", { ...drainInputs(4), drained: [] }, drainInputs(3)))
                .outs as DrainOutputs;
            assert.deepStrictEqual(drained.drained, ["redis-6", "redis-7"]);
            const reshards = rig.api.execs.slice(execsBefore).filter((e) => e.command.includes("reshard"));
            assert.ok(reshards.length >= 1, "the leaving shard was not emptied through redis-cli --cluster reshard");
            const view = parseClusterNodes(await rig.direct.call(rig.nodes[0].address, ["CLUSTER", "NODES"]));
            const removedIds = view.filter((e) => ["127.0.213.17:6379", "127.0.213.18:6379"].includes(e.address)).map((e) => e.id);
            assert.ok(
                view.filter((e) => removedIds.includes(e.id)).every((e) => e.slotCount === 0),
                "a leaving pod still owns slots",
            );

            // … then the StatefulSet removes its two highest pods, then the formation's update.
            await rig.shrinkTo(6);
            const three = { ...four, masters: 3 };
            const outs = (await formationProvider.update!(formationId(four), formed, three)).outs as FormationOutputs;
            assert.deepStrictEqual(outs.shards.map((s) => s.slots.reduce((k, [a, b]) => k + b - a + 1, 0)).sort(), [5461, 5461, 5462]);
            assert.ok(outs.shards.every((s) => s.replicas.length === 1));
            assert.deepStrictEqual([outs.clusterState, outs.drift, outs.converge], ["ok", [], []]);
            for (const n of rig.nodes.slice(0, 6)) {
                const known = parseClusterNodes(await rig.direct.call(n.address, ["CLUSTER", "NODES"])).map((e) => e.id);
                assert.deepStrictEqual(
                    known.filter((id) => removedIds.includes(id)),
                    [],
                    `${n.address} remembers a removed node`,
                );
            }
            assertRedisCliCheckClean(rig.nodes[0].address, PASSWORD);
            const values = await Promise.all(Array.from({ length: KEYS }, (_, i) => client.get(`exec-in:${i}`)));
            assert.deepStrictEqual(
                values.flatMap((v, i) => (v === `v${i}` ? [] : [i])),
                [],
            );
            assert.deepStrictEqual(rig.api.denied, [], "the scale-in needed more than the formation's Role");
        } finally {
            client.disconnect();
        }
    });
});
