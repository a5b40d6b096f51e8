/**
 * "Formed" includes every replica's link: form() must not return while an initial sync is held
 * back, even once everything else (slots, agreement, cluster_state:ok) is done. On loopback an
 * initial sync takes ~40 ms, far less than the wait for cluster_state:ok, so without a hold a
 * formation that forgot the links would still look right. Here every master streams its syncs
 * (diskless, unlike the shipped conf) and holds them with `repl-diskless-sync-delay` (as the Redis
 * test suite does to keep a replica in its handshake)
 * until the test lets them go. Real redis-server processes on this file's loopback block.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FormResult, form } from "../../components/formation/form";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { SLOT_COUNT } from "../../components/shape";
import { DirectTransport } from "../../components/formation/transport";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";
import { loopbackBlocks } from "../support/loopbackBlocks";
import { RecordingTransport } from "../support/recordingTransport";
import { setTimeout as sleep } from "timers/promises";

const [BLOCK] = loopbackBlocks(__filename);
const PASSWORD = "held-sync-password";
/** Seconds a master waits before it starts an initial sync: far beyond this test; CONFIG SET lifts it. */
const HOLD_SECONDS = 3600;

describe("form() returns only once every replica's link is up (initial syncs held back)", function () {
    this.timeout(60_000);
    let dir: string;
    let nodes: LocalRedisNode[] = [];
    let direct: DirectTransport;

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "held-sync-"));
        nodes = await LocalRedisNode.startAll(
            loopbackAddresses(BLOCK, 6).map((host, i) => ({
                host,
                dir: path.join(dir, `n${i}`),
                password: PASSWORD,
                nodeTimeoutMs: 1000,
                // The shipped conf syncs through a file (no delay to hold): turn the stream back on here.
                extraConfig: ["repl-diskless-sync yes", `repl-diskless-sync-delay ${HOLD_SECONDS}`],
            })),
        );
        direct = new DirectTransport(PASSWORD);
    });

    after(async () => {
        await direct?.close();
        // SIGKILL: nothing here is kept, and a SIGTERM'd master may wait shutdown-timeout (10 s) for a replica stopping with it.
        await Promise.all(nodes.map((n) => n.kill()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    /**
     * What a formation that ignored the replica links would wait for, seen from outside: every
     * node knows all six with no failure flags, all slots are covered, all views agree on roles
     * and slots, and every node reports cluster_state:ok. Undefined when so; else what is missing.
     */
    async function formedButForTheLinks(): Promise<string | undefined> {
        const views = await Promise.all(nodes.map(async (n) => parseClusterNodes(await direct.call(n.address, ["CLUSTER", "NODES"]))));
        const signatures = new Set<string>();
        for (const [i, view] of views.entries()) {
            if (view.length !== nodes.length) return `${nodes[i].address} knows ${view.length} nodes`;
            const flagged = view.filter((e) => e.flags.some((f) => ["handshake", "fail", "fail?", "noaddr"].includes(f)));
            if (flagged.length > 0) return `${nodes[i].address} flags ${flagged.map((e) => e.address).join(", ")}`;
            if (view.reduce((k, e) => k + e.slotCount, 0) !== SLOT_COUNT) return `${nodes[i].address} sees slots uncovered`;
            signatures.add(
                view
                    .map((e) => `${e.id} ${e.masterId ?? "master"} ${e.slotRanges.map((r) => r.join("-")).join(",")}`)
                    .sort()
                    .join("|"),
            );
        }
        if (signatures.size !== 1) return "views disagree";
        for (const n of nodes) {
            const state = /cluster_state:(\w+)/.exec(await direct.call(n.address, ["CLUSTER", "INFO"]))?.[1];
            if (state !== "ok") return `${n.address} cluster_state:${state}`;
        }
        return undefined;
    }

    /** master_link_status of every replica, as "address:status". */
    async function replicaLinks(): Promise<string[]> {
        const out: string[] = [];
        for (const n of nodes) {
            const info = await direct.call(n.address, ["INFO", "replication"]);
            if (/role:slave/.test(info)) out.push(`${n.address}:${/master_link_status:(\w+)/.exec(info)?.[1]}`);
        }
        return out.sort();
    }

    it("keeps waiting while the links are down, with everything else formed, and returns once the syncs are let go", async () => {
        const engine = new RecordingTransport(direct);
        let linksWhenReturned: string[] | undefined;
        const formation = form({
            nodes: nodes.map((n) => ({ address: n.address, target: n.address })),
            masters: 3,
            replicasPerMaster: 1,
            transport: engine,
        }).then(async (result: FormResult) => {
            linksWhenReturned = await replicaLinks();
            return result;
        });
        let settled = false;
        void formation.then(
            () => (settled = true),
            () => (settled = true),
        );

        // Wait until only the links are missing, then give the engine several full polling rounds
        // (each asks every node at least once) to return early: a formation that ignored the links
        // would return within one round of its own checks from there.
        const deadline = Date.now() + 30_000;
        for (let missing = await formedButForTheLinks(); !settled && missing !== undefined; missing = await formedButForTheLinks()) {
            assert.ok(Date.now() < deadline, `the cluster never got formed apart from the links: ${missing}`);
            await sleep(50);
        }
        const callsThen = engine.roundTrips;
        while (!settled && engine.roundTrips < callsThen + 5 * 2 * nodes.length) {
            assert.ok(
                Date.now() < deadline,
                `the engine stopped asking the nodes (${engine.roundTrips - callsThen} calls) without returning`,
            );
            await sleep(10);
        }

        assert.ok(
            !settled,
            `form() returned while every initial sync was held back (links when it returned: ${linksWhenReturned?.join(", ")})`,
        );
        const held = await replicaLinks();
        assert.strictEqual(held.length, 3, held.join(", "));
        assert.ok(
            held.every((l) => l.endsWith(":down")),
            `the hold did not hold: ${held.join(", ")}`,
        );

        // Let the masters start their syncs (Redis reads the delay again on its replication cron).
        await Promise.all(nodes.map((n) => direct.call(n.address, ["CONFIG", "SET", "repl-diskless-sync-delay", "0"])));
        const result = await formation;
        assert.strictEqual(result.action, "created");
        assert.deepStrictEqual(
            linksWhenReturned?.map((l) => l.split(":").pop()),
            ["up", "up", "up"],
            `links when form() returned: ${linksWhenReturned?.join(", ")}`,
        );
    });
});
