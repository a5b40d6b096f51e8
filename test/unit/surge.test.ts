/**
 * The surge pod in the formation (components/formation/surge.ts, planRelease.ts and the pod-level rules
 * of podCluster.ts), without Redis: a node the engines never make a member, never forget, never count,
 * and whose slots after a takeover stop a run instead of being taken for a departed owner.
 */
import * as assert from "assert";
import { NodeView, formedPending, parseClusterNodes } from "../../components/formation/clusterState";
import { liveReport, liveShape } from "../../components/formation/live";
import { FormationRefused, Plan, Step, planRun, refuseForeign } from "../../components/formation/plan";
import { planRelease } from "../../components/formation/planRelease";
import { clusterNodes } from "../../components/formation/scaleIn";
import { planDrain } from "../../components/formation/planDrain";
import { Surge, surgeFree, withoutSurge, withoutSurgeEntries } from "../../components/formation/surge";
import { FixtureNode, addressOf, clusterViews, formed3x1, idOf, request } from "../support/clusterViews";

const stepsOf = <K extends Step["kind"]>(plan: Plan, kind: K) =>
    plan.phases.flatMap((p) => p.steps).filter((s): s is Extract<Step, { kind: K }> => s.kind === kind);

/** The surge is node 7 (the pod redis-6 of a 3x1): the views of the others, and the surge as a run reads it. */
function withSurge(surgeNode: FixtureNode, readable = true): { views: NodeView[]; surge: Surge } {
    return withSurgeAmong(formed3x1(), surgeNode, readable);
}
function withSurgeAmong(members: FixtureNode[], surgeNode: FixtureNode, readable = true): { views: NodeView[]; surge: Surge } {
    const all = clusterViews([...members, surgeNode], true);
    const own = all.find((v) => v.address === addressOf(7))!;
    return {
        views: all.filter((v) => v !== own),
        surge: { address: addressOf(7), name: "redis-6", ...(readable ? { self: own.self } : {}) },
    };
}

/** A 3x1 whose shard of master 1 has the surge recruited as a second replica (a rolling restart). */
const recruited = (readable = true) => withSurge({ n: 7, replicaOf: 1 }, readable);
/** The surge took shard 1 over: it serves 0-5460; master 1 and replica 6 follow it. */
const tookOver = () =>
    withSurgeAmong(
        formed3x1((f) => (f.n === 1 || f.n === 6 ? { n: f.n, replicaOf: 7 } : f)),
        { n: 7, slots: "0-5460" },
    );

