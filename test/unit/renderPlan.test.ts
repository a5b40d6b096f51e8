/** renderPlan (components/formation/renderPlan.ts): a plan as people read it, before anything is sent. */
import * as assert from "assert";
import { Plan, planRun } from "../../components/formation/plan";
import { renderPlan } from "../../components/formation/renderPlan";
import { addressOf, clusterViews, formed3x1, freshNodes, request } from "../support/clusterViews";

describe("renderPlan (components/formation/renderPlan.ts)", () => {
    it("a fresh 3x1: numbered phases, the slot table, the replicas, what is undone afterwards, and the final check", () => {
        const nodes = freshNodes(6, 2000);
        const text = renderPlan(planRun(clusterViews(nodes, false), request(nodes, 3, 1)));
        assert.strictEqual(
            text,
            [
                "plan: create a cluster of 3 masters x 1 replicas on 6 empty nodes",
                "  1. setting config epochs on 6 nodes and assigning slots to 3 masters (cluster-node-timeout 499 ms on them while forming)",
                "       cluster-node-timeout 499 ms while forming: 10.0.0.1:6379, 10.0.0.2:6379, 10.0.0.3:6379",
                "       config epochs: 10.0.0.1:6379=1, 10.0.0.6:6379=2, 10.0.0.2:6379=3, 10.0.0.5:6379=4, 10.0.0.3:6379=5, 10.0.0.4:6379=6",
                "       master         slots        count",
                "       10.0.0.1:6379  0-5460        5461",
                "       10.0.0.2:6379  5461-10921    5461",
                "       10.0.0.3:6379  10922-16383   5462",
                "  2. meeting: 15 direct handshakes between 6 nodes",
                "       10.0.0.1:6379 meets 5 nodes: 10.0.0.6:6379, 10.0.0.2:6379, 10.0.0.5:6379, 10.0.0.3:6379, 10.0.0.4:6379",
                "       10.0.0.6:6379 meets 4 nodes: 10.0.0.2:6379, 10.0.0.5:6379, 10.0.0.3:6379, 10.0.0.4:6379",
                "       10.0.0.2:6379 meets 3 nodes: 10.0.0.5:6379, 10.0.0.3:6379, 10.0.0.4:6379",
                "       10.0.0.5:6379 meets 2 nodes: 10.0.0.3:6379, 10.0.0.4:6379",
                "       10.0.0.3:6379 meets 10.0.0.4:6379",
                "  3. replicating: 3 replicas",
                "       10.0.0.6:6379 replicates 10.0.0.1:6379 (01aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)",
                "       10.0.0.5:6379 replicates 10.0.0.2:6379 (02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)",
                "       10.0.0.4:6379 replicates 10.0.0.3:6379 (03aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)",
                "  4. waiting until all 6 nodes know each other",
                "  5. announcing slots and roles: 30 handshakes",
                ...[1, 6, 2, 5, 3, 4].map(
                    (n) =>
                        `       ${addressOf(n)} meets 5 nodes: ${[1, 6, 2, 5, 3, 4]
                            .filter((o) => o !== n)
                            .map(addressOf)
                            .join(", ")}`,
                ),
                "  afterwards, and also if a step fails:",
                "       cluster-node-timeout back to 2000 ms on 10.0.0.1:6379 (checked)",
                "       cluster-node-timeout back to 2000 ms on 10.0.0.2:6379 (checked)",
                "       cluster-node-timeout back to 2000 ms on 10.0.0.3:6379 (checked)",
                "  then: wait until formed (all slots covered, one view on every node, every replica link up) and usable (cluster_state:ok everywhere)",
            ].join("\n"),
        );
    });

    it("a scale-out shows its slot moves as a reshard table: from, to, how many, which", () => {
        const nodes = [...formed3x1(), { n: 7 }, { n: 8 }];
        const views = [...clusterViews(formed3x1(), true), ...clusterViews([{ n: 7 }, { n: 8 }], false)];
        const lines = renderPlan(planRun(views, request(nodes, 4, 1))).split("\n");
        const at = lines.indexOf("  5. rebalancing: moving 4096 slots to 1 new masters with their keys");
        assert.ok(at > 0, lines.join("\n"));
        assert.deepStrictEqual(lines.slice(at + 1, at + 5), [
            "       from           to             slots  ranges",
            "       10.0.0.1:6379  10.0.0.7:6379   1365  4096-5460",
            "       10.0.0.2:6379  10.0.0.7:6379   1365  9557-10921",
            "       10.0.0.3:6379  10.0.0.7:6379   1366  15018-16383",
        ]);
        assert.ok(
            lines.includes("       10.0.0.8:6379 replicates 10.0.0.7:6379 (07aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)"),
            lines.join("\n"),
        );
    });

    it("an unchanged cluster says there is nothing to change, and still what is checked", () => {
        assert.strictEqual(
            renderPlan(planRun(clusterViews(formed3x1(), true), request(formed3x1(), 3, 1))),
            [
                "plan: cluster already has the requested shape; checking that it is formed",
                "  (nothing to change)",
                "  then: wait until formed (all slots covered, one view on every node, every replica link up) and usable (cluster_state:ok everywhere)",
            ].join("\n"),
        );
    });

    it("closing interrupted moves lists each slot; long groups are cut at 12 lines with the count of the rest", () => {
        const plan: Plan = {
            kind: "close-open-slots",
            summary: "close 20 slot moves left open by an interrupted run, then look at the cluster afresh",
            phases: [
                {
                    title: "finishing 20 slot moves an interrupted run had started",
                    steps: Array.from({ length: 20 }, (_, i) => ({
                        kind: "finish-move" as const,
                        slot: 100 + i,
                        from: addressOf(1),
                        to: addressOf(7),
                        fromId: "f",
                        toId: "t",
                        openOnReceiver: i === 0,
                    })),
                },
            ],
            cleanup: [],
            members: [],
        };
        const lines = renderPlan(plan).split("\n");
        assert.strictEqual(lines[2], "       slot 100: 10.0.0.1:6379 -> 10.0.0.7:6379 (the receiver's IMPORTING first)");
        assert.strictEqual(lines[3], "       slot 101: 10.0.0.1:6379 -> 10.0.0.7:6379");
        assert.strictEqual(lines.length, 2 + 12);
        assert.strictEqual(lines[13], "       … and 9 more");
        assert.ok(!lines.some((l) => l.startsWith("  then:")), "a plan that plans again promises no final check");
    });

    it("placement warnings of the planned layout end the plan", () => {
        const nodes = freshNodes(6).map((f) => ({ ...f, k8sNode: "only-one" }));
        const lines = renderPlan(planRun(clusterViews(nodes, false), request(nodes, 3, 1))).split("\n");
        assert.deepStrictEqual(lines.filter((l) => l.startsWith("  placement warning: ")).length, 3);
        assert.match(lines[lines.length - 1], /^ {2}placement warning: replica 10\.0\.0\.\d:6379 shares k8s node only-one with its master/);
    });
});
