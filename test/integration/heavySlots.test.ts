/**
 * Slots that hold thousands of keys (hash tags) keep every key, with its value, when they move:
 * when an interrupted move of such a slot is finished and the cluster evened out (the rebalance),
 * and in a scale-out 3 -> 4. Other tests hold at most a few keys per slot, while the engine moves
 * a slot's keys in GETKEYSINSLOT batches of 100 and redis-cli --cluster reshard in pipelines of 10:
 * only a slot with more keys than one batch shows that every batch is moved.
 *
 * Both transports: direct (ioredis, the engine's own MIGRATEs) and Kubernetes exec through the
 * stand-in API server (test/support/fakeKubeApi.ts: redis-cli exec'd in the "pods"; a scale-out
 * is redis-cli --cluster reshard there). Real redis-server processes on this file's loopback blocks.
 *
 * The heavy slots are both ends of every master's slot ranges: the engine's own moves give a donor's
 * highest slots, redis-cli's reshard its lowest, so either way heavy slots move, and each test
 * checks that some did.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Cluster } from "ioredis";
import { FormNode, FormResult, form } from "../../components/formation/form";
import { ownsSlot, parseClusterNodes } from "../../components/formation/clusterState";
import { DirectTransport, Transport } from "../../components/formation/transport";
import { KubernetesTransport } from "../../components/formation/kubernetesTransport";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";
import { assertRedisCliCheckClean } from "../support/clusterChecks";
import { FakeKubeApi } from "../support/fakeKubeApi";
import { tagForSlot } from "../support/keySlots";
import { loopbackBlocks } from "../support/loopbackBlocks";

const BLOCKS = loopbackBlocks(__filename);
const PASSWORD = "heavy-slots-password";
const KEYS_PER_SLOT = 2000;
const NODE_TIMEOUT_MS = 1000;

/** The two ways the engine reaches the nodes. */
const TRANSPORTS = [
    { name: "direct", block: BLOCKS[0] },
    { name: "Kubernetes exec", block: BLOCKS[1] },
] as const;

/** Eight nodes (a 3x1 cluster and the two pods a fourth shard adds) and the transport under test. */
interface Rig {
    readonly nodes: LocalRedisNode[];
    readonly pods: FormNode[];
    readonly transport: Transport;
    /** Polling interval for the engine (exec round trips cost tens of milliseconds). */
    readonly pollMs?: number;
    /** For setting up and reading the cluster from the test itself. */
    readonly direct: DirectTransport;
    close(): Promise<void>;
}

async function startRig(kind: (typeof TRANSPORTS)[number], dir: string): Promise<Rig> {
    const nodes = await LocalRedisNode.startAll(
        loopbackAddresses(kind.block, 8).map((host, i) => ({
            host,
            dir: path.join(dir, `redis-${i}`),
            password: PASSWORD,
            nodeTimeoutMs: NODE_TIMEOUT_MS,
        })),
    );
    const direct = new DirectTransport(PASSWORD);
    if (kind.name === "direct") {
        return {
            nodes,
            pods: nodes.map((n) => ({ address: n.address, target: n.address })),
            transport: direct,
            direct,
            close: async () => {
                await direct.close();
                await Promise.all(nodes.map((n) => n.kill()));
            },
        };
    }
    const api = await FakeKubeApi.start(
        "redis",
        nodes.map((n, i) => ({
            name: `redis-${i}`,
            ip: n.host,
            nodeName: `node-${i % 3}`,
            ready: true,
            env: { REDIS_PASSWORD: PASSWORD },
        })),
        [0, 1, 2].map((i) => ({ name: `node-${i}` })),
    );
    return {
        nodes,
        pods: nodes.map((n, i) => ({ address: n.address, target: `redis-${i}` })),
        transport: new KubernetesTransport({ kubeconfig: api.kubeconfig(), namespace: "redis", container: "redis" }),
        pollMs: 200,
        direct,
        close: async () => {
            await direct.close();
            await api.close();
            await Promise.all(nodes.map((n) => n.kill()));
        },
    };
}

/** Every slot range's first and last slot. */
function rangeEnds(result: FormResult): number[] {
    return [...new Set(result.shards.flatMap((s) => s.slots.flatMap(([a, b]) => [a, b])))];
}

const keyOf = (tag: string, i: number) => `{${tag}}:k${i}`;
const valueOf = (tag: string, i: number) => `${tag}:v${i}`;

