/**
 * The scale-in drain planner (components/formation/planDrain.ts), without Redis: what is moved,
 * handed over and re-paired before the StatefulSet removes its highest pods, and what is refused.
 */
import * as assert from "assert";
import { DrainRequest, planDrain } from "../../components/formation/planDrain";
import { FormationRefused, Plan, Step } from "../../components/formation/plan";
import { renderPlan } from "../../components/formation/renderPlan";
import { NodeView } from "../../components/formation/clusterState";
import { FixtureNode, addressOf, clusterViews, idOf, request } from "../support/clusterViews";

const stepsOf = <K extends Step["kind"]>(plan: Plan, kind: K) =>
    plan.phases.flatMap((p) => p.steps).filter((s): s is Extract<Step, { kind: K }> => s.kind === kind);
const drainRequest = (nodes: readonly FixtureNode[], masters: number, replicas: number, leaving: readonly number[]): DrainRequest => ({
    ...request(nodes, masters, replicas),
    leaving: leaving.map(addressOf),
});
const MIB = 2 ** 20;

/** 4x1: masters 1, 2, 3, 7 own a quarter each; replicas 6->1, 5->2, 4->3, 8->7. */
const formed4x1 = (): FixtureNode[] => [
    { n: 1, slots: "0-4095" },
    { n: 2, slots: "4096-8191" },
    { n: 3, slots: "8192-12287" },
    { n: 4, replicaOf: 3 },
    { n: 5, replicaOf: 2 },
    { n: 6, replicaOf: 1 },
    { n: 7, slots: "12288-16383" },
    { n: 8, replicaOf: 7 },
];

