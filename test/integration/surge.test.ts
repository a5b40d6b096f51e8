/**
 * The surge pod on real redis-server processes over the direct transport (loopback block 127.0.220.x):
 * a 4x1 shrinks to 3x1, so the pod at the new surge ordinal (the seventh node) is drained and released
 * (every node forgets it, it resets) while the eighth is removed; then, as a stopping pod's preStop
 * would, the surge is recruited as a second replica of a shard: a formation run leaves it alone (no
 * FORGET, formed although every node knows seven nodes), refuses while the surge serves the shard's
 * slots after a takeover, and is unchanged again once they are handed back.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { FormNode, FormationRefused, form } from "../../components/formation/form";
import { liveReport, liveRequest, readLiveCluster } from "../../components/formation/live";
import { drainLeaving } from "../../components/formation/scaleIn";
import { DirectTransport } from "../../components/formation/transport";
import { waitUntil } from "../../lib/poll";
import { LocalCluster, startLocalCluster } from "../../local/cluster";
import { loopbackBlocks } from "../support/loopbackBlocks";

const NODE_TIMEOUT_MS = 2000;
const asPod = (address: string): FormNode => ({ address, target: address });

/** `cmdstat_cluster|forget` calls on a node (0 when never called). */
async function forgetCalls(t: DirectTransport, address: string): Promise<number> {
    const m = /^cmdstat_cluster\|forget:calls=(\d+)/m.exec(await t.call(address, ["INFO", "commandstats"]));
    return m ? Number(m[1]) : 0;
}

const entries = async (t: DirectTransport, address: string) => parseClusterNodes(await t.call(address, ["CLUSTER", "NODES"]));
const myself = async (t: DirectTransport, address: string) => (await entries(t, address)).find((e) => e.flags.includes("myself"))!;

