/**
 * The formation at preview and on refresh, without Redis: the plan an update would run, computed from
 * the recorded state only and printed by the provider's diff (which `pulumi preview` runs) without
 * contacting the cluster; the id a read works from; the inputs a read takes from the id and props.
 */
import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import * as pulumi from "@pulumi/pulumi";
import { FormationOutputs, formationId, formationProvider, parseFormationId, readInputs } from "../../components/formation/provider";
import { previewPlan } from "../../components/formation/preview";
import { MemberOutput, ShardOutput } from "../../components/formation/podCluster";
import { fakeKubeconfig } from "../support/fakeKubeApi";
import { validFormationInputs } from "../support/formationInputs";

const member = (i: number, k8sNode: string): MemberOutput => ({
    pod: `redis-${i}`,
    id: `${String(i).padStart(2, "0")}${"b".repeat(38)}`,
    address: `10.1.0.${i}:6379`,
    k8sNode,
});

/** The state a 4x1 formation recorded: masters redis-0..3 own a quarter each, redis-4..7 replicate them. */
const recorded4x1 = (): ShardOutput[] =>
    [0, 1, 2, 3].map((i) => ({
        master: member(i, `node-${i % 3}`),
        slots: [[i * 4096, i * 4096 + 4095] as const],
        replicas: [member(i + 4, `node-${(i + 1) % 3}`)],
    }));

const state = (kubeconfig: string, shards: ShardOutput[], masters: number): FormationOutputs => ({
    ...validFormationInputs(kubeconfig),
    masters,
    seeds: [],
    shards,
    placementOk: true,
    placementWarnings: [],
    clusterState: "ok",
    drift: [],
    converge: [],
});