describe("scale-in drain planner (components/formation/planDrain.ts, pure)", () => {
    it("4x1 -> 3x1: the leaving shard's slots go evenly to the three that stay, with their keys; the leaving pods are never promoted", () => {
        const nodes = formed4x1();
        const plan = planDrain(clusterViews(nodes, true), drainRequest(nodes, 3, 1, [7, 8]));
        assert.strictEqual(plan.outcome, "drained");
        assert.strictEqual(plan.summary, "drain 2 leaving nodes: 0 handovers, 4096 slots to move off 1 shards, 0 replicas to re-pair");
        assert.deepStrictEqual(
            stepsOf(plan, "replica-failover").map((s) => [s.node, s.allowed]),
            [
                [addressOf(7), false],
                [addressOf(8), false],
            ],
        );
        assert.deepStrictEqual(
            stepsOf(plan, "move-slots").map((m) => [m.from, m.to, m.slots.length, m.slots[0], m.slots[m.slots.length - 1]]),
            [
                [addressOf(7), addressOf(1), 1366, 12288, 13653],
                [addressOf(7), addressOf(2), 1365, 13654, 15018],
                [addressOf(7), addressOf(3), 1365, 15019, 16383],
            ],
        );
        assert.deepStrictEqual(stepsOf(plan, "handover"), []);
        assert.deepStrictEqual(stepsOf(plan, "replicate"), []);
        const text = renderPlan(plan);
        assert.match(text, /^ {2}1\. marking 2 leaving nodes never to be promoted$/m);
        assert.match(text, /emptying 1 shards: moving 4096 slots to 3 masters that stay, with their keys/);
        assert.match(text, /^ {7}10\.0\.0\.7:6379 {2}10\.0\.0\.1:6379 {3}1366 {2}12288-13653$/m);
    });

    it("3x2 -> 3x1 with a master among the leaving pods: that shard is handed over to its staying replica; no slot moves", () => {
        const nodes: FixtureNode[] = [
            { n: 1, slots: "0-5460" },
            { n: 2, slots: "5461-10921" },
            { n: 9, slots: "10922-16383" },
            { n: 4, replicaOf: 1 },
            { n: 7, replicaOf: 1 },
            { n: 5, replicaOf: 2 },
            { n: 8, replicaOf: 2 },
            { n: 3, replicaOf: 9 },
            { n: 6, replicaOf: 9 },
        ];
        const plan = planDrain(clusterViews(nodes, true), drainRequest(nodes, 3, 1, [7, 8, 9]));
        assert.deepStrictEqual(
            stepsOf(plan, "handover").map((h) => [h.master, h.replica, h.masterId, h.replicaId]),
            [[addressOf(9), addressOf(3), idOf(9), idOf(3)]],
        );
        assert.deepStrictEqual(stepsOf(plan, "move-slots"), []);
        assert.deepStrictEqual(stepsOf(plan, "replicate"), [], "3's other replica 6 follows it after the failover by itself");
    });

    it("a shard none of whose nodes stays takes a recruit: a staying node replicates it, then takes it over; the seat it leaves is filled", () => {
        const nodes: FixtureNode[] = [
            { n: 1, slots: "0-5460" },
            { n: 4, replicaOf: 1 },
            { n: 5, replicaOf: 1 },
            { n: 2, slots: "5461-10921" },
            { n: 3, replicaOf: 2 },
            { n: 6, replicaOf: 2 },
            { n: 9, slots: "10922-16383" },
            { n: 7, replicaOf: 9 },
            { n: 8, replicaOf: 9 },
        ];
        const plan = planDrain(clusterViews(nodes, true), drainRequest(nodes, 3, 1, [7, 8, 9]));
        assert.deepStrictEqual(
            plan.phases.map((p) => p.title),
            [
                "marking 3 leaving nodes never to be promoted",
                "recruiting: 1 staying nodes replicate a shard none of whose members stays",
                "handing those 1 shards over to their recruits",
                "replicating: 1 staying nodes follow a staying master",
            ],
        );
        assert.deepStrictEqual(
            stepsOf(plan, "replicate").map((s) => [s.replica, s.master]),
            [
                [addressOf(3), addressOf(9)],
                [addressOf(5), addressOf(3)],
            ],
        );
        assert.deepStrictEqual(
            stepsOf(plan, "handover").map((h) => [h.master, h.replica]),
            [[addressOf(9), addressOf(3)]],
        );
    });

    it("re-pairs the staying nodes away from their master's k8s node", () => {
        // k8s nodes: a hosts 1, 5 and 8; b hosts 2, 4 and 7; c hosts 3 and 6. After 8 and 7 leave, 5's master 1 shares a.
        const on = (n: number) => (({ 1: "a", 5: "a", 8: "a", 2: "b", 4: "b", 7: "b", 3: "c", 6: "c" }) as Record<number, string>)[n];
        const nodes = formed4x1().map((f) => ({
            ...f,
            k8sNode: on(f.n),
            ...(f.n === 5 ? { replicaOf: 1 } : f.n === 6 ? { replicaOf: 2 } : {}),
        }));
        const plan = planDrain(clusterViews(nodes, true), drainRequest(nodes, 3, 1, [7, 8]));
        const after = new Map(stepsOf(plan, "replicate").map((s) => [s.replica, s.master]));
        // Every staying master ends with one staying replica on another k8s node.
        const masterOf = (r: number) => after.get(addressOf(r)) ?? addressOf(nodes.find((f) => f.n === r)!.replicaOf!);
        const pairs = [4, 5, 6].map((r) => [r, Number(masterOf(r).split(".")[3].split(":")[0])]);
        assert.deepStrictEqual(new Set(pairs.map(([, m]) => m)), new Set([1, 2, 3]), JSON.stringify(pairs));
        for (const [r, m] of pairs) assert.notStrictEqual(on(r), on(m), `${r} replicates ${m} on the same k8s node`);
    });

    it("refuses before anything moves when the keys would not fit the staying masters' maxmemory, and says by how much", () => {
        const nodes = formed4x1();
        const withMemory = (used: number, dataset: number, max: number) => (v: NodeView) => ({
            ...v,
            memory: { usedBytes: used * MIB, datasetBytes: (v.address === addressOf(7) ? dataset : used - 2) * MIB, maxBytes: max * MIB },
        });
        const tight = clusterViews(nodes, true).map(withMemory(60, 120, 100));
        assert.throws(
            () => planDrain(tight, drainRequest(nodes, 3, 1, [7, 8])),
            (e: Error) => {
                assert.ok(e instanceof FormationRefused);
                assert.match(
                    e.message,
                    /^keys: after the scale-in 10\.0\.0\.1:6379 would hold about 100 MiB \(60 MiB now \+ 40 MiB moved to it\), more than 90% of its maxmemory 100 MiB; keep more masters or raise redis:memoryLimit first\. Nothing was changed\.$/,
                );
                return true;
            },
        );
        const roomy = clusterViews(nodes, true).map(withMemory(40, 60, 100));
        assert.strictEqual(planDrain(roomy, drainRequest(nodes, 3, 1, [7, 8])).outcome, "drained");
    });

    it("nothing to move off pods that hold nothing (a cluster never formed), and a half-formed cluster is refused", () => {
        const fresh = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => ({ n }));
        const plan = planDrain(clusterViews(fresh, false), drainRequest(fresh, 3, 1, [7, 8]));
        assert.strictEqual(plan.summary, "drain 2 leaving nodes: nothing the cluster needs is on them");
        const half = formed4x1().map((f) => (f.n === 7 ? { ...f, slots: "12288-13000" } : f));
        assert.throws(
            () => planDrain(clusterViews(half, true), drainRequest(half, 3, 1, [7, 8])),
            /^FormationRefused: cluster: only 13001 of 16384 slots are covered, so it cannot be drained safely/,
        );
    });
});
