/** The one poll helper (components/formation/wait.ts): deadlines, and progress while a wait or an operation lasts. */
import * as assert from "assert";
import { Clock, formatElapsed, reportWhileRunning, waitFor } from "../../components/formation/wait";

/** A clock that only moves when the wait sleeps. */
function fakeClock(): Clock & { slept: number } {
    let now = 1_000_000;
    return {
        slept: 0,
        now: () => now,
        async sleep(ms) {
            now += ms;
            this.slept += ms;
        },
    };
}

describe("waitFor and reportWhileRunning (components/formation/wait.ts)", () => {
    it("a long wait reports what it waits for, how long so far and what is pending, every 15 s by default", async () => {
        const clock = fakeClock();
        const lines: string[] = [];
        let polls = 0;
        await waitFor(
            "the cluster to be formed",
            async () => (++polls <= 50 ? `10.0.0.${polls}:6379 master_link_status:down` : undefined),
            {
                timeoutMs: 600_000,
                pollMs: 1000,
                progress: (l) => lines.push(l),
                clock,
            },
        );
        assert.strictEqual(clock.slept, 50_000);
        assert.deepStrictEqual(lines, [
            "still waiting for the cluster to be formed (15 s of at most 10 min): 10.0.0.16:6379 master_link_status:down",
            "still waiting for the cluster to be formed (30 s of at most 10 min): 10.0.0.31:6379 master_link_status:down",
            "still waiting for the cluster to be formed (45 s of at most 10 min): 10.0.0.46:6379 master_link_status:down",
        ]);
    });

    it("a wait that ends sooner says nothing; the interval can be set; a timeout names what was pending", async () => {
        const clock = fakeClock();
        const lines: string[] = [];
        let polls = 0;
        const o = { timeoutMs: 60_000, pollMs: 500, progress: (l: string) => lines.push(l), clock };
        await waitFor("pods", async () => (++polls < 20 ? "redis-3 is not Ready" : undefined), o);
        assert.deepStrictEqual(lines, []);
        await assert.rejects(
            waitFor("pods", async () => "redis-3 is not Ready", { ...o, timeoutMs: 5000, progressEveryMs: 2000 }),
            /^Error: timed out after 5000 ms waiting for pods; still waiting for: redis-3 is not Ready$/,
        );
        assert.deepStrictEqual(lines, [
            "still waiting for pods (2 s of at most 5 s): redis-3 is not Ready",
            "still waiting for pods (4 s of at most 5 s): redis-3 is not Ready",
        ]);
    });

    it("a probe that throws counts as pending with its error, in the progress line too", async () => {
        const lines: string[] = [];
        let polls = 0;
        await waitFor(
            "cluster_state:ok",
            async () => {
                if (++polls < 4) throw new Error("connect ECONNREFUSED 10.0.0.2:6379");
                return undefined;
            },
            { timeoutMs: 60_000, pollMs: 10_000, progress: (l) => lines.push(l), clock: fakeClock() },
        );
        assert.deepStrictEqual(lines, [
            "still waiting for cluster_state:ok (20 s of at most 1 min): error: connect ECONNREFUSED 10.0.0.2:6379",
        ]);
    });

    it("a long operation reports while it runs (with its status) and stops reporting when it ends", async () => {
        const lines: string[] = [];
        let moved = 0;
        const timer = setInterval(() => (moved += 64), 10);
        const result = await reportWhileRunning("slot moves (4096 slots)", new Promise((r) => setTimeout(() => r("done"), 130)), {
            progress: (l) => lines.push(l),
            everyMs: 40,
            status: () => `${moved}/4096 slots moved`,
        });
        clearInterval(timer);
        assert.strictEqual(result, "done");
        assert.ok(lines.length >= 2 && lines.length <= 3, lines.join("\n"));
        for (const l of lines) assert.match(l, /^still running slot moves \(4096 slots\) \(0 s\): \d+\/4096 slots moved$/);
        const after = lines.length;
        await new Promise((r) => setTimeout(r, 100));
        assert.strictEqual(lines.length, after, "it kept reporting after the operation ended");
    });

    it("formats elapsed time as a log line says it", () => {
        assert.deepStrictEqual([0, 999, 15_000, 59_999, 60_000, 125_400].map(formatElapsed), [
            "0 s",
            "0 s",
            "15 s",
            "59 s",
            "1 min",
            "2 min 5 s",
        ]);
    });
});
