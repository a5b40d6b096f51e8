/**
 * Fresh formations that die half-way, against real redis-server (loopback block 127.0.19.x,
 * fresh processes for every case): the next run completes the same cluster, or refuses a
 * half-assigned one it did not start.
 */
import * as assert from "assert";
import { FormNode, FormationRefused, form } from "../../components/formation/form";
import { DirectTransport } from "../../components/formation/transport";
import { assertFormed3x1, assertRedisCliCheckClean } from "../support/clusterChecks";
import { FreshNodes, startFreshNodes } from "../support/freshNodes";
import { RecordingTransport, nth } from "../support/recordingTransport";

const PASSWORD = "resume";
const NODE_TIMEOUT_MS = 1000;

describe("interrupted fresh formation against real redis-server", function () {
    this.timeout(90_000);
    let rig: FreshNodes;
    let direct: DirectTransport;
    let pods: FormNode[];

    beforeEach(async () => {
        rig = await startFreshNodes({ label: "resume", block: 19, count: 6, password: PASSWORD, nodeTimeoutMs: NODE_TIMEOUT_MS });
        ({ direct, pods } = rig);
    });

    afterEach(() => rig.stop());

    /** The run after the failure, and what a formed 3x1 cluster must look like. */
    async function rerunAndVerify(): Promise<void> {
        const result = await form({ nodes: pods, masters: 3, replicasPerMaster: 1, transport: direct });
        assert.strictEqual(result.action, "completed");
        await assertFormed3x1(result, direct);
        assertRedisCliCheckClean(pods[0].address, PASSWORD);
        assert.strictEqual((await form({ nodes: pods, masters: 3, replicasPerMaster: 1, transport: direct })).action, "unchanged");
    }

    const cases: { name: string; at: (target: string, args: readonly string[]) => boolean }[] = [
        { name: "after the first master got its slots", at: nth(2, (_, a) => a[1] === "ADDSLOTSRANGE") },
        { name: "in the middle of the MEETs", at: nth(5, (_, a) => a[1] === "MEET") },
        { name: "after the first REPLICATE", at: nth(2, (_, a) => a[1] === "REPLICATE") },
    ];
    for (const c of cases) {
        it(`stopped ${c.name}: the next run completes the planned cluster`, async () => {
            const faulty = new RecordingTransport(direct, c.at);
            await assert.rejects(form({ nodes: pods, masters: 3, replicasPerMaster: 1, transport: faulty }), /injected failure/);
            await rerunAndVerify();
        });
    }

    it("slots assigned by something else (not this engine's plan) are refused, and nothing is changed", async () => {
        // A node that is a replica in the plan owns some slots.
        await direct.call(pods[5].address, ["CLUSTER", "ADDSLOTSRANGE", "0", "99"]);
        await assert.rejects(form({ nodes: pods, masters: 3, replicasPerMaster: 1, transport: direct }), (e: Error) => {
            assert.ok(e instanceof FormationRefused, e.message);
            assert.match(
                e.message,
                /^cluster: only 100 of 16384 slots are covered and the assignment is not one this engine started; repair it with `redis-cli --cluster fix` first\. Nothing was changed\.$/,
            );
            return true;
        });
        for (const p of pods) {
            const nodesText = await direct.call(p.address, ["CLUSTER", "NODES"]);
            assert.strictEqual(nodesText.trim().split("\n").length, 1, `${p.address} met nobody`);
        }
        assert.match(await direct.call(pods[5].address, ["CLUSTER", "NODES"]), / 0-99$/m);
        assert.doesNotMatch(await direct.call(pods[0].address, ["CLUSTER", "NODES"]), / \d+-\d+$/m);
    });
});
