import * as assert from "assert";
import {
    HitAnswer,
    acknowledgedHitsLost,
    analyseAnswers,
    longestGapWithin,
    longestWriteGapMs,
    unavailableMs,
    writeGaps,
    writeWindowMs,
} from "../../lib/hitLoad";
import { drillFindings } from "../../local/drill";

const ok = (client: number, start: number, end: number, count: number): HitAnswer => ({ client, start, end, status: 200, count });

describe("failover answer analysis (lib/hitLoad.ts)", () => {
    it("accepts unique, increasing counts and counts refusals", () => {
        const f = analyseAnswers([ok(0, 0, 5, 1), ok(1, 1, 6, 2), { client: 0, start: 6, end: 7, status: 503 }, ok(0, 8, 9, 3)]);
        assert.deepStrictEqual([f.acknowledged, f.failed, f.maxCount, f.repeated, f.wentBackwards], [3, 1, 3, [], []]);
    });

    it("flags a count returned twice", () => {
        assert.deepStrictEqual(analyseAnswers([ok(0, 0, 1, 7), ok(1, 0, 2, 7)]).repeated, [7]);
    });

    it("flags a count at or below one answered before the request was sent", () => {
        const late = ok(1, 10, 11, 4);
        assert.deepStrictEqual(analyseAnswers([ok(0, 0, 5, 5), late]).wentBackwards, [late]);
    });

    it("allows overlapping requests to finish in any order", () => {
        assert.deepStrictEqual(analyseAnswers([ok(0, 0, 10, 2), ok(1, 1, 5, 1)]).wentBackwards, []);
    });

    const refused = (start: number, end: number): HitAnswer => ({ client: 0, start, end, status: 503 });

    it("the write window runs from the event to the first acknowledged hit of a request sent at or after it", () => {
        const answers = [ok(0, 0, 4, 1), ok(1, 9, 12, 2), refused(10, 11), ok(0, 11, 30, 3), ok(1, 12, 25, 4)];
        assert.strictEqual(writeWindowMs(answers, 10), 15);
        assert.strictEqual(writeWindowMs(answers, 40), undefined);
    });

    it("the longest gap between acknowledged hits", () => {
        assert.strictEqual(longestWriteGapMs([ok(0, 0, 5, 1), ok(0, 5, 7, 2), refused(7, 8), ok(0, 8, 30, 3)]), 23);
        assert.strictEqual(longestWriteGapMs([ok(0, 0, 5, 1)]), 0);
    });

    it("write gaps: each gap of at least the floor, the longest overlapping a span, and their sum", () => {
        const answers = [ok(0, 0, 5, 1), ok(0, 5, 7, 2), refused(7, 8), ok(0, 8, 30, 3), ok(1, 30, 31, 4), ok(0, 31, 131, 5)];
        assert.deepStrictEqual(writeGaps(answers, 20), [
            { from: 7, to: 30, ms: 23 },
            { from: 31, to: 131, ms: 100 },
        ]);
        assert.strictEqual(unavailableMs(answers, 20), 123);
        assert.strictEqual(unavailableMs(answers, 101), 0);
        assert.strictEqual(longestGapWithin(answers, 0, 20), 23);
        assert.strictEqual(longestGapWithin(answers, 40, 50), 100);
        assert.strictEqual(longestGapWithin(answers, 200, 300), 0);
    });

    it("acknowledged hits lost: counts above the final counter, repeated ones and ones that went backwards", () => {
        const f = analyseAnswers([ok(0, 0, 1, 1), ok(1, 0, 2, 2), ok(0, 3, 4, 3)]);
        assert.strictEqual(acknowledgedHitsLost(f, 3), 0);
        assert.strictEqual(acknowledgedHitsLost(f, 1), 2);
        assert.strictEqual(acknowledgedHitsLost(analyseAnswers([ok(0, 0, 1, 5), ok(1, 0, 2, 5), ok(0, 3, 4, 4)]), 5), 2);
    });

    it("a drill's findings in one place", () => {
        const answers = [ok(0, 0, 4, 1), refused(5, 6), ok(0, 10, 12, 2)];
        assert.deepStrictEqual(drillFindings(answers, 5, 2), {
            windowMs: 7,
            longestGapMs: 8,
            unavailableMs: 0,
            acknowledged: 2,
            refused: 1,
            lost: 0,
        });
    });
});
