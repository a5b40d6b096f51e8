/** The chaos run's pure parts: its fault schedule (a function of the seed) and its verdict. */
import * as assert from "assert";
import { clusterCheckProblems } from "../../lib/clusterCheck";
import { ChaosFindings, chaosProblems } from "../../local/chaos";
import { FAULT_KINDS, HOLD_MIN_MS, PAUSE_MS, chaosSchedule, describeFault, prng } from "../../local/chaosSchedule";

const OPTIONS = { pods: 6, nodeTimeoutMs: 3000, count: 40 };

describe("chaos schedule (local/chaosSchedule.ts)", () => {
    it("the same seed gives the same faults; another seed others", () => {
        assert.deepStrictEqual(chaosSchedule(7, OPTIONS), chaosSchedule(7, OPTIONS));
        assert.notDeepStrictEqual(chaosSchedule(7, OPTIONS), chaosSchedule(8, OPTIONS));
        const a = prng(1);
        const b = prng(1);
        for (let i = 0; i < 100; i++) {
            const x = a();
            assert.strictEqual(x, b());
            assert.ok(x >= 0 && x < 1);
        }
    });

    it("every round of four holds each kind once; pauses, targets and freeze lengths stay in their bounds", () => {
        for (const seed of [0, 1, 30, 12345]) {
            const faults = chaosSchedule(seed, OPTIONS);
            assert.strictEqual(faults.length, OPTIONS.count);
            for (let r = 0; r < faults.length; r += 4)
                assert.deepStrictEqual(
                    faults
                        .slice(r, r + 4)
                        .map((f) => f.kind)
                        .sort(),
                    [...FAULT_KINDS].sort(),
                    `seed ${seed}, round ${r / 4}`,
                );
            for (const f of faults) {
                assert.ok(f.pauseMs >= PAUSE_MS.min && f.pauseMs <= PAUSE_MS.max, `pause ${f.pauseMs}`);
                if (f.kind === "freeze") assert.ok(f.holdMs >= HOLD_MIN_MS && f.holdMs <= 2 * OPTIONS.nodeTimeoutMs, `hold ${f.holdMs}`);
                else assert.strictEqual(f.holdMs, 0);
                if (f.kind === "roll") assert.deepStrictEqual(f.target, { all: true });
                else if ("ordinal" in f.target) assert.ok(f.target.ordinal >= 0 && f.target.ordinal < OPTIONS.pods);
                else assert.deepStrictEqual(f.target, { master: true });
            }
        }
    });

    it("freezes fall on both sides of the node timeout, and both kinds of target are drawn", () => {
        const faults = chaosSchedule(3, { ...OPTIONS, count: 400 });
        const holds = faults.filter((f) => f.kind === "freeze").map((f) => f.holdMs);
        assert.ok(holds.some((h) => h < OPTIONS.nodeTimeoutMs) && holds.some((h) => h > OPTIONS.nodeTimeoutMs));
        assert.ok(faults.some((f) => "master" in f.target) && faults.some((f) => "ordinal" in f.target));
    });

    it("refuses a bad seed or an empty cluster, naming what is wrong", () => {
        assert.throws(() => chaosSchedule(-1, OPTIONS), /^Error: --seed: expected a whole number >= 0, got -1$/);
        assert.throws(() => chaosSchedule(1.5, OPTIONS), /--seed/);
        assert.throws(() => chaosSchedule(1, { ...OPTIONS, pods: 0 }), /a cluster of 0 pods/);
    });

    it("describes a fault with the pod it hit", () => {
        const [kill] = chaosSchedule(1, OPTIONS).filter((f) => f.kind === "kill");
        assert.match(describeFault(kill, "redis-2"), /^SIGKILL redis-2/);
        assert.strictEqual(
            describeFault({ kind: "freeze", target: { master: true }, pauseMs: 500, holdMs: 1200 }, "redis-0"),
            "freeze 1200 ms redis-0 (the master of hits)",
        );
        assert.strictEqual(describeFault({ kind: "roll", target: { all: true }, pauseMs: 500, holdMs: 0 }), "rolling restart every pod");
    });
});

describe("chaos verdict (local/chaos.ts chaosProblems)", () => {
    const clean: ChaosFindings = {
        acknowledged: 100,
        refused: 3,
        finalCounter: 100,
        lost: 0,
        repeated: 0,
        wentBackwards: 0,
        clusterCheckProblems: [],
        linksDown: [],
    };

    it("a clean run has no problem", () => assert.deepStrictEqual(chaosProblems(clean), []));

    it("lost hits, a check that is not clean, a link down, a cluster that did not settle and a capped load each fail it", () => {
        const problems = chaosProblems({
            ...clean,
            lost: 2,
            finalCounter: 98,
            repeated: 1,
            wentBackwards: 1,
            clusterCheckProblems: ["[WARNING] Node 127.0.1.11:6379 has slots in migrating state 42."],
            linksDown: ["redis-4 (replica of redis-1)"],
            unsettled: "fault 3 (SIGKILL redis-0): timed out",
            loadCapped: "the load stopped at its cap",
        });
        assert.deepStrictEqual(problems, [
            "fault 3 (SIGKILL redis-0): timed out",
            "the load stopped at its cap",
            "2 acknowledged hits lost (counter 98; 1 returned twice, 1 went backwards)",
            "redis-cli --cluster check: [WARNING] Node 127.0.1.11:6379 has slots in migrating state 42.",
            "replica link down: redis-4 (replica of redis-1)",
        ]);
    });
});

describe("redis-cli --cluster check's verdict (lib/clusterCheck.ts)", () => {
    it("clean output has no problem; warnings, errors and uncovered slots are each reported", () => {
        const ok =
            "127.0.1.11:6379 (5b1184a3...) -> 0 keys | 5461 slots | 1 slaves.\n[OK] All nodes agree about slots configuration.\n[OK] All 16384 slots covered.\n";
        assert.deepStrictEqual(clusterCheckProblems(ok), []);
        assert.deepStrictEqual(clusterCheckProblems(`${ok}[WARNING] Node x has slots in importing state 7.\n`), [
            "[WARNING] Node x has slots in importing state 7.",
        ]);
        assert.deepStrictEqual(clusterCheckProblems("[ERR] Not all 16384 slots are covered by nodes.\n"), [
            "not all 16384 slots covered",
            "[ERR] Not all 16384 slots are covered by nodes.",
        ]);
    });
});
