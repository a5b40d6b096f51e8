/**
 * The planners (components/formation/plan.ts, planFresh.ts, planExisting.ts, steps.ts), without Redis:
 * what each kind of cluster state turns into, step by step, and what is refused before anything is sent.
 */
import * as assert from "assert";
import { FormationRefused, Plan, Step, configuredNodeTimeout, planRun } from "../../components/formation/plan";
import { splitSlots } from "../../components/formation/slots";
import { SLOT_COUNT } from "../../components/shape";
import { FixtureNode, addressOf, clusterViews, formed3x1, freshNodes, idOf, request } from "../support/clusterViews";

const stepsOf = <K extends Step["kind"]>(plan: Plan, kind: K) =>
    plan.phases.flatMap((p) => p.steps).filter((s): s is Extract<Step, { kind: K }> => s.kind === kind);
const titles = (plan: Plan) => plan.phases.map((p) => p.title);
const refused = (pattern: RegExp) => (e: Error) => {
    assert.ok(e instanceof FormationRefused, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
};

describe("formation planners (components/formation/plan*.ts, pure)", () => {
    describe("planRun: what a run does, or why it must not", () => {
        it("refuses a node that knows peers outside the given set, naming it and them", () => {
            const nodes = freshNodes(6);
            const views = clusterViews([...nodes.slice(0, 5), { n: 6, knows: [9] }], false);
            assert.throws(
                () => planRun(views, request(nodes, 3, 1)),
                refused(/^node 10\.0\.0\.6:6379 belongs to another cluster: it knows 10\.0\.0\.9:6379, which is not among the nodes given/),
            );
        });
        it("refuses fresh nodes when one holds keys, and a node with keys that would join a formed cluster", () => {
            const withKeys = freshNodes(6).map((f) => (f.n === 2 ? { ...f, keys: 7 } : f));
            assert.throws(
                () => planRun(clusterViews(withKeys, false), request(withKeys, 3, 1)),
                refused(/node 10\.0\.0\.2:6379 holds 7 keys/),
            );
            const joining = [...formed3x1(), { n: 7, keys: 3 }, { n: 8 }];
            const views = clusterViews(joining, false).map((v, i) => (i < 6 ? clusterViews(formed3x1(), true)[i] : v));
            assert.throws(() => planRun(views, request(joining, 4, 1)), refused(/node 10\.0\.0\.7:6379 holds 3 keys/));
        });
        it("refuses a shape that does not fit the nodes before anything else", () => {
            const nodes = freshNodes(5);
            assert.throws(() => planRun(clusterViews(nodes, false), request(nodes, 3, 1)), /need 6 nodes, but only 5 are available/);
        });
    });

    describe("planCreate: a fresh cluster", () => {
        const nodes = freshNodes(6);
        const plan = planRun(clusterViews(nodes, false), request(nodes, 3, 1));

        it("is a create: epochs and slots first, then the mesh, the replicas, the wait and the announce round", () => {
            assert.strictEqual(plan.kind, "create");
            assert.strictEqual(plan.outcome, "created");
            assert.deepStrictEqual(titles(plan), [
                "setting config epochs on 6 nodes and assigning slots to 3 masters (cluster-node-timeout 499 ms on them while forming)",
                "meeting: 15 direct handshakes between 6 nodes",
                "replicating: 3 replicas",
                "waiting until all 6 nodes know each other",
                "announcing slots and roles: 30 handshakes",
            ]);
            assert.deepStrictEqual(plan.members, [1, 6, 2, 5, 3, 4].map(addressOf));
        });
        it("sets distinct config epochs in plan order and gives each master its even range", () => {
            assert.deepStrictEqual(
                stepsOf(plan, "set-config-epoch").map((s) => [s.node, s.epoch]),
                [1, 6, 2, 5, 3, 4].map((n, i) => [addressOf(n), i + 1]),
            );
            assert.deepStrictEqual(
                stepsOf(plan, "add-slots").map((s) => [s.node, s.ranges]),
                splitSlots(3).map((r, i) => [addressOf(i + 1), [r]]),
            );
        });
        it("node i meets every node after it, once; each replica replicates its master by id", () => {
            const pairs = stepsOf(plan, "meet")
                .slice(0, 5)
                .flatMap((m) => m.to.map((to) => [m.from, to].sort().join(" ")));
            assert.strictEqual(new Set(pairs).size, 15);
            assert.deepStrictEqual(
                stepsOf(plan, "replicate").map((s) => [s.replica, s.master, s.masterId]),
                [6, 5, 4].map((r, i) => [addressOf(r), addressOf(i + 1), idOf(i + 1)]),
            );
        });
        it("lowers the new masters' node timeout while forming, and restores each to its configured value afterwards", () => {
            assert.deepStrictEqual(
                stepsOf(plan, "lower-node-timeout").map((s) => [s.node, s.ms]),
                [1, 2, 3].map((n) => [addressOf(n), 499]),
            );
            assert.deepStrictEqual(
                plan.cleanup.map((s) => [s.kind, "node" in s ? s.node : "", "ms" in s ? s.ms : 0]),
                [1, 2, 3].map((n) => ["restore-node-timeout", addressOf(n), 1000]),
            );
            const slow = freshNodes(6, 5000);
            const restoredTo = planRun(clusterViews(slow, false), request(slow, 3, 1)).cleanup.map((s) => ("ms" in s ? s.ms : 0));
            assert.deepStrictEqual(restoredTo, [5000, 5000, 5000]);
        });
        it("lowers nothing without replicas (nothing would record the configured value) or when the configured value is Redis's floor of 500 ms", () => {
            const three = freshNodes(3);
            const alone = planRun(clusterViews(three, false), request(three, 3, 0));
            assert.deepStrictEqual(stepsOf(alone, "lower-node-timeout"), []);
            assert.deepStrictEqual(alone.cleanup, []);
            const atFloor = freshNodes(6, 500);
            assert.deepStrictEqual(planRun(clusterViews(atFloor, false), request(atFloor, 3, 1)).cleanup, []);
        });
        it("after a run killed while forming (masters left at 499 ms): restores to the value their replicas still have", () => {
            const left = freshNodes(6).map((f) => (f.n <= 3 ? { ...f, nodeTimeoutMs: 499 } : f));
            const again = planRun(clusterViews(left, false), request(left, 3, 1));
            assert.deepStrictEqual(
                again.cleanup.map((s) => ("ms" in s ? s.ms : 0)),
                [1000, 1000, 1000],
            );
            // A node left lowered that is not a master in this plan is restored up front.
            const replicaLeft = freshNodes(6).map((f) => (f.n === 5 ? { ...f, nodeTimeoutMs: 499 } : f));
            const restoreFirst = planRun(clusterViews(replicaLeft, false), request(replicaLeft, 3, 1));
            assert.deepStrictEqual(
                stepsOf(restoreFirst, "restore-node-timeout").map((s) => [s.node, s.ms]),
                [[addressOf(5), 1000]],
            );
        });
        it("skips the config epoch of a node that already has one or knows a peer (SET-CONFIG-EPOCH would be refused)", () => {
            const half = freshNodes(6).map((f) => (f.n === 2 ? { ...f, configEpoch: 9 } : f.n === 3 ? { ...f, knows: [4] } : f));
            const views = clusterViews(half, false).map((v) =>
                v.address === addressOf(2) ? v : { ...v, self: { ...v.self, configEpoch: 0 } },
            );
            const epochs = stepsOf(planRun(views, request(half, 3, 1)), "set-config-epoch").map((s) => s.node);
            assert.deepStrictEqual(epochs, [1, 6, 5, 4].map(addressOf));
        });
        it("above largeClusterNodes: replicas pair with their masters before the mesh, which leaves those pairs out; no announce round", () => {
            const large = planRun(clusterViews(nodes, false), request(nodes, 3, 1, { largeClusterNodes: 5 }));
            assert.deepStrictEqual(titles(large).slice(1), [
                "pairing: 3 replicas meet their masters and start syncing",
                "meeting: 12 direct handshakes between 6 nodes",
                "waiting until all 6 nodes know each other",
            ]);
            assert.deepStrictEqual(
                stepsOf(large, "pair").map((s) => [s.replica, s.master]),
                [6, 5, 4].map((r, i) => [addressOf(r), addressOf(i + 1)]),
            );
            const met = stepsOf(large, "meet").flatMap((m) => m.to.map((to) => [m.from, to].sort().join(" ")));
            assert.ok(!met.includes([addressOf(1), addressOf(6)].sort().join(" ")), "a pair meets twice");
        });
    });

    describe("planResume: a fresh formation interrupted half-way", () => {
        const nodes = freshNodes(6);
        it("assigns only the missing slots, meets from the first master, replicates the replicas not yet following", () => {
            const half = nodes.map((f) => (f.n === 1 ? { ...f, slots: "0-5460" } : f.n === 2 ? { ...f, slots: "5461-6000" } : f));
            const meshed = clusterViews(
                half.map((f) => (f.n === 6 ? { ...f, replicaOf: 1 } : f)),
                true,
            );
            const plan = planRun(meshed, request(nodes, 3, 1));
            assert.strictEqual(plan.kind, "resume");
            assert.strictEqual(plan.outcome, "completed");
            assert.strictEqual(plan.summary, "resuming an interrupted formation (6001 slots were assigned)");
            assert.deepStrictEqual(
                stepsOf(plan, "add-slots").map((s) => [s.node, s.ranges]),
                [
                    [addressOf(2), [[6001, 10921]]],
                    [addressOf(3), [[10922, 16383]]],
                ],
            );
            assert.deepStrictEqual(
                stepsOf(plan, "meet").map((m) => [m.from, m.to.length]),
                [[addressOf(1), 5]],
            );
            assert.deepStrictEqual(
                stepsOf(plan, "replicate").map((s) => s.replica),
                [addressOf(5), addressOf(4)],
            );
        });
        it("all slots assigned but the run died before any MEET (the owners never met): resumed, not taken for a formed cluster", () => {
            const assigned = nodes.map((f) => (f.n <= 3 ? { ...f, slots: splitSlots(3)[f.n - 1].join("-") } : f));
            const plan = planRun(clusterViews(assigned, false), request(nodes, 3, 1));
            assert.strictEqual(plan.kind, "resume");
            assert.deepStrictEqual(stepsOf(plan, "add-slots"), []);
            assert.deepStrictEqual(
                stepsOf(plan, "meet").map((m) => [m.from, m.to]),
                [[addressOf(1), [6, 2, 5, 3, 4].map(addressOf)]],
            );
            assert.strictEqual(stepsOf(plan, "replicate").length, 3);
        });
        it("refuses slots this engine's plan would not have assigned there, with the repair to run", () => {
            const other = nodes.map((f) => (f.n === 6 ? { ...f, slots: "0-99" } : f));
            assert.throws(
                () => planRun(clusterViews(other, false), request(nodes, 3, 1)),
                refused(
                    /^cluster: only 100 of 16384 slots are covered and the assignment is not one this engine started; repair it with `redis-cli --cluster fix` first\. Nothing was changed\.$/,
                ),
            );
        });
    });

    describe("planOpenSlots: moves an interrupted scale-out left open", () => {
        const base = [...formed3x1(), { n: 7 }, { n: 8, replicaOf: 7 }];
        const withOpen = (over: (f: FixtureNode) => FixtureNode) => clusterViews(base.map(over), true);

        it("finishes what the donor started, cancels what only the receiver knew of, and then plans again", () => {
            const views = withOpen((f) =>
                f.n === 1
                    ? {
                          ...f,
                          migrating: [
                              [5000, 7],
                              [5001, 7],
                          ],
                      }
                    : f.n === 7
                      ? {
                            ...f,
                            importing: [
                                [5000, 1],
                                [5002, 1],
                            ],
                        }
                      : f,
            );
            const plan = planRun(views, request(base, 4, 1));
            assert.strictEqual(plan.kind, "close-open-slots");
            assert.strictEqual(plan.outcome, undefined);
            assert.deepStrictEqual(
                stepsOf(plan, "finish-move").map((s) => [s.slot, s.from, s.to, s.openOnReceiver]),
                [
                    [5000, addressOf(1), addressOf(7), false],
                    [5001, addressOf(1), addressOf(7), true],
                ],
            );
            assert.deepStrictEqual(
                stepsOf(plan, "cancel-move").map((s) => [s.slot, s.node]),
                [[5002, addressOf(7)]],
            );
        });
        it("a receiver that already owns the slot needs no IMPORTING (the run stopped between the two SETSLOT NODE)", () => {
            const views = withOpen((f) =>
                f.n === 1 ? { ...f, slots: "0-4999 5001-5460", migrating: [[5000, 7]] } : f.n === 7 ? { ...f, slots: "5000" } : f,
            );
            assert.deepStrictEqual(
                stepsOf(planRun(views, request(base, 4, 1)), "finish-move").map((s) => s.openOnReceiver),
                [false],
            );
        });
        it("refuses a stray import that holds keys, and a move to a node outside the cluster", () => {
            const stray = withOpen((f) => (f.n === 7 ? { ...f, importing: [[5002, 1]], strayImportKeys: [[5002, 4]] } : f));
            assert.throws(
                () => planRun(stray, request(base, 4, 1)),
                refused(/^slot 5002: 10\.0\.0\.7:6379 imports it from .* already holds 4 of its keys/),
            );
            const lost = withOpen((f) => (f.n === 1 ? { ...f, migrating: [[5000, 42]] } : f));
            assert.throws(() => planRun(lost, request(base, 4, 1)), refused(/^slot 5000 on 10\.0\.0\.1:6379 is migrating to unknown node/));
        });
    });

    describe("planConverge: a cluster that holds all its slots", () => {
        it("the same shape: unchanged, no step at all", () => {
            const plan = planRun(clusterViews(formed3x1(), true), request(formed3x1(), 3, 1));
            assert.strictEqual(plan.outcome, "unchanged");
            assert.deepStrictEqual(plan.phases, []);
            assert.strictEqual(plan.summary, "cluster already has the requested shape; checking that it is formed");
        });
        it("3 -> 4 masters: the new nodes join, a quarter of the slots moves to the new master with their keys, its replica follows", () => {
            const nodes = [...formed3x1(), { n: 7 }, { n: 8 }];
            const views = [...clusterViews(formed3x1(), true), ...clusterViews([{ n: 7 }, { n: 8 }], false)];
            const plan = planRun(views, request(nodes, 4, 1));
            assert.strictEqual(plan.outcome, "scaled-out");
            assert.deepStrictEqual(titles(plan), [
                `joining 2 nodes (1 new masters) through ${addressOf(1)}`,
                "waiting until all 8 nodes know each other",
                "announcing slots and roles: 56 handshakes",
                "waiting for cluster_state:ok on all 8 nodes before moving slots",
                "rebalancing: moving 4096 slots to 1 new masters with their keys",
                "announcing slots and roles: 56 handshakes",
                "replicating: 1 replicas",
            ]);
            const moves = stepsOf(plan, "move-slots");
            assert.ok(moves.every((m) => m.to === addressOf(7) && m.toId === idOf(7)));
            assert.strictEqual(
                moves.reduce((k, m) => k + m.slots.length, 0),
                SLOT_COUNT / 4,
            );
            assert.deepStrictEqual(
                stepsOf(plan, "replicate").map((s) => [s.replica, s.master]),
                [[addressOf(8), addressOf(7)]],
            );
            assert.strictEqual(plan.members.length, 8);
        });
        it("a master beyond the requested number is emptied: its slots go to the others with their keys, evening them out", () => {
            const four = [...formed3x1(), { n: 7, slots: "16000-16383" }, { n: 8, replicaOf: 7 }].map((f) =>
                f.n === 3 ? { ...f, slots: "10922-15999" } : f,
            );
            const plan = planRun(clusterViews(four, true), request(four, 3, 1));
            assert.strictEqual(plan.outcome, "completed");
            assert.strictEqual(
                plan.summary,
                "converge to 3 masters x 1 replicas: 0 new masters, 0 new replicas, 384 slots to move, 1 masters emptied",
            );
            assert.deepStrictEqual(
                stepsOf(plan, "move-slots").map((m) => [m.from, m.to, m.slots.length]),
                [
                    [addressOf(7), addressOf(1), 1],
                    [addressOf(7), addressOf(3), 383],
                ],
            );
            assert.deepStrictEqual(titles(plan), [
                "waiting for cluster_state:ok on all 8 nodes before moving slots",
                "emptying 1 masters: moving 384 slots to 2 masters with their keys",
                "announcing slots and roles: 56 handshakes",
            ]);
        });
        it("a lost replica is replaced by a free node away from its master's k8s node, and a replica on its master's node swaps masters with one elsewhere; no slot moves", () => {
            // k8s nodes: 1, 4 on k1; 2, 5 on k2; 3 on k3. Replica 5 shares k2 with its master 2; replica 6 of master 1 is gone.
            const nodes = formed3x1((f) => ({ ...f, k8sNode: `k${((f.n - 1) % 3) + 1}` })).filter((f) => f.n !== 6);
            const free = { n: 9, k8sNode: "k1" };
            const spare = { n: 10, k8sNode: "k2" };
            const views = [...clusterViews(nodes, true), ...clusterViews([free, spare], false)];
            const plan = planRun(views, request([...nodes, free, spare], 3, 1));
            assert.strictEqual(plan.outcome, "completed");
            assert.deepStrictEqual(stepsOf(plan, "move-slots"), []);
            assert.deepStrictEqual(
                stepsOf(plan, "replicate").map((s) => [s.replica, s.master, s.previousMaster]),
                [
                    [addressOf(5), addressOf(3), addressOf(2)],
                    [addressOf(10), addressOf(1), undefined],
                    [addressOf(4), addressOf(2), addressOf(3)],
                ],
            );
            assert.ok(titles(plan).includes("replicating: 3 replicas, 2 of them moving to another master"), titles(plan).join("; "));
        });
        it("a surplus replica (a second replica of one master) fills the new master's seat", () => {
            // Eight pods, but one of them serves as a second replica of master 1: it moves to the new master.
            const nodes = [...formed3x1(), { n: 7 }, { n: 8, replicaOf: 1 }];
            const views = [...clusterViews([...formed3x1(), { n: 8, replicaOf: 1 }], true), ...clusterViews([{ n: 7 }], false)];
            const plan = planRun(views, request(nodes, 4, 1));
            assert.strictEqual(plan.outcome, "scaled-out");
            assert.deepStrictEqual(
                stepsOf(plan, "replicate").map((s) => [s.replica, s.master, s.previousMaster]),
                [[addressOf(8), addressOf(7), addressOf(1)]],
            );
        });
        it("a pod back on the claim a scale-in kept (a replica copy with keys, forgotten by the others) joins as a replica, never as a master", () => {
            const stale = { n: 8, replicaOf: 1, keys: 50, knows: [1, 2, 3, 4, 5, 6, 9] };
            const nodes = [...formed3x1(), { n: 7 }, stale];
            const views = [...clusterViews(formed3x1(), true), ...clusterViews([{ n: 7 }, stale], false)];
            const plan = planRun(views, request(nodes, 4, 1));
            assert.strictEqual(plan.outcome, "scaled-out");
            assert.deepStrictEqual(
                stepsOf(plan, "replicate").map((s) => [s.replica, s.master]),
                [[addressOf(8), addressOf(7)]],
            );
            // The others forgot it less than 60 s ago maybe, and drop gossip about it: every member meets it.
            assert.deepStrictEqual(
                stepsOf(plan, "meet")
                    .filter((m) => m.to.includes(addressOf(8)))
                    .map((m) => m.from)
                    .slice(0, 6),
                [1, 2, 3, 4, 5, 6].map(addressOf),
            );
            const onlyStale = [...formed3x1(), stale, { ...stale, n: 10 }];
            const staleViews = [...clusterViews(formed3x1(), true), ...clusterViews([stale, { ...stale, n: 10 }], false)];
            assert.throws(
                () => planRun(staleViews, request(onlyStale, 4, 1)),
                refused(
                    /only 0 nodes are free to become one .*; 10\.0\.0\.8:6379, 10\.0\.0\.10:6379 hold the keys of an old copy \(a claim kept after a scale-in\): delete their PersistentVolumeClaim so the pod starts empty\. Nothing was changed\.$/,
                ),
            );
        });
        it("refuses new masters when no free node is left to become one (a replica holds its master's data)", () => {
            const nodes = [...formed3x1(), { n: 7, replicaOf: 1 }, { n: 8, replicaOf: 2 }];
            assert.throws(
                () => planRun(clusterViews(nodes, true), request(nodes, 4, 1)),
                refused(
                    /^nodes: 1 new masters are needed but only 0 nodes are free to become one \(a replica cannot: it holds its master's data\)\. Nothing was changed\.$/,
                ),
            );
        });
        it("a cluster left uneven by an interrupted scale-out is evened out without anyone joining", () => {
            const uneven = [
                ...formed3x1((f) => (f.n === 1 ? { ...f, slots: "0-4460" } : f)),
                { n: 7, slots: "4461-5460" },
                { n: 8, replicaOf: 7 },
            ];
            const plan = planRun(clusterViews(uneven, true), request(uneven, 4, 1));
            assert.strictEqual(plan.outcome, "completed");
            assert.ok(!titles(plan).some((t) => t.startsWith("joining")), titles(plan).join("; "));
            assert.strictEqual(
                stepsOf(plan, "move-slots").reduce((k, m) => k + m.slots.length, 0),
                4096 - 1000,
            );
        });
        it("masters a killed run left at the formation value are restored to their replicas' value first", () => {
            const left = formed3x1((f) => (f.replicaOf === undefined ? { ...f, nodeTimeoutMs: 499 } : { ...f, nodeTimeoutMs: 2000 }));
            const plan = planRun(clusterViews(left, true), request(left, 3, 1));
            assert.strictEqual(plan.outcome, "completed");
            assert.deepStrictEqual(titles(plan), ["restoring cluster-node-timeout on 3 nodes an interrupted run had lowered"]);
            assert.deepStrictEqual(
                stepsOf(plan, "restore-node-timeout").map((s) => [s.node, s.ms]),
                [1, 2, 3].map((n) => [addressOf(n), 2000]),
            );
        });
    });

    describe("configuredNodeTimeout: the value the nodes a formation never lowers agree on", () => {
        it("is their common value, or undefined when they disagree or none is left", () => {
            const of = (...ms: number[]) =>
                configuredNodeTimeout(
                    ms.map((nodeTimeoutMs) => ({ nodeTimeoutMs })),
                    499,
                );
            assert.strictEqual(of(499, 499, 1000, 1000), 1000);
            assert.strictEqual(of(1000, 2000, 499), undefined);
            assert.strictEqual(of(499, 499), undefined);
        });
    });
});