describe("slots holding thousands of keys move with every key (real redis-server)", function () {
    this.timeout(120_000);

    for (const kind of TRANSPORTS) {
        describe(`over ${kind.name}`, () => {
            let dir: string;
            let rig: Rig;
            let client: Cluster;
            let formed: FormResult;
            /** Heavy slot -> its hash tag. */
            const heavy = new Map<number, string>();

            const engine = (count: number, masters: number, log?: (line: string) => void) =>
                form({ nodes: rig.pods.slice(0, count), masters, replicasPerMaster: 1, transport: rig.transport, pollMs: rig.pollMs, log });

            /** Fills each of `slots` that is not heavy yet with KEYS_PER_SLOT keys (one MSET per slot: they share it). */
            async function makeHeavy(slots: readonly number[]): Promise<void> {
                for (const slot of slots.filter((s) => !heavy.has(s))) {
                    const tag = tagForSlot(slot, `h${slot}-`);
                    // test/support/keySlots.ts and Redis agree.
                    assert.strictEqual(Number(await rig.direct.call(rig.nodes[0].address, ["CLUSTER", "KEYSLOT", keyOf(tag, 0)])), slot);
                    await client.mset(...Array.from({ length: KEYS_PER_SLOT }, (_, i) => [keyOf(tag, i), valueOf(tag, i)]).flat());
                    heavy.set(slot, tag);
                }
            }

            /** Keys of the heavy slots that are missing or changed, as "slot: n of N wrong (first: key)". */
            async function wrongKeys(): Promise<string[]> {
                const wrong: string[] = [];
                for (const [slot, tag] of heavy) {
                    const values = await client.mget(...Array.from({ length: KEYS_PER_SLOT }, (_, i) => keyOf(tag, i)));
                    const bad = values.map((v, i) => [i, v] as const).filter(([i, v]) => v !== valueOf(tag, i));
                    if (bad.length > 0)
                        wrong.push(
                            `slot ${slot}: ${bad.length} of ${KEYS_PER_SLOT} wrong (first: ${keyOf(tag, bad[0][0])} = ${bad[0][1]})`,
                        );
                }
                return wrong;
            }

            /** Owner (node id) of every heavy slot, from one node's view. */
            async function heavyOwners(): Promise<Map<number, string>> {
                const view = parseClusterNodes(await rig.direct.call(rig.nodes[0].address, ["CLUSTER", "NODES"]));
                return new Map([...heavy.keys()].map((slot) => [slot, view.find((e) => ownsSlot(e, slot))?.id ?? "none"]));
            }

            async function openSlots(): Promise<string[]> {
                const out: string[] = [];
                for (const n of rig.nodes) {
                    const self = parseClusterNodes(await rig.direct.call(n.address, ["CLUSTER", "NODES"])).find((e) =>
                        e.flags.includes("myself"),
                    );
                    if (self && (self.migrating.size || self.importing.size))
                        out.push(`${n.address}: ${[...self.migrating.keys(), ...self.importing.keys()].join(",")}`);
                }
                return out;
            }

            before(async () => {
                dir = fs.mkdtempSync(path.join(os.tmpdir(), "heavy-slots-"));
                rig = await startRig(kind, dir);
                formed = await engine(6, 3);
                client = new Cluster([{ host: rig.nodes[0].host, port: rig.nodes[0].port }], { redisOptions: { password: PASSWORD } });
                await makeHeavy(rangeEnds(formed));
            });

            after(async () => {
                client?.disconnect();
                await rig?.close();
                fs.rmSync(dir, { recursive: true, force: true });
            });

            it(`rebalance: a move of a slot with ${KEYS_PER_SLOT} keys left open by an interrupted run is finished, the slots are evened out, every key is there with its value`, async () => {
                // The first master's highest slot, half-moved to the second master as a run that died there leaves it.
                const [a, b] = formed.shards;
                const slot = a.slots[a.slots.length - 1][1];
                assert.ok(heavy.has(slot));
                assert.strictEqual(
                    await rig.direct.call(a.master.address, ["CLUSTER", "COUNTKEYSINSLOT", String(slot)]),
                    String(KEYS_PER_SLOT),
                );
                await rig.direct.call(b.master.address, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", a.master.id]);
                await rig.direct.call(a.master.address, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", b.master.id]);

                const log: string[] = [];
                const result = await engine(6, 3, (l) => log.push(l));

                assert.strictEqual(result.action, "completed");
                assert.ok(
                    log.includes(`finishing interrupted move of slot ${slot} from ${a.master.address} to ${b.master.address}`),
                    log.join("\n"),
                );
                assert.ok(
                    log.some((l) => /^rebalancing: moving 1 slots/.test(l)),
                    `the uneven cluster was not evened out:\n${log.join("\n")}`,
                );
                assert.deepStrictEqual(
                    result.shards.map((s) => s.slots.reduce((k, [x, y]) => k + y - x + 1, 0)).sort(),
                    [5461, 5461, 5462],
                );
                assert.deepStrictEqual(await openSlots(), []);
                assert.deepStrictEqual(await wrongKeys(), []);
                assertRedisCliCheckClean(rig.nodes[0].address, PASSWORD);
                formed = result;
            });

            it(`scale-out 3 -> 4 moves slots holding ${KEYS_PER_SLOT} keys each, and every key is there with its value`, async () => {
                await makeHeavy(rangeEnds(formed));
                const before = await heavyOwners();

                const result = await engine(8, 4);

                assert.strictEqual(result.action, "scaled-out");
                assert.deepStrictEqual(
                    result.shards.map((s) => s.slots.reduce((k, [x, y]) => k + y - x + 1, 0)),
                    [4096, 4096, 4096, 4096],
                );
                const after = await heavyOwners();
                const moved = [...before.keys()].filter((slot) => after.get(slot) !== before.get(slot));
                console.log(
                    `      ${kind.name}: ${moved.length} of ${heavy.size} heavy slots (${KEYS_PER_SLOT} keys each) moved to the new master`,
                );
                assert.ok(
                    moved.length > 0,
                    "no heavy slot moved: the test proves nothing (the engine moved other slots than the ends of ranges)",
                );
                assert.deepStrictEqual(await openSlots(), []);
                assert.deepStrictEqual(await wrongKeys(), []);
                assertRedisCliCheckClean(rig.nodes[0].address, PASSWORD);
            });
        });
    }
});
