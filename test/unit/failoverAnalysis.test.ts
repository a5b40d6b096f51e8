import * as assert from "assert";
import { HitAnswer, analyseAnswers } from "../../lib/hitLoad";

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
});