describe("the formation at preview and on refresh (provider.ts, preview.ts)", () => {
    it("scale-in 4 -> 3 at preview: the drain of redis-6 and redis-7 (slots from the shard that goes, evenly), then the forget", () => {
        const lines = previewPlan(state("k", recorded4x1(), 4), { ...validFormationInputs("k"), masters: 3 });
        assert.strictEqual(lines[0], "plan: drain 2 leaving nodes: 0 handovers, 4096 slots to move off 1 shards, 1 replicas to re-pair");
        assert.ok(lines.includes("       redis-3:6379  redis-0:6379   1366  12288-13653"), lines.join("\n"));
        assert.ok(
            lines.some((l) => /^ {7}redis-7:6379 replicates redis-3:6379/.test(l) || /redis-\d:6379 replicates/.test(l)),
            lines.join("\n"),
        );
        assert.strictEqual(
            lines[lines.length - 1],
            "then the StatefulSet removes redis-6, redis-7, and every remaining node forgets them at once (CLUSTER FORGET)",
        );
    });

    it("scale-out 3 -> 4 at preview: the new pods join, and a quarter of the slots moves to the new master", () => {
        const three = [0, 1, 2].map((i) => ({
            master: member(i, `node-${i}`),
            slots: [[Math.floor((i * 16384) / 3), Math.floor(((i + 1) * 16384) / 3) - 1] as const],
            replicas: [member(i + 3, `node-${(i + 1) % 3}`)],
        }));
        const lines = previewPlan(state("k", three, 3), { ...validFormationInputs("k"), masters: 4 });
        assert.strictEqual(lines[0], "plan: converge to 4 masters x 1 replicas: 1 new masters, 1 new replicas, 4096 slots to move");
        assert.ok(lines.includes("  1. joining 2 nodes (1 new masters) through redis-0:6379"), lines.join("\n"));
        assert.ok(lines.some((l) => /rebalancing: moving 4096 slots to 1 new masters with their keys/.test(l)));
    });

    it("with the same shape, the preview shows the converge plan the last refresh recorded, and nothing for a healthy cluster", () => {
        const converge = [
            "plan: converge to 3 masters x 1 replicas: 0 new masters, 0 new replicas, 0 slots to move, 2 departed nodes forgotten",
        ];
        assert.deepStrictEqual(previewPlan({ ...state("k", recorded4x1(), 3), converge }, { ...validFormationInputs("k") }), converge);
        assert.deepStrictEqual(previewPlan(state("k", recorded4x1(), 3), validFormationInputs("k")), []);
        assert.deepStrictEqual(previewPlan({}, validFormationInputs("k")), [], "a first create has no recorded shard map");
    });

    it("the provider's diff prints that plan (it runs at `pulumi preview`) and sends nothing to the cluster", async () => {
        const requests: string[] = [];
        const api = http.createServer((req, res) => {
            requests.push(`${req.method} ${req.url}`);
            res.statusCode = 500;
            res.end();
        });
        await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
        const kubeconfig = fakeKubeconfig((api.address() as AddressInfo).port);
        const printed: string[] = [];
        const info = pulumi.log.info;
        (pulumi.log as { info: typeof info }).info = async (msg: string) => void printed.push(msg);
        try {
            const diff = await formationProvider.diff!("redis/redis", state(kubeconfig, recorded4x1(), 4), {
                ...validFormationInputs(kubeconfig),
                masters: 3,
            });
            assert.strictEqual(diff.changes, true);
            assert.strictEqual(printed[0], "redis formation: the update would run this plan (from the last recorded state):");
            assert.strictEqual(
                printed[1],
                "redis formation: plan: drain 2 leaving nodes: 0 handovers, 4096 slots to move off 1 shards, 1 replicas to re-pair",
            );
            const unchanged = await formationProvider.diff!(
                "redis/redis",
                state(kubeconfig, recorded4x1(), 3),
                validFormationInputs(kubeconfig),
            );
            assert.strictEqual(unchanged.changes, false);
        } finally {
            (pulumi.log as { info: typeof info }).info = info;
            await new Promise((r) => api.close(r));
        }
        assert.deepStrictEqual(requests, [], "diff contacted the API server");
        assert.strictEqual(
            printed.length,
            1 + 1 + previewPlan(state("k", recorded4x1(), 4), { ...validFormationInputs("k"), masters: 3 }).length - 1,
        );
    });

    it("the id carries everything a read needs but the kubeconfig (a secret); older ids still parse", () => {
        const inputs = { ...validFormationInputs("k"), headlessServiceName: "redis-headless", port: 7000 };
        const id = formationId(inputs);
        assert.strictEqual(id, "redis/redis?container=redis&headless=redis-headless&port=7000");
        assert.deepStrictEqual(parseFormationId(id), {
            namespace: "redis",
            statefulSetName: "redis",
            containerName: "redis",
            headlessServiceName: "redis-headless",
            port: 7000,
        });
        assert.deepStrictEqual(parseFormationId("cache/redis"), { namespace: "cache", statefulSetName: "redis" });
        assert.throws(
            () => parseFormationId("Redis/x y"),
            /^Error: id: expected <namespace>\/<statefulSet>\[\?container=<name>&headless=<service>&port=<port>\], got "Redis\/x y"$/,
        );
        assert.ok(!id.includes("k8s") && !id.includes("apiVersion"));
    });

    it("a read takes the id's fields, then the recorded state or a get's props; without a kubeconfig it says how to pass one", () => {
        const got = readInputs("cache/redis?container=redis&headless=redis-headless", { kubeconfig: "apiVersion: v1", masters: undefined });
        assert.deepStrictEqual(
            [got.namespace, got.statefulSetName, got.containerName, got.headlessServiceName, got.kubeconfig, got.masters],
            ["cache", "redis", "redis", "redis-headless", "apiVersion: v1", undefined],
        );
        const refreshed = readInputs("redis/redis", state("k", recorded4x1(), 4));
        assert.strictEqual(refreshed.masters, 4);
        assert.throws(
            () => readInputs("redis/redis", {}),
            /^Error: read redis\/redis: no kubeconfig; RedisClusterFormation\.get\(name, id, \{ kubeconfig \}\) passes it/,
        );
    });
});