describe("surge pod: the formation leaves it out (components/formation/surge.ts)", () => {
    it("recruited as a second replica: the converge plan neither forgets it nor moves anyone (a run is unchanged)", () => {
        const { views, surge } = recruited();
        // Without the boundary filter the members' peer is a departed node, which converge forgets.
        assert.ok(stepsOf(planRun(views, request(formed3x1(), 3, 1)), "forget").length > 0, "the fixture must show a peer to forget");
        const plan = planRun(surgeFree(views, surge), request(formed3x1(), 3, 1));
        assert.strictEqual(plan.outcome, "unchanged");
        assert.deepStrictEqual(stepsOf(plan, "forget"), []);
        assert.deepStrictEqual(
            plan.members,
            formed3x1().map((f) => addressOf(f.n)),
        );
    });

    it("an outsider that knows the surge is not refused as foreign once the surge is left out", () => {
        // Node 8, fresh apart from knowing the surge (the surge's MEET reached it): it knows a node outside the set.
        const cluster = [1, 2, 3, 4, 5, 6, 7];
        const knowsCluster = (f: FixtureNode): FixtureNode => ({ ...f, knows: cluster.filter((n) => n !== f.n) });
        const all = clusterViews([...formed3x1(knowsCluster), knowsCluster({ n: 7, replicaOf: 1 }), { n: 8, knows: [7] }], true);
        const views = all.filter((v) => v.address !== addressOf(7));
        const surge: Surge = { address: addressOf(7), name: "redis-6", self: all.find((v) => v.address === addressOf(7))!.self };
        assert.throws(() => refuseForeign(views), FormationRefused);
        assert.doesNotThrow(() => refuseForeign(withoutSurge(views, surge)));
    });

    it("is told apart by its node id when its pod was read (its address moved), else by its address", () => {
        const { views, surge } = recruited();
        const moved: Surge = { ...surge, address: "10.0.0.99:6379" };
        assert.ok(
            withoutSurge(views, moved).every((v) => v.peers.every((p) => p.id !== idOf(7))),
            "by id",
        );
        const unread = recruited(false);
        assert.strictEqual(unread.surge.self, undefined);
        assert.ok(
            withoutSurge(unread.views, unread.surge).every((v) => v.peers.every((p) => p.address !== addressOf(7))),
            "by address",
        );
        // A node at another address is never taken for it.
        assert.strictEqual(withoutSurge(views, moved)[0].peers.length, 5);
    });

    it("a caller that lists the surge's own view gets it dropped, so it is no replica in a live report or liveShape", () => {
        const all = clusterViews([...formed3x1(), { n: 7, replicaOf: 1 }], true);
        const surge: Surge = { address: addressOf(7), name: "redis-6", self: all[6].self };
        const live = { views: all, unreachable: [], states: all.map((v) => [v.address, "ok"] as const), surge };
        const report = liveReport(live, request(formed3x1(), 3, 1));
        assert.deepStrictEqual(
            report.shards.map((s) => s.replicas.map((r) => r.address)),
            [[addressOf(6)], [addressOf(5)], [addressOf(4)]],
        );
        assert.deepStrictEqual(report.drift, []);
        assert.deepStrictEqual(report.converge, []);
        assert.deepStrictEqual(liveShape(withoutSurge(all, surge)), { masters: 3, replicasPerMaster: 1 });
    });

    it("a live read of members that know the recruited surge: no departed node, no surplus replica, nothing to converge", () => {
        const { views, surge } = recruited();
        const live = { views, unreachable: [], states: views.map((v) => [v.address, "ok"] as const), surge };
        const report = liveReport(live, request(formed3x1(), 3, 1));
        assert.deepStrictEqual(report.drift, []);
        assert.deepStrictEqual(report.converge, []);
        assert.deepStrictEqual(report.placementWarnings, []);
    });

    it("serving slots after a takeover: a run is refused, saying so plainly, before any plan", () => {
        const { views, surge } = tookOver();
        assert.throws(
            () => surgeFree(views, surge),
            (e: Error) =>
                e instanceof FormationRefused &&
                /the surge pod redis-6 serves 5461 slots after a takeover/.test(e.message) &&
                /hands them back to a member within seconds/.test(e.message) &&
                /Nothing was changed; run again\.$/.test(e.message),
        );
        // Also when only its peers say so (its pod could not be read).
        assert.throws(() => surgeFree(views, { address: surge.address, name: "redis-6" }), FormationRefused);
    });

    it("serving slots: a live report warns (drift surge-serving, converge refused) instead of crashing", () => {
        const { views, surge } = tookOver();
        const live = { views, unreachable: [], states: views.map((v) => [v.address, "ok"] as const), surge };
        const report = liveReport(live, request(formed3x1(), 3, 1));
        const serving = report.drift.filter((d) => d.kind === "surge-serving");
        assert.strictEqual(serving.length, 1);
        assert.deepStrictEqual(serving[0].nodes, [addressOf(7)]);
        assert.match(report.converge[0], /^refused: the surge pod redis-6 serves 5461 slots/);
        assert.ok(report.shards.every((s) => s.master.address !== addressOf(7)));
    });

    it("the formed check ignores the surge's line in every node's table", () => {
        const { views, surge } = recruited();
        const reports = views.map((v) => ({
            n: { address: v.address, target: v.address },
            entries: parseClusterNodes(""),
            link: v.self.masterId ? "up" : "n/a",
        }));
        const full = views.map((v, i) => ({ ...reports[i], entries: [v.self, ...v.peers] }));
        assert.match(formedPending(full, 6, () => undefined) ?? "", /knows 7\/6 nodes/);
        const filtered = full.map((r) => ({ ...r, entries: withoutSurgeEntries(r.entries, surge) }));
        assert.strictEqual(
            formedPending(filtered, 6, () => undefined),
            undefined,
        );
    });

    it("scale-out 3x1 -> 4x1 while the old surge (redis-6) is attached to master 1: it is a member replica; the new master gets a replica", () => {
        // 1-6 the 3x1, 7 the old surge replicating 1, 8 a fresh pod; the new surge (redis-8) is not among the nodes.
        const nodes: FixtureNode[] = [...formed3x1(), { n: 7, replicaOf: 1 }, { n: 8 }];
        const views = clusterViews(nodes, true).map((v) =>
            v.address === addressOf(8) ? { ...v, peers: [] } : { ...v, peers: v.peers.filter((p) => p.id !== idOf(8)) },
        );
        const plan = planRun(surgeFree(views, { address: "10.0.0.9:6379", name: "redis-8" }), request(nodes, 4, 1));
        assert.strictEqual(plan.outcome, "scaled-out");
        assert.deepStrictEqual(stepsOf(plan, "forget"), []);
        const replicates = stepsOf(plan, "replicate");
        // Master 1 keeps one of its two replicas; the other moves to the new master 8; nobody else moves.
        assert.strictEqual(replicates.length, 1);
        assert.strictEqual(replicates[0].master, addressOf(8));
        assert.strictEqual(replicates[0].previousMaster, addressOf(1));
        assert.ok([addressOf(6), addressOf(7)].includes(replicates[0].replica));
        assert.deepStrictEqual(plan.members.length, 8);
    });
});

