/**
 * The surge pod at the pods' level (components/formation/podCluster.ts, provider.ts, drain.ts,
 * preview.ts), without Redis or Kubernetes: which pod is the surge, which pods a scale-in drains and
 * which of them stays, and how the `surgeReplica` input is checked and diffed (absent = false).
 */
import * as assert from "assert";
import { diffDrain } from "../../components/formation/drain";
import { RedisPod } from "../../components/formation/kubernetesTransport";
import { ShardOutput, leavingPods, surgeTarget } from "../../components/formation/podCluster";
import { previewPlan } from "../../components/formation/preview";
import { FormationOutputs, checkFormationInputs, diffFormation } from "../../components/formation/provider";
import { validFormationInputs } from "../support/formationInputs";

const pods = (count: number): RedisPod[] =>
    Array.from({ length: count }, (_, i) => ({ name: `redis-${i}`, ip: `10.1.0.${i}`, ready: true }));
const names = (ps: readonly RedisPod[]) => ps.map((p) => p.name);
const on = { statefulSetName: "redis", surgeReplica: true };

describe("surge pod: which pod it is, and which pods a scale-in drains (podCluster.ts)", () => {
    it("the surge is the pod at the shape's pod count, by its IP; none without the input or without an IP", () => {
        assert.deepStrictEqual(surgeTarget({ ...on, masters: 3, replicasPerMaster: 1 }, pods(7)), {
            address: "10.1.0.6:6379",
            target: "redis-6",
            k8sNode: undefined,
            zone: undefined,
        });
        assert.strictEqual(surgeTarget({ ...on, surgeReplica: false, masters: 3, replicasPerMaster: 1 }, pods(7)), undefined);
        assert.strictEqual(surgeTarget({ ...on, masters: 3, replicasPerMaster: 1 }, pods(6)), undefined);
        const noIp = pods(7).map((p) => (p.name === "redis-6" ? { ...p, ip: "" } : p));
        assert.strictEqual(surgeTarget({ ...on, masters: 3, replicasPerMaster: 1 }, noIp), undefined);
    });

    it("same shape: the surge pod never leaves, whether idle or recruited", () => {
        assert.deepStrictEqual(leavingPods({ ...on, masters: 3, replicasPerMaster: 1 }, pods(7)), { leaving: [] });
        assert.deepStrictEqual(
            leavingPods({ ...on, masters: 3, replicasPerMaster: 1 }, pods(7), { masters: 3, replicasPerMaster: 1, surgeReplica: true }),
            { leaving: [] },
        );
    });

    it("4x1 -> 3x1: redis-6..8 are drained; redis-6, the new surge, is released and stays", () => {
        const { leaving, release } = leavingPods({ ...on, masters: 3, replicasPerMaster: 1 }, pods(9));
        assert.deepStrictEqual(names(leaving), ["redis-6", "redis-7", "redis-8"]);
        assert.strictEqual(release?.name, "redis-6");
    });

    it("3x2 -> 4x1: no pod beyond the new surge, but redis-8 was a member of the previous shape: drained and released", () => {
        const previous = { masters: 3, replicasPerMaster: 2 };
        const { leaving, release } = leavingPods({ ...on, masters: 4, replicasPerMaster: 1 }, pods(9), previous);
        assert.deepStrictEqual(names(leaving), ["redis-8"]);
        assert.strictEqual(release?.name, "redis-8");
    });

    it("without the surge, every pod beyond the shape leaves as before, and none is released", () => {
        const { leaving, release } = leavingPods({ statefulSetName: "redis", masters: 3, replicasPerMaster: 1 }, pods(8));
        assert.deepStrictEqual(names(leaving), ["redis-6", "redis-7"]);
        assert.strictEqual(release, undefined);
    });
});

describe("surge pod: the surgeReplica input (provider.ts, drain.ts)", () => {
    it("is checked: a boolean or nothing", () => {
        const valid = validFormationInputs("k");
        assert.deepStrictEqual(checkFormationInputs({ ...valid, surgeReplica: true }), []);
        assert.deepStrictEqual(
            checkFormationInputs({ ...valid, surgeReplica: "yes" as unknown as boolean }).map((f) => f.property),
            ["surgeReplica"],
        );
    });

    it("absent is false: an existing stack sees no change; turning it on or off is an update (formation and drain)", () => {
        const olds = { ...validFormationInputs("k"), converge: [] };
        assert.strictEqual(diffFormation(olds, { ...validFormationInputs("k"), surgeReplica: false }).changes, false);
        assert.strictEqual(diffFormation(olds, { ...validFormationInputs("k"), surgeReplica: true }).changes, true);
        assert.strictEqual(diffDrain(olds, { ...validFormationInputs("k"), surgeReplica: false }).changes, false);
        assert.strictEqual(diffDrain(olds, { ...validFormationInputs("k"), surgeReplica: true }).changes, true);
    });

    it("at preview, a 4x1 -> 3x1 with the surge says redis-6 stays as the surge pod and only redis-7 is removed", () => {
        const member = (i: number) => ({
            pod: `redis-${i}`,
            id: `${String(i).padStart(2, "0")}${"b".repeat(38)}`,
            address: `10.1.0.${i}:6379`,
        });
        const shards: ShardOutput[] = [0, 1, 2, 3].map((i) => ({
            master: member(i),
            slots: [[i * 4096, i * 4096 + 4095] as const],
            replicas: [member(i + 4)],
        }));
        const olds: FormationOutputs = {
            ...validFormationInputs("k"),
            masters: 4,
            surgeReplica: true,
            seeds: [],
            shards,
            placementOk: true,
            placementWarnings: [],
            clusterState: "ok",
            drift: [],
            converge: [],
        };
        const lines = previewPlan(olds, { ...validFormationInputs("k"), masters: 3, surgeReplica: true });
        assert.deepStrictEqual(lines.slice(-2), [
            "then redis-6 leaves the cluster (every node forgets it at once, CLUSTER RESET on it) and stays as the surge pod",
            "then the StatefulSet removes redis-7, and every remaining node forgets them at once (CLUSTER FORGET)",
        ]);
    });
});
