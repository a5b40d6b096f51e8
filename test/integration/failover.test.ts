/**
 * The tutorial's proof (kill a master, the count survives), under concurrent load, through the local
 * pod runtime: the master that owns `hits` is SIGKILLed as a container crash and the kubelet (the
 * supervisor) restarts it. With the stronger promise of issue 4: no acknowledged hit is ever lost or
 * re-issued, and the app recovers by itself. Kubelet timings are the defaults (restart at once, then
 * a 10 s back-off).
 */
import * as assert from "assert";
import { pickFreeBlock } from "../../lib/hitLoad";
import { waitUntil } from "../../lib/poll";
import { DrillReport, masterOfHits, runDrill } from "../../local/drill";
import { RestartRecord, call } from "../../local/protocol";
import { KUBELET_DEFAULTS } from "../../local/rules";
import { readConfig, usersOf } from "../../local/state";
import { Started } from "../../local/up";
import { Credentials, admin, podOf, redisCli, removeTempDirs, startInProcess, waitHealthy } from "../support/runtime";

function assertNothingLost(r: DrillReport): void {
    assert.ok(r.windowMs !== undefined, "writes never succeeded again after the disruption");
    assert.ok(
        r.acknowledgedBefore > 0 && r.acknowledgedAfter > 0,
        `the load must straddle the disruption (${r.acknowledgedBefore} before, ${r.acknowledgedAfter} after)`,
    );
    assert.strictEqual(r.lost, 0, `acknowledged hits lost (counter ${r.finalCounter}, ${r.acknowledged} acknowledged)`);
    assert.ok(r.finalCounter >= r.acknowledged, `counter ${r.finalCounter} < ${r.acknowledged} acknowledged hits`);
}

describe("hit counter survives SIGKILL of the master that owns `hits` (local pod runtime, real redis-server)", function () {
    this.timeout(180_000);
    let cluster: Started;
    let password: Credentials;

    before(async () => {
        cluster = await startInProcess(await pickFreeBlock([20, 21, 22, 23, 24]), {}, "failover");
        password = admin(usersOf(cluster.layout, readConfig(cluster.layout) as NonNullable<ReturnType<typeof readConfig>>).admin);
    });
    after(async () => {
        await cluster?.supervisor?.stop();
        removeTempDirs();
    });

    it("the killed master restarts in place at once, the app recovers by itself, no acknowledged hit is lost", async () => {
        const r = await runDrill(cluster.layout, { mode: "kill", clients: 12, say: () => undefined });
        console.log(
            `      kill ${r.pod}: writes unavailable ${r.windowMs?.toFixed(0)} ms; back as ${r.roleAfter}; ${r.acknowledged} acknowledged, ${r.refused} refused, lost ${r.lost}`,
        );
        assertNothingLost(r);
        assert.strictEqual(r.addressAfter, r.addressBefore, "a crashed container restarts in its pod, at the same address");
        const s = await waitHealthy(cluster.layout);
        assert.strictEqual(podOf(s, r.pod).restarts, 1);
        assert.strictEqual(s.app?.restarts, 0, "the app was restarted instead of recovering by itself");
        // Its shard is whole again: it and its partner, one master and one replica whose link is up.
        const partner = s.pods.find((p) => p.master === r.pod) ?? s.pods.find((p) => p.name === podOf(s, r.pod).master);
        assert.ok(partner, `${r.pod} has no shard partner: ${JSON.stringify(s.pods.map((p) => [p.name, p.role, p.master]))}`);
        const replica = podOf(s, r.pod).role === "replica" ? podOf(s, r.pod) : partner;
        assert.match(redisCli(replica.address, password, "INFO", "replication"), /master_link_status:up/);
    });

    it("a master that crashes again within its back-off is failed over meanwhile and rejoins as a replica of its old replica", async () => {
        // Arm the back-off of the next master of `hits`: crash its replica once (restarted at once),
        // then hand it the slots with a graceful CLUSTER FAILOVER, as an operator would.
        let s = await waitHealthy(cluster.layout);
        const first = (await masterOfHits(cluster.layout)).name;
        const heir = s.pods.find((p) => p.role === "replica" && p.master === first) as NonNullable<(typeof s.pods)[number]>;
        await call(cluster.layout, { verb: "kill", pod: heir.name });
        s = await waitHealthy(cluster.layout);
        assert.strictEqual(redisCli(podOf(s, heir.name).address, password, "CLUSTER", "FAILOVER"), "OK");
        await waitUntilMaster(cluster, heir.name);

        const r = await runDrill(cluster.layout, { mode: "kill", clients: 12, say: () => undefined });
        console.log(
            `      second crash of ${r.pod}: replica took over after ${r.promotedMs} ms; writes unavailable ${r.windowMs?.toFixed(0)} ms; back as ${r.roleAfter}; lost ${r.lost}`,
        );
        assert.strictEqual(r.pod, heir.name);
        assertNothingLost(r);
        const restarts = await call<RestartRecord[]>(cluster.layout, { verb: "restarts", pod: r.pod });
        const last = restarts[restarts.length - 1];
        assert.strictEqual(last.delayMs, KUBELET_DEFAULTS.backoffInitialMs, "the second crash waits the kubelet's back-off");
        assert.ok((last.restartedAt ?? 0) - last.exitedAt >= last.delayMs);
        assert.ok(r.promotedMs !== undefined && r.promotedMs < last.delayMs, `no replica took over during the back-off (${r.promotedMs})`);
        assert.strictEqual(r.roleAfter, "replica");
        assert.strictEqual(r.addressAfter, r.addressBefore);
        s = await waitHealthy(cluster.layout);
        assert.strictEqual(podOf(s, r.pod).master, first);
        assert.match(redisCli(podOf(s, r.pod).address, password, "INFO", "replication"), /master_link_status:up/);
    });
});

async function waitUntilMaster(cluster: Started, pod: string): Promise<void> {
    await waitUntil(
        `${pod} master with a replica, every pod Ready`,
        async () => {
            const s = await waitHealthy(cluster.layout);
            return podOf(s, pod).role === "master" && s.pods.some((p) => p.master === pod) ? undefined : `${pod} is ${podOf(s, pod).role}`;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
    );
}
