/**
 * The surge pod of a 3x1 cluster, through the local pod runtime (real redis-server, the StatefulSet's
 * own pods with their preStop handover and failover agent), under durable load (WAIT 1):
 * - a rolling restart stops every pod once; each stop that would leave a shard with a single copy
 *   first makes the surge node (redis-6) that shard's replica, in sync, so WAIT 1 goes on
 *   confirming writes while the pod is away;
 * - once its shard has its own replica back it leaves the cluster again (an idle node);
 * What each pod did is read from its log; times are printed, never asserted.
 */
import * as assert from "assert";
import * as fs from "fs";
import { pickFreeBlock } from "../../lib/hitLoad";
import { waitUntil } from "../../lib/poll";
import { DrillReport, runDrill } from "../../local/drill";
import { StatusView } from "../../local/protocol";
import { readConfig, usersOf } from "../../local/state";
import { Started } from "../../local/up";
import { Credentials, FAST_TIMINGS, admin, podOf, redisCli, removeTempDirs, startInProcess, status, waitHealthy } from "../support/runtime";
import { loopbackBlocks } from "../support/loopbackBlocks";

const SURGE = "redis-6";

function assertNothingLost(r: DrillReport): void {
    assert.ok(
        r.acknowledgedBefore > 0 && r.acknowledgedAfter > 0,
        `the load must straddle the disruption (${r.acknowledgedBefore} before, ${r.acknowledgedAfter} after)`,
    );
    assert.strictEqual(r.lost, 0, `acknowledged hits lost (counter ${r.finalCounter}, ${r.acknowledged} acknowledged)`);
}

describe("the surge pod stands in for a shard's only other copy (local pod runtime, 3x1, real redis-server)", function () {
    this.timeout(240_000);
    let cluster: Started;
    let password: Credentials;
    let marks = new Map<string, number>();
    const logOf = (pod: string) => fs.readFileSync(cluster.layout.log(pod), "utf8");
    const markLogs = (s: StatusView) => (marks = new Map(s.pods.map((p) => [p.name, logOf(p.name).length])));
    const newLog = (pod: string) => logOf(pod).slice(marks.get(pod) ?? 0);
    /** The surge node's CLUSTER NODES lines: 1 when it is alone (an idle node). */
    const knownBySurge = async () =>
        redisCli(podOf(await status(cluster.layout), SURGE).address, password, "CLUSTER", "NODES")
            .trim()
            .split("\n").length;
    const waitIdle = (why: string) =>
        waitUntil(
            `${SURGE} alone again (${why})`,
            async () => {
                const n = await knownBySurge();
                return n === 1 ? undefined : `${SURGE} knows ${n} nodes`;
            },
            { timeoutMs: 90_000, intervalMs: 500 },
        );

    before(async () => {
        cluster = await startInProcess(
            await pickFreeBlock(loopbackBlocks(__filename)),
            { ...FAST_TIMINGS, backoffInitialMs: 0, backoffMaxMs: 0 },
            "surge",
        );
        const users = usersOf(cluster.layout, readConfig(cluster.layout) as NonNullable<ReturnType<typeof readConfig>>);
        password = admin(users.admin);
    });
    after(async () => {
        await cluster?.supervisor?.stop();
        removeTempDirs();
    });

    it("a rolling restart under durable load: every stop that would leave a shard with one copy is covered by the surge node first", async () => {
        const before = await waitHealthy(cluster.layout);
        assert.ok(podOf(before, SURGE).surge, `${SURGE} is the surge pod`);
        assert.strictEqual(await knownBySurge(), 1, "at rest the surge node is in no cluster");
        markLogs(before);
        const r = await runDrill(cluster.layout, { mode: "roll", clients: 12, maxRequests: 5_000_000, say: () => undefined });
        const members = before.pods.filter((p) => p.name !== SURGE);
        const lines = members.map(
            (p) =>
                newLog(p.name)
                    .split("\n")
                    .filter((l) => /handover\[/.test(l) && /stopping/.test(l))
                    .pop() ?? `${p.name}: no handover line`,
        );
        console.log(
            `      roll: longest write gap ${r.longestGapMs.toFixed(0)} ms, unavailable ${r.unavailableMs.toFixed(0)} ms; ${r.acknowledged} acknowledged, ${r.refused} refused, lost ${r.lost}`,
        );
        for (const l of lines) console.log(`      ${l.replace(/^.*?(handover\[)/, "$1")}`);
        assertNothingLost(r);
        if (process.env.SURGE_DEBUG)
            for (const p of members)
                console.log(
                    newLog(p.name)
                        .split("\n")
                        .filter((l) => /handover\[/.test(l))
                        .join("\n"),
                );
        for (const l of lines) {
            assert.match(
                l,
                /the surge node stands in for it|this node is slave: stopping at once|handed over to \S+ after \d+ ms; every master agrees; 1 other replica\(s\) follow it/,
                "a stop left its shard with one copy",
            );
        }
        assert.ok(
            lines.some((l) => /the surge node stands in for it/.test(l)),
            "no replica's stop recruited the surge node",
        );
        assert.ok(
            lines.filter((l) => /1 other replica\(s\) follow it/.test(l)).length === 3,
            "every master handed over with the surge node following the new master",
        );
    });

    it("once its shard has its own replica back, the surge node leaves the cluster: every member forgot it, it is alone", async () => {
        await waitIdle("after the roll");
        const s = await waitHealthy(cluster.layout);
        assert.match(newLog(SURGE), /the surge node is spare for \d+ s: leaving the cluster/);
        for (const p of s.pods.filter((x) => x.name !== SURGE)) {
            assert.doesNotMatch(
                redisCli(p.address, password, "CLUSTER", "NODES"),
                new RegExp(`${podOf(s, SURGE).address.replace(/\./g, "\\.")}:`),
                `${p.name} still knows the surge node`,
            );
        }
    });
});
