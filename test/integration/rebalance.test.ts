/**
 * Scale-out runs that die half-way, against real redis-server (on this file's loopback blocks):
 * the next run finishes the open slot moves, evens out the slots and loses no key.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Cluster } from "ioredis";
import { ClusterNodeEntry, ownsSlot, parseClusterNodes } from "../../components/formation/clusterState";
import { FormNode, form } from "../../components/formation/form";
import { DirectTransport } from "../../components/formation/transport";
import { LocalCluster, localHostname, startLocalCluster } from "../../local/cluster";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";
import { assertRedisCliCheckClean } from "../support/clusterChecks";
import { loopbackBlocks } from "../support/loopbackBlocks";
import { RecordingTransport, nth } from "../support/recordingTransport";

const BLOCKS = loopbackBlocks(__filename);
const NODE_TIMEOUT_MS = 1000;
const KEYS = 3000;

interface Rig {
    readonly cluster: LocalCluster;
    readonly added: LocalRedisNode[];
    readonly pods: FormNode[];
    readonly direct: DirectTransport;
    readonly client: Cluster;
    readonly dir: string;
}

/** A formed 3x1 cluster holding KEYS keys, plus two fresh pods for a 4th shard (as the StatefulSet grows from 6 to 8). */
async function startRig(block: number): Promise<Rig> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rebalance-${block}-`));
    const cluster = await startLocalCluster({
        masters: 3,
        replicasPerMaster: 1,
        dir: path.join(dir, "cluster"),
        block,
        nodeTimeoutMs: NODE_TIMEOUT_MS,
    });
    const added = await LocalRedisNode.startAll(
        loopbackAddresses(block, 8)
            .slice(6)
            .map((host, i) => ({
                host,
                dir: path.join(dir, `pod-${6 + i}`),
                password: cluster.password,
                nodeTimeoutMs: NODE_TIMEOUT_MS,
                announceHostname: localHostname(6 + i),
            })),
    );
    const pods = [...cluster.nodes, ...added].map((n) => ({ address: n.address, target: n.address }));
    const client = new Cluster(
        cluster.seeds.map((s) => ({ host: s.split(":")[0], port: 6379 })),
        { redisOptions: { password: cluster.password } },
    );
    await Promise.all(Array.from({ length: KEYS }, (_, i) => client.set(`rebalance:${i}`, `v${i}`)));
    return { cluster, added, pods, direct: new DirectTransport(cluster.password), client, dir };
}

async function stopRig(rig: Rig | undefined): Promise<void> {
    if (!rig) return;
    rig.client.disconnect();
    await rig.direct.close();
    await Promise.all([rig.cluster.stop(), ...rig.added.map((n) => n.stop())]);
    fs.rmSync(rig.dir, { recursive: true, force: true });
}

async function view(rig: Rig, address: string): Promise<ClusterNodeEntry> {
    return parseClusterNodes(await rig.direct.call(address, ["CLUSTER", "NODES"])).find((e) => e.flags.includes("myself"))!;
}

/** Open slot moves over all pods, as "address: n migrating, m importing". */
async function openSlots(rig: Rig): Promise<string[]> {
    const out: string[] = [];
    for (const p of rig.pods) {
        const self = await view(rig, p.address);
        if (self.migrating.size || self.importing.size)
            out.push(`${p.address}: ${self.migrating.size} migrating, ${self.importing.size} importing`);
    }
    return out;
}

/** The healthy re-run, and everything that must hold after it; returns its log. */
async function rerunAndVerify(rig: Rig): Promise<string[]> {
    const counting = new RecordingTransport(rig.direct);
    const log: string[] = [];
    const result = await form({ nodes: rig.pods, masters: 4, replicasPerMaster: 1, transport: counting, log: (l) => log.push(l) });
    assert.strictEqual(result.action, "completed");
    assert.strictEqual(result.clusterState, "ok");
    assert.deepStrictEqual(
        result.shards.map((s) => s.slots.reduce((k, [a, b]) => k + b - a + 1, 0)),
        [4096, 4096, 4096, 4096],
    );
    assert.ok(result.shards.every((s) => s.replicas.length === 1));
    // SETSLOTs travel in batches: about one round trip per moved slot (GETKEYSINSLOT), not five.
    assert.ok(counting.roundTrips < 2 * 4096, `${counting.roundTrips} round trips`);
    assert.deepStrictEqual(await openSlots(rig), []);
    assertRedisCliCheckClean(rig.pods[0].address, rig.cluster.password);
    const values = await Promise.all(Array.from({ length: KEYS }, (_, i) => rig.client.get(`rebalance:${i}`)));
    assert.deepStrictEqual(
        values.filter((v, i) => v !== `v${i}`),
        [],
    );
    const again = await form({ nodes: rig.pods, masters: 4, replicasPerMaster: 1, transport: rig.direct });
    assert.strictEqual(again.action, "unchanged");
    return log;
}

const count = (log: readonly string[], pattern: RegExp) => log.filter((l) => pattern.test(l)).length;

describe("interrupted scale-out against real redis-server", function () {
    this.timeout(120_000);

    describe("stopped while a donor's MIGRATING batch was half sent", () => {
        let rig: Rig | undefined;
        before(async () => {
            rig = await startRig(BLOCKS[0]);
        });
        after(() => stopRig(rig));

        it("the next run finishes the 21 started moves, cancels the 43 that never started, evens the slots out, and loses no key", async () => {
            const r = rig!;
            // Batches of 64, one at a time: batches 1-2 complete, batch 3 dies at its 22nd MIGRATING.
            const faulty = new RecordingTransport(
                r.direct,
                nth(150, (_, a) => a[1] === "SETSLOT" && a[3] === "MIGRATING"),
            );
            await assert.rejects(
                form({ nodes: r.pods, masters: 4, replicasPerMaster: 1, transport: faulty, migrationConcurrency: 1 }),
                /injected failure at: CLUSTER SETSLOT \d+ MIGRATING/,
            );
            // The donor migrates the 21 slots it was told about; the receiver imports all 64 of the batch.
            const open = await openSlots(r);
            assert.deepStrictEqual(
                open.map((o) => o.replace(/^\S+ /, "")).sort(),
                ["0 migrating, 64 importing", "21 migrating, 0 importing"],
                open.join("; "),
            );
            const log = await rerunAndVerify(r);
            assert.strictEqual(count(log, /^finishing interrupted move of slot/), 21, log.join("\n"));
            assert.strictEqual(count(log, /^cancelling interrupted move of slot .* which never started$/), 43, log.join("\n"));
        });
    });

    describe("stopped between the receiver's and the donor's SETSLOT NODE", () => {
        let rig: Rig | undefined;
        before(async () => {
            rig = await startRig(BLOCKS[1]);
        });
        after(() => stopRig(rig));

        it("the next run closes the donor's side of slots the receiver already owns, evens out, and loses no key", async () => {
            const r = rig!;
            // The first SETSLOT NODE of a slot goes to the receiver, the second to the donor.
            const seen = new Set<string>();
            const donorSide = (_: string, a: readonly string[]) =>
                a[1] === "SETSLOT" && a[3] === "NODE" && (seen.has(a[2]) || (seen.add(a[2]), false));
            const faulty = new RecordingTransport(r.direct, nth(100, donorSide));
            await assert.rejects(
                form({ nodes: r.pods, masters: 4, replicasPerMaster: 1, transport: faulty, migrationConcurrency: 1 }),
                /injected failure at: CLUSTER SETSLOT \d+ NODE/,
            );
            // Batch 2: the receiver owns all 64 slots; the donor closed 35 and still migrates 29.
            const open = await openSlots(r);
            assert.strictEqual(open.length, 1, open.join("; "));
            assert.match(open[0], /: 29 migrating, 0 importing$/);
            const log = await rerunAndVerify(r);
            assert.strictEqual(count(log, /^finishing interrupted move of slot/), 29, log.join("\n"));
        });

        it("a key whose name holds a line break stops the move with a clear error instead of looping, and stays where it was", async () => {
            const r = rig!;
            // Both halves hash like the whole name ({t}), so MIGRATE of the halves finds nothing rather than failing CROSSSLOT.
            const key = "{t}line\n{t}break";
            await r.client.set(key, "kept");
            const slot = Number(await r.direct.call(r.pods[0].address, ["CLUSTER", "KEYSLOT", key]));
            const entries = parseClusterNodes(await r.direct.call(r.pods[0].address, ["CLUSTER", "NODES"]));
            const owner = entries.find((e) => ownsSlot(e, slot))!;
            const other = entries.find((e) => e.slotCount > 0 && e.id !== owner.id)!;
            // An open move of that slot, as an interrupted run would leave it.
            await r.direct.call(other.address, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", owner.id]);
            await r.direct.call(owner.address, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", other.id]);
            try {
                await assert.rejects(form({ nodes: r.pods, masters: 4, replicasPerMaster: 1, transport: r.direct }), (e: Error) => {
                    assert.match(
                        e.message,
                        new RegExp(
                            `^slot ${slot}: MIGRATE from ${owner.address.replace(/\./g, "\\.")} to .* moved none of \\["\\{t\\}line","\\{t\\}break"\\]; key names with line breaks cannot be moved`,
                        ),
                    );
                    return true;
                });
                assert.strictEqual(await r.direct.call(owner.address, ["EXISTS", key]), "1");
            } finally {
                await r.direct.call(other.address, ["CLUSTER", "SETSLOT", String(slot), "STABLE"]);
                await r.direct.call(owner.address, ["CLUSTER", "SETSLOT", String(slot), "STABLE"]);
            }
            assert.strictEqual(await r.client.get(key), "kept");
        });
    });
});