describe("surge pod on real redis-server: released by a scale-in, then recruited, left alone by the formation", function () {
    this.timeout(240_000);
    let dir: string;
    let t: DirectTransport;
    let c: LocalCluster;

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "surge-"));
    });

    after(async () => {
        await t?.close();
        await c?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("4x1 -> 3x1 releases the new surge; recruited, the formation keeps it; serving slots, the run is refused", async () => {
        c = await startLocalCluster({
            masters: 4,
            replicasPerMaster: 1,
            dir: path.join(dir, "four"),
            block: loopbackBlocks(__filename)[0],
            nodeTimeoutMs: NODE_TIMEOUT_MS,
        });
        t = new DirectTransport(c.password);
        const pods = c.nodes.map((n) => asPod(n.address));
        const staying = pods.slice(0, 6);
        const surge = pods[6];

        // The drain: both leave the membership, the seventh is released since its pod stays.
        const lines: string[] = [];
        await drainLeaving({
            nodes: pods,
            leaving: [pods[6].address, pods[7].address],
            release: surge.address,
            masters: 3,
            replicasPerMaster: 1,
            transport: t,
            log: (l) => lines.push(l),
        });
        assert.ok(lines.includes("plan: release " + surge.address + " from the cluster: its pod stays as the surge pod"), lines.join("\n"));
        const surgeId = (await myself(t, surge.address)).id;
        assert.deepStrictEqual(
            (await entries(t, surge.address)).map((e) => e.id),
            [surgeId],
            "the released node knows only itself",
        );
        assert.match(await t.call(surge.address, ["CONFIG", "GET", "cluster-replica-no-failover"]), /no$/);
        for (const p of [...staying, pods[7]])
            assert.ok(!(await entries(t, p.address)).some((e) => e.id === surgeId), `${p.address} still knows the surge`);

        // The StatefulSet removes the eighth pod only; the formation forgets it and leaves the surge out.
        await c.nodes[7].stop("SIGKILL");
        const scaled = await form({ nodes: staying, surge, masters: 3, replicasPerMaster: 1, transport: t });
        assert.strictEqual(scaled.action, "scaled-in");
        assert.ok(scaled.seeds.every((s) => s !== surge.address));

        // A preStop recruits the surge as a second replica of the first shard's master.
        const master = scaled.shards[0].master;
        // It meets every member: they forgot it less than 60 s ago, and Redis ignores gossip of a forgotten node that long.
        for (const p of staying) await t.call(surge.address, ["CLUSTER", "MEET", ...p.address.split(":")]);
        await waitUntil(
            "the surge to know its master",
            async () =>
                (await entries(t, surge.address)).some((e) => e.id === master.id && e.flags.includes("master")) ? undefined : "not yet",
            { timeoutMs: 30_000, intervalMs: 200 },
        );
        await t.call(surge.address, ["CLUSTER", "REPLICATE", master.id]);
        await waitUntil(
            "every member to know the surge as a replica with its link up",
            async () => {
                for (const p of staying)
                    if (!(await entries(t, p.address)).some((e) => e.id === surgeId && e.masterId === master.id)) return p.address;
                return /master_link_status:up/.test(await t.call(surge.address, ["INFO", "replication"])) ? undefined : "link down";
            },
            { timeoutMs: 30_000, intervalMs: 200 },
        );

        const forgetBefore = await Promise.all(staying.map((p) => forgetCalls(t, p.address)));
        const kept = await form({ nodes: staying, surge, masters: 3, replicasPerMaster: 1, transport: t, timeoutMs: 20_000 });
        assert.strictEqual(kept.action, "unchanged");
        assert.ok(kept.shards.every((s) => s.replicas.length === 1 && s.replicas.every((r) => r.id !== surgeId)));
        assert.deepStrictEqual(await Promise.all(staying.map((p) => forgetCalls(t, p.address))), forgetBefore, "a FORGET was sent");
        assert.strictEqual((await myself(t, surge.address)).masterId, master.id, "the surge was moved");
        const live = await readLiveCluster(t, staying, surge);
        const report = liveReport(live, liveRequest(staying, 3, 1));
        assert.deepStrictEqual(report.drift, []);
        assert.deepStrictEqual(report.converge, []);

        // Its master is lost while it is in sync: the surge takes over (here by a manual failover).
        await t.call(surge.address, ["CLUSTER", "FAILOVER"]);
        await waitUntil(
            "the surge to serve the shard",
            async () => ((await myself(t, surge.address)).slotCount > 0 ? undefined : "not yet"),
            { timeoutMs: 30_000, intervalMs: 200 },
        );
        await assert.rejects(form({ nodes: staying, surge, masters: 3, replicasPerMaster: 1, transport: t }), (e: Error) => {
            assert.ok(e instanceof FormationRefused, e.message);
            assert.match(e.message, new RegExp(`^the surge pod ${surge.address} serves \\d+ slots after a takeover`));
            return true;
        });
        const serving = liveReport(await readLiveCluster(t, staying, surge), liveRequest(staying, 3, 1));
        assert.deepStrictEqual(
            serving.drift.filter((d) => d.kind === "surge-serving").map((d) => d.nodes),
            [[surge.address]],
        );

        // Its agent hands the slots back to a member: the formation is unchanged again.
        // A manual failover asked before the surge counts the member as its replica times out (5 s): asked again until it takes.
        let askedAt = 0;
        await waitUntil(
            "the member to serve the shard again",
            async () => {
                const [sg, m] = [await myself(t, surge.address), await myself(t, master.address)];
                if (sg.slotCount === 0 && m.slotCount > 0) return undefined;
                if (Date.now() - askedAt > 6000) {
                    askedAt = Date.now();
                    await t.call(master.address, ["CLUSTER", "FAILOVER"]).catch(() => undefined);
                }
                return `surge ${sg.flags.join(",")} ${sg.slotCount} slots, member ${m.flags.join(",")} ${m.slotCount} slots`;
            },
            { timeoutMs: 60_000, intervalMs: 200 },
        );
        const back = await form({ nodes: staying, surge, masters: 3, replicasPerMaster: 1, transport: t, timeoutMs: 20_000 });
        assert.strictEqual(back.action, "unchanged");
        assert.deepStrictEqual(await Promise.all(staying.map((p) => forgetCalls(t, p.address))), forgetBefore, "a FORGET was sent");
    });
});
