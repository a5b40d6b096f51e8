import * as assert from "assert";
import { PlanNode, planFormation, validateShape } from "../../components/formation/placement";
import { planRebalance } from "../../components/formation/plan";
import { splitSlots, toRanges } from "../../components/formation/slots";
import { SLOT_COUNT } from "../../components/shape";
import { formedPending, parseClusterNodes, placementWarnings } from "../../components/formation/clusterState";

const node = (i: number, k8sNode?: string, zone?: string): PlanNode => ({ address: `10.0.0.${i}:6379`, k8sNode, zone });

function masterOf(plan: ReturnType<typeof planFormation>, replica: string): string {
    return plan.shards.find((s) => s.replicas.includes(replica))!.master;
}

describe("formation placement and rebalance (components/formation/placement.ts, plan.ts)", () => {
    describe("splitSlots", () => {
        for (const masters of [3, 5, 7, 30]) {
            it(`covers all ${SLOT_COUNT} slots contiguously with sizes differing by at most 1 (${masters} masters)`, () => {
                const ranges = splitSlots(masters);
                assert.strictEqual(ranges[0][0], 0);
                assert.strictEqual(ranges[ranges.length - 1][1], SLOT_COUNT - 1);
                for (let i = 1; i < ranges.length; i++) assert.strictEqual(ranges[i][0], ranges[i - 1][1] + 1);
                const sizes = ranges.map(([a, b]) => b - a + 1);
                assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
            });
        }
    });

    describe("validateShape", () => {
        it("refuses fewer than 3 masters, naming the field", () => {
            assert.throws(() => validateShape(6, 2, 1), /masters: expected a whole number from 3 to 1000 .*got 2/);
        });
        it("refuses a negative or fractional replica count", () => {
            assert.throws(() => validateShape(6, 3, -1), /replicasPerMaster: expected a whole number from 0 to 5, got -1/);
            assert.throws(() => validateShape(6, 3, 0.5), /replicasPerMaster/);
        });
        it("refuses too few nodes, saying how many are needed", () => {
            assert.throws(() => validateShape(5, 3, 1), /nodes: 3 masters x \(1 \+ 1 replicas\) need 6 nodes, but only 5 are available/);
        });
    });

    it("without placement data: first nodes become masters, every node is used once", () => {
        const nodes = [1, 2, 3, 4, 5, 6].map((i) => node(i));
        const plan = planFormation(nodes, 3, 1);
        assert.deepStrictEqual(
            plan.shards.map((s) => s.master),
            ["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"],
        );
        const used = plan.shards.flatMap((s) => [s.master, ...s.replicas]);
        assert.strictEqual(new Set(used).size, 6);
        assert.ok(plan.placementOk);
        assert.deepStrictEqual(plan.warnings, []);
    });

    it("never pairs a replica with its master's k8s node when the pods allow it (StatefulSet order is adversarial)", () => {
        // Pods 1,2 on node a; 3,4 on b; 5,6 on c: the naive "next pod" pairing shares a node every time.
        const nodes = [node(1, "a"), node(2, "a"), node(3, "b"), node(4, "b"), node(5, "c"), node(6, "c")];
        const plan = planFormation(nodes, 3, 1);
        const k8sNodeOf = new Map(nodes.map((n) => [n.address, n.k8sNode]));
        assert.deepStrictEqual(new Set(plan.shards.map((s) => k8sNodeOf.get(s.master))), new Set(["a", "b", "c"]));
        for (const s of plan.shards) for (const r of s.replicas) assert.notStrictEqual(k8sNodeOf.get(r), k8sNodeOf.get(s.master));
        assert.ok(plan.placementOk);
    });

    it("keeps replicas out of their master's zone when the nodes span zones", () => {
        const nodes = [
            node(1, "n1", "z1"),
            node(2, "n2", "z1"),
            node(3, "n3", "z2"),
            node(4, "n4", "z2"),
            node(5, "n5", "z3"),
            node(6, "n6", "z3"),
        ];
        const plan = planFormation(nodes, 3, 1);
        const zoneOf = new Map(nodes.map((n) => [n.address, n.zone]));
        for (const s of plan.shards) for (const r of s.replicas) assert.notStrictEqual(zoneOf.get(r), zoneOf.get(masterOf(plan, r)));
        assert.ok(plan.placementOk, plan.warnings.join("\n"));
    });

    it("2 replicas per master over 3 zones: each replica in another zone than its master", () => {
        const nodes = Array.from({ length: 9 }, (_, i) => node(i + 1, `n${i + 1}`, `z${(i % 3) + 1}`));
        const plan = planFormation(nodes, 3, 2);
        const zoneOf = new Map(nodes.map((n) => [n.address, n.zone]));
        for (const s of plan.shards) {
            assert.strictEqual(s.replicas.length, 2);
            for (const r of s.replicas) assert.notStrictEqual(zoneOf.get(r), zoneOf.get(s.master));
        }
        assert.ok(plan.placementOk);
    });

    it("says so when separation is impossible (all pods on one k8s node): placementOk false, one warning per pair", () => {
        const nodes = [1, 2, 3, 4, 5, 6].map((i) => node(i, "only-node"));
        const plan = planFormation(nodes, 3, 1);
        assert.strictEqual(plan.placementOk, false);
        assert.strictEqual(plan.warnings.length, 3);
        assert.match(plan.warnings[0], /shares k8s node only-node with its master/);
    });

    it("one zone only: zones are not a constraint, k8s nodes still are", () => {
        const nodes = [1, 2, 3, 4, 5, 6].map((i) => node(i, `n${i}`, "z1"));
        const plan = planFormation(nodes, 3, 1);
        assert.ok(plan.placementOk, plan.warnings.join("\n"));
    });

    it("two zones, 3 masters: the zone with two masters cannot host all their replicas elsewhere; the warning names the zone", () => {
        // z1 has 4 nodes, z2 has 2: at most 2 replicas can sit outside z1.
        const nodes = [
            node(1, "n1", "z1"),
            node(2, "n2", "z1"),
            node(3, "n3", "z1"),
            node(4, "n4", "z1"),
            node(5, "n5", "z2"),
            node(6, "n6", "z2"),
        ];
        const plan = planFormation(nodes, 3, 1);
        const zoneOf = new Map(nodes.map((n) => [n.address, n.zone]));
        const sameZone = plan.shards.flatMap((s) => s.replicas.filter((r) => zoneOf.get(r) === zoneOf.get(s.master)));
        assert.strictEqual(plan.warnings.length, sameZone.length);
        assert.strictEqual(plan.placementOk, sameZone.length === 0);
        for (const w of plan.warnings) assert.match(w, /shares zone z\d with its master .*no free node in another zone/);
        // Never worse than necessary: k8s nodes always differ here.
        for (const s of plan.shards) for (const r of s.replicas) assert.notStrictEqual(r, s.master);
    });

    it("leaves extra nodes as spare", () => {
        const plan = planFormation(
            [1, 2, 3, 4, 5, 6, 7].map((i) => node(i)),
            3,
            1,
        );
        assert.strictEqual(plan.spare.length, 1);
    });

    it("refuses duplicate addresses", () => {
        assert.throws(() => planFormation([node(1), node(1), node(2), node(3)], 3, 0), /address 10.0.0.1:6379 appears twice/);
    });

    describe("planRebalance", () => {
        const current = new Map(splitSlots(3).map(([a, b], i) => [`m${i}`, Array.from({ length: b - a + 1 }, (_, k) => a + k)]));

        /** Applies moves to a slot map, checking that every donor owns what it gives; returns the final sizes. */
        function apply(
            start: ReadonlyMap<string, readonly number[]>,
            moves: ReturnType<typeof planRebalance>,
            newMasters: readonly string[] = [],
        ): Map<string, number> {
            const final = new Map([...start].map(([m, s]) => [m, new Set(s)]));
            for (const m of newMasters) final.set(m, new Set());
            for (const mv of moves) {
                for (const slot of mv.slots) {
                    assert.ok(final.get(mv.from)!.delete(slot), `${mv.from} does not own ${slot}`);
                    final.get(mv.to)!.add(slot);
                }
            }
            return new Map([...final].map(([m, s]) => [m, s.size]));
        }

        it("3 -> 4 masters: the new master gets a quarter, every master ends within one slot of the others", () => {
            const moves = planRebalance(current, ["m3"]);
            const sizes = [...apply(current, moves, ["m3"]).values()];
            assert.strictEqual(
                sizes.reduce((a, b) => a + b, 0),
                SLOT_COUNT,
            );
            assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${sizes}`);
            assert.ok(moves.every((m) => m.to === "m3"));
        });

        it("an even cluster needs no moves", () => {
            assert.deepStrictEqual(planRebalance(current), []);
            const four = new Map(splitSlots(4).map(([a, b], i) => [`m${i}`, Array.from({ length: b - a + 1 }, (_, k) => a + k)]));
            assert.deepStrictEqual(planRebalance(four), []);
        });

        it("a scale-out interrupted after 1000 slots: only the short master receives, exactly what it lacks", () => {
            // m0 gave 1000 of its highest slots to m3 before the run stopped.
            const m0 = current.get("m0")!;
            const interrupted = new Map(current);
            interrupted.set("m0", m0.slice(0, m0.length - 1000));
            interrupted.set("m3", m0.slice(m0.length - 1000));
            const moves = planRebalance(interrupted);
            assert.ok(
                moves.every((m) => m.to === "m3"),
                JSON.stringify(moves.map((m) => [m.from, m.to])),
            );
            assert.strictEqual(
                moves.reduce((k, m) => k + m.slots.length, 0),
                4096 - 1000,
            );
            assert.deepStrictEqual([...apply(interrupted, moves).values()], [4096, 4096, 4096, 4096]);
        });

        it("the odd slots stay with the masters that own the most, so the fewest move", () => {
            // 5 masters: 16384 = 5 x 3276 + 4; m4 is new, and the four old masters keep the extra slot.
            const four = new Map(splitSlots(4).map(([a, b], i) => [`m${i}`, Array.from({ length: b - a + 1 }, (_, k) => a + k)]));
            const moves = planRebalance(four, ["m4"]);
            const sizes = apply(four, moves, ["m4"]);
            assert.deepStrictEqual([...sizes.values()], [3277, 3277, 3277, 3277, 3276]);
        });

        it("3 -> 6 masters moves only what the new masters need", () => {
            const moves = planRebalance(current, ["m3", "m4", "m5"]);
            const moved = moves.reduce((k, m) => k + m.slots.length, 0);
            assert.ok(moved <= SLOT_COUNT / 2 + 3, `moved ${moved}`);
        });

        it("refuses an incomplete slot map", () => {
            const partial = new Map([["m0", [0, 1, 2]]]);
            assert.throws(() => planRebalance(partial, ["m1"]), /only 3 of 16384 slots are assigned/);
        });
    });

    it("toRanges compresses slots", () => {
        assert.deepStrictEqual(toRanges([5, 1, 2, 3, 7]), [
            [1, 3],
            [5, 5],
            [7, 7],
        ]);
    });
});

describe("formation checks (components/formation/clusterState.ts)", () => {
    const nodesText = [
        "aaa 10.0.0.1:6379@16379,redis-0.h master - 0 0 1 connected 0-5460",
        "bbb 10.0.0.2:6379@16379,redis-1.h myself,master - 0 0 2 connected 5461-10921 [10921->-ccc]",
        "ccc 10.0.0.3:6379@16379 master - 0 0 3 connected 10922-16383 [10921-<-bbb]",
        "ddd 10.0.0.4:6379@16379 slave aaa 0 0 1 connected",
    ].join("\n");

    it("parses CLUSTER NODES: addresses, hostnames, roles, slots and open slots", () => {
        const entries = parseClusterNodes(nodesText);
        assert.strictEqual(entries.length, 4);
        assert.strictEqual(entries[0].address, "10.0.0.1:6379");
        assert.strictEqual(entries[0].hostname, "redis-0.h");
        assert.strictEqual(entries[0].slotCount, 5461);
        assert.deepStrictEqual(entries[0].slotRanges, [[0, 5460]]);
        assert.ok(entries[1].flags.includes("myself"));
        assert.strictEqual(entries[1].migrating.get(10921), "ccc");
        assert.strictEqual(entries[2].importing.get(10921), "bbb");
        assert.strictEqual(entries[3].masterId, "aaa");
    });

    it("formedPending names what is missing: a replica link down and a node that disagrees", () => {
        const entries = parseClusterNodes(nodesText);
        const n = (address: string) => ({ address, target: address });
        const pending = formedPending(
            [
                { n: n("10.0.0.1:6379"), entries, link: "n/a" },
                { n: n("10.0.0.4:6379"), entries: entries.slice(0, 3), link: "down" },
            ],
            4,
            () => assert.fail("must not report agreement"),
        );
        assert.ok(pending);
        assert.match(pending, /10.0.0.4:6379 knows 3\/4 nodes/);
        assert.match(pending, /10.0.0.4:6379 master_link_status:down/);
        assert.match(pending, /disagrees/);
    });

    it("formedPending is satisfied only when every node agrees and links are up", () => {
        const entries = parseClusterNodes(nodesText);
        let agreed = 0;
        const pending = formedPending([{ n: { address: "a:1", target: "a:1" }, entries, link: "up" }], 4, (v) => (agreed = v.length));
        assert.strictEqual(pending, undefined);
        assert.strictEqual(agreed, 4);
    });

    it("placementWarnings flags a replica on its master's k8s node", () => {
        const w = placementWarnings(
            [
                {
                    master: { address: "m:1", id: "m", k8sNode: "x" },
                    slots: [[0, 16383]],
                    replicas: [{ address: "r:1", id: "r", k8sNode: "x" }],
                },
            ],
            false,
        );
        assert.deepStrictEqual(w, ["replica r:1 shares k8s node x with its master m:1"]);
    });
});