describe("surge pod: the release of a scale-in's new surge ordinal (components/formation/planRelease.ts)", () => {
    /** After a 4x1 -> 3x1 drain: 7 (redis-6) an emptied master, 8 (redis-7) still its replica; 1-6 the 3x1. */
    const drained = (): FixtureNode[] => [...formed3x1(), { n: 7, noFailover: true }, { n: 8, replicaOf: 7, noFailover: true }];

    it("every node that knows it forgets it at once; it and its leaving replica reset; it may be promoted again", () => {
        const views = clusterViews(drained(), true);
        const plan = planRelease(views, { release: addressOf(7), leaving: [addressOf(7), addressOf(8)] });
        assert.deepStrictEqual(
            plan.phases.map((p) => p.steps.map((s) => s.kind)),
            [new Array(6).fill("forget"), ["reset", "replica-failover", "reset"]],
        );
        assert.deepStrictEqual(
            stepsOf(plan, "forget").map((s) => s.node),
            [1, 2, 3, 4, 5, 6].map(addressOf),
        );
        assert.ok(stepsOf(plan, "forget").every((s) => s.departed[0].id === idOf(7)));
        assert.deepStrictEqual(
            stepsOf(plan, "reset").map((s) => s.node),
            [addressOf(8), addressOf(7)],
        );
        assert.deepStrictEqual(stepsOf(plan, "replica-failover"), [{ kind: "replica-failover", node: addressOf(7), allowed: true }]);
        assert.ok(!plan.members.includes(addressOf(7)));
    });

    it("a staying node that still replicates it is refused, nothing sent", () => {
        const views = clusterViews([...formed3x1(), { n: 7 }, { n: 8, replicaOf: 7 }], true);
        assert.throws(() => planRelease(views, { release: addressOf(7), leaving: [addressOf(7)] }), FormationRefused);
    });
});

describe("surge pod: the drain's formed checks wait on members only (components/formation/scaleIn.ts clusterNodes)", () => {
    it("an idle surge pod of the shape before (a lone node among the leaving) is left out; a cluster never formed is waited on whole", () => {
        const nodes: FixtureNode[] = [
            ...formed3x1((f) => ({ ...f, knows: [1, 2, 3, 4, 5, 6].filter((n) => n !== f.n) })),
            { n: 7, knows: [] },
        ];
        const targets = nodes.map((f) => ({ address: addressOf(f.n), target: `redis-${f.n - 1}` }));
        assert.deepStrictEqual(
            clusterNodes(targets, clusterViews(nodes, true)).map((n) => n.target),
            ["redis-0", "redis-1", "redis-2", "redis-3", "redis-4", "redis-5"],
        );
        const fresh: FixtureNode[] = [1, 2, 3].map((n) => ({ n }));
        assert.strictEqual(clusterNodes(targets.slice(0, 3), clusterViews(fresh, false)).length, 3);
    });
});

describe("surge pod: a drain with the idle surge of the shape before among the leaving (components/formation/planDrain.ts)", () => {
    it("4x1 -> 3x1 with redis-8 idle: it is only marked; the slot moves neither wait for it nor announce the cluster to it", () => {
        const cluster = [1, 2, 3, 4, 5, 6, 7, 8];
        const member = (f: FixtureNode): FixtureNode => ({ ...f, knows: cluster.filter((n) => n !== f.n) });
        const nodes: FixtureNode[] = [
            ...[
                { n: 1, slots: "0-4095" },
                { n: 2, slots: "4096-8191" },
                { n: 3, slots: "8192-12287" },
                { n: 4, replicaOf: 3 },
                { n: 5, replicaOf: 2 },
                { n: 6, replicaOf: 1 },
                { n: 7, slots: "12288-16383" },
                { n: 8, replicaOf: 7 },
            ].map(member),
            { n: 9, knows: [] },
        ];
        const plan = planDrain(clusterViews(nodes, true), { ...request(nodes, 3, 1), leaving: [7, 8, 9].map(addressOf) });
        assert.deepStrictEqual(
            stepsOf(plan, "replica-failover").map((s) => s.node),
            [7, 8, 9].map(addressOf),
        );
        const usable = stepsOf(plan, "wait-usable");
        assert.strictEqual(usable.length, 1);
        assert.ok(!usable[0].nodes.includes(addressOf(9)), "waits for the lone node's cluster_state");
        assert.ok(
            stepsOf(plan, "meet").every((m) => m.from !== addressOf(9) && !m.to.includes(addressOf(9))),
            "announces the cluster to the lone node",
        );
    });
});
