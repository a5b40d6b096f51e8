/**
 * The formation-time node timeout against real redis-server (loopback block 127.0.170.x, fresh
 * processes for every case): the new masters run with cluster-node-timeout 499 ms while a fresh
 * cluster forms, and every node is back at its configured value afterwards — after a success, after a
 * failed run, and, on the next run, after a run that died before it could restore anything.
 */
import * as assert from "assert";
import { configNumberOf } from "../../components/formation/clusterState";
import { FORMATION_DEFAULTS } from "../../components/formation/defaults";
import { FormNode, form } from "../../components/formation/form";
import { DirectTransport, Transport } from "../../components/formation/transport";
import { assertFormed3x1, assertRedisCliCheckClean } from "../support/clusterChecks";
import { FreshNodes, startFreshNodes } from "../support/freshNodes";
import { RecordingTransport, nth } from "../support/recordingTransport";

const PASSWORD = "formation-timeout";
/** Not the shipped default, so a restore to the default would show. */
const CONFIGURED_MS = 2000;
const LOWERED_MS = FORMATION_DEFAULTS.formationNodeTimeoutMs;
const isMeet = (_: string, args: readonly string[]) => args[1] === "MEET";

/** Every node's cluster-node-timeout, by address. */
async function nodeTimeouts(t: Transport, pods: readonly FormNode[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const p of pods)
        out[p.address] = configNumberOf(await t.call(p.target, ["CONFIG", "GET", "cluster-node-timeout"]), "cluster-node-timeout");
    return out;
}

/** Passes calls on until `dieAt` matches; from then on nothing reaches Redis, as when the engine's process is killed. */
class DyingTransport implements Transport {
    private dead = false;
    constructor(
        private readonly inner: Transport,
        private readonly dieAt: (target: string, args: readonly string[]) => boolean,
    ) {}
    private check(target: string, args: readonly string[]): void {
        if (this.dead || this.dieAt(target, args)) {
            this.dead = true;
            throw new Error(`engine gone at: ${args.join(" ")}`);
        }
    }
    async call(target: string, args: readonly string[]): Promise<string> {
        this.check(target, args);
        return this.inner.call(target, args);
    }
    async callEach(target: string, commands: readonly (readonly string[])[]): Promise<void> {
        for (const args of commands) this.check(target, args);
        await this.inner.callEach(target, commands);
    }
    close(): Promise<void> {
        return this.inner.close();
    }
}

describe("formation-time node timeout against real redis-server", function () {
    this.timeout(90_000);
    let rig: FreshNodes;
    let direct: DirectTransport;
    let pods: FormNode[];
    const configured = () => Object.fromEntries(pods.map((p) => [p.address, CONFIGURED_MS]));

    beforeEach(async () => {
        rig = await startFreshNodes({ label: "formation-timeout", block: 170, count: 6, password: PASSWORD, nodeTimeoutMs: CONFIGURED_MS });
        ({ direct, pods } = rig);
    });

    afterEach(() => rig.stop());

    it("a fresh 3x1: the three new masters run at 499 ms while the nodes meet, and every node is back at its configured value once usable", async () => {
        let duringMesh: Record<string, number> | undefined;
        // At the first MEET the single-node steps (timeouts, epochs, slots) are done and the mesh begins.
        const watching: Transport = {
            call: (target, args) => direct.call(target, args),
            callEach: async (target, commands) => {
                if (!duringMesh && commands.some((a) => a[1] === "MEET")) duringMesh = await nodeTimeouts(direct, pods);
                return direct.callEach(target, commands);
            },
            close: async () => undefined,
        };
        const log: string[] = [];
        const result = await form({ nodes: pods, masters: 3, replicasPerMaster: 1, transport: watching, log: (l) => log.push(l) });
        await assertFormed3x1(result, direct);
        const masters = result.shards.map((s) => s.master.address);
        assert.deepStrictEqual(
            duringMesh,
            Object.fromEntries(pods.map((p) => [p.address, masters.includes(p.address) ? LOWERED_MS : CONFIGURED_MS])),
        );
        assert.deepStrictEqual(await nodeTimeouts(direct, pods), configured());
        assert.ok(log.includes("restoring what held only while forming (3 steps)"), log.join("\n"));
    });

    it("a formation that fails after lowering them restores them before it returns its error", async () => {
        const faulty = new RecordingTransport(direct, nth(1, isMeet));
        await assert.rejects(
            form({ nodes: pods, masters: 3, replicasPerMaster: 1, transport: faulty }),
            /^Error: injected failure at: CLUSTER MEET/,
        );
        assert.deepStrictEqual(await nodeTimeouts(direct, pods), configured());
    });

    it("a restore that does not take is an error naming the node, not a silent difference", async () => {
        // Drops the restoring CONFIG SET, as a node that reset its config or a proxy eating the command would.
        const dropping: Transport = {
            call: (target, args) =>
                args[0] === "CONFIG" && args[1] === "SET" && args[3] === String(CONFIGURED_MS)
                    ? Promise.resolve("OK")
                    : direct.call(target, args),
            callEach: (target, commands) => direct.callEach(target, commands),
            close: async () => undefined,
        };
        await assert.rejects(
            form({ nodes: pods, masters: 3, replicasPerMaster: 1, transport: dropping }),
            /^Error: 127\.0\.170\.1\d:6379: cluster-node-timeout is 499 ms after restoring it to 2000 ms$/,
        );
    });

    it("a run that dies before it can restore anything leaves the masters at 499 ms; the next run restores them from their replicas' value and completes", async () => {
        await assert.rejects(
            form({ nodes: pods, masters: 3, replicasPerMaster: 1, transport: new DyingTransport(direct, isMeet) }),
            /engine gone at: CLUSTER MEET .*; undoing the formation-time settings after that also failed: engine gone at: CONFIG SET cluster-node-timeout 2000/,
        );
        const left = await nodeTimeouts(direct, pods);
        assert.deepStrictEqual(
            Object.values(left).sort((a, b) => a - b),
            [LOWERED_MS, LOWERED_MS, LOWERED_MS, CONFIGURED_MS, CONFIGURED_MS, CONFIGURED_MS],
        );
        const log: string[] = [];
        const result = await form({ nodes: pods, masters: 3, replicasPerMaster: 1, transport: direct, log: (l) => log.push(l) });
        assert.strictEqual(result.action, "completed");
        await assertFormed3x1(result, direct);
        assertRedisCliCheckClean(pods[0].address, PASSWORD);
        assert.deepStrictEqual(await nodeTimeouts(direct, pods), configured());
        assert.strictEqual(log.filter((l) => /cluster-node-timeout back to 2000 ms on .* \(checked\)$/.test(l)).length, 3, log.join("\n"));
    });
});
