/**
 * Refresh and drift over Kubernetes exec (the stand-in API server enforcing the formation's Role,
 * real redis-cli in real redis-server "pods", loopback block 127.0.212.x): the formation's read reports
 * the live shards after failovers, a replica now on its master's k8s node, a shard without its replica,
 * an open slot and a cluster at cluster_state:fail, each as drift with the plan the next update would
 * run; diff turns that into an update, and the update converges it with every key intact. A read sends
 * nothing that changes anything, and `get` by id works from the id and a kubeconfig alone.
 */
import * as assert from "assert";
import { Cluster } from "ioredis";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { FormationInputs, FormationOutputs, diffFormation, formationId, formationProvider } from "../../components/formation/provider";
import { LocalRedisNode } from "../../local/redisNode";
import { assertRedisCliCheckClean } from "../support/clusterChecks";
import { validFormationInputs } from "../support/formationInputs";
import { PodRig, startPodRig } from "../support/podRig";

const PASSWORD = "refresh-secret-0123";
const NODE_TIMEOUT_MS = 1000;
const KEYS = 1000;
/** Commands that change a node; a read must send none. */
const WRITES = /^(MEET|ADDSLOTSRANGE|REPLICATE|SETSLOT|SET-CONFIG-EPOCH|MIGRATE|FAILOVER|FORGET|SET|reshard)$/;

describe("refresh over Kubernetes exec: the live cluster, drift as data, and the update that converges it", function () {
    this.timeout(180_000);
    let rig: PodRig;
    let inputs: FormationInputs;
    let state: FormationOutputs;
    let client: Cluster;

    const read = async () => (await formationProvider.read!(formationId(inputs), state)).props as FormationOutputs;
    const writesSince = (n: number) => rig.api.execs.slice(n).filter((e) => e.command.some((c) => WRITES.test(c)));
    const kinds = (o: FormationOutputs) => o.drift.map((d) => d.kind);
    const update = async () => (state = (await formationProvider.update!(formationId(inputs), state, inputs)).outs as FormationOutputs);
    const masterOf = (o: FormationOutputs) => new Map(o.shards.flatMap((s) => s.replicas.map((r) => [r.pod, s.master.pod] as const)));
    async function allKeysReadable(): Promise<void> {
        const values = await Promise.all(Array.from({ length: KEYS }, (_, i) => client.get(`refresh:${i}`)));
        assert.deepStrictEqual(
            values.flatMap((v, i) => (v === `v${i}` ? [] : [i])),
            [],
        );
    }

    before(async () => {
        rig = await startPodRig({ label: "refresh", block: 212, count: 6, password: PASSWORD, nodeTimeoutMs: NODE_TIMEOUT_MS });
        inputs = { ...validFormationInputs(rig.api.kubeconfig()), headlessServiceName: "redis-headless", timeoutMs: 60_000 };
        const created = await formationProvider.create!(inputs);
        state = created.outs as FormationOutputs;
        assert.strictEqual(created.id, "redis/redis?container=redis&headless=redis-headless");
        client = new Cluster([{ host: rig.nodes[0].host, port: 6379 }], { redisOptions: { password: PASSWORD } });
        await Promise.all(Array.from({ length: KEYS }, (_, i) => client.set(`refresh:${i}`, `v${i}`)));
    });

    after(async () => {
        client?.disconnect();
        await rig?.stop();
    });

    it("a healthy cluster: no drift, nothing to converge, node ids in the shard map; a create over it (adoption) only reads", async () => {
        assert.deepStrictEqual([state.drift, state.converge, state.clusterState], [[], [], "ok"]);
        assert.ok(state.shards.every((s) => /^[0-9a-f]{40}$/.test(s.master.id)));
        const before = rig.api.execs.length;
        const adopted = (await formationProvider.create!(inputs)).outs as FormationOutputs;
        assert.deepStrictEqual(writesSince(before), [], "adopting a formed cluster changed it");
        assert.deepStrictEqual(adopted.shards, state.shards);
        assert.strictEqual(diffFormation(state, inputs).changes, false);
    });

    it("after every master failed over, read shows the new masters (the former replicas), still separated: no drift", async () => {
        const replicas = state.shards.map((s) => s.replicas[0]);
        for (const r of replicas) await rig.direct.call(r.address, ["CLUSTER", "FAILOVER"]);
        for (let i = 0; i < 200; i++) {
            const view = parseClusterNodes(await rig.direct.call(rig.nodes[0].address, ["CLUSTER", "NODES"]));
            if (replicas.every((r) => view.find((e) => e.id === r.id)?.slotCount)) break;
            await new Promise((res) => setTimeout(res, 50));
        }
        await new Promise((res) => setTimeout(res, 3 * NODE_TIMEOUT_MS)); // the old masters follow, links come up
        const before = rig.api.execs.length;
        const live = await read();
        assert.deepStrictEqual(writesSince(before), [], "a read changed the cluster");
        assert.deepStrictEqual(live.shards.map((s) => s.master.pod).sort(), replicas.map((r) => r.pod).sort());
        assert.deepStrictEqual([live.drift, live.converge, live.clusterState], [[], [], "ok"]);
        assert.strictEqual(diffFormation(live, inputs).changes, false);
        state = live;
    });

    it("a replica rescheduled onto its master's k8s node: drift with a re-pairing plan; diff says update; the update separates them", async () => {
        const shard = state.shards[0];
        const moved = shard.replicas[0].pod;
        rig.api.pods = rig.api.pods.map((p) => (p.name === moved ? { ...p, nodeName: shard.master.k8sNode! } : p));
        state = await read();
        assert.deepStrictEqual(kinds(state), ["co-located"]);
        assert.match(
            state.drift[0].message,
            new RegExp(`^replica ${moved} \\(.*\\) shares k8s node ${shard.master.k8sNode} with its master ${shard.master.pod}`),
        );
        assert.strictEqual(state.placementOk, false);
        assert.ok(
            state.converge.some((l) => /replicating: 2 replicas, 2 of them moving to another master/.test(l)),
            state.converge.join("\n"),
        );
        assert.strictEqual(diffFormation(state, inputs).changes, true);
        await update();
        assert.deepStrictEqual([state.drift, state.converge, state.placementOk], [[], [], true]);
        assert.notStrictEqual(masterOf(state).get(moved), shard.master.pod);
        await allKeysReadable();
    });

    it("a shard left without its replica (it replicates another master): missing and surplus replica; the update moves it back", async () => {
        const [a, b] = state.shards;
        await rig.direct.call(a.replicas[0].address, ["CLUSTER", "REPLICATE", b.master.id]);
        for (
            let i = 0;
            i < 100 && !(await rig.direct.call(a.replicas[0].address, ["INFO", "replication"])).includes("master_link_status:up");
            i++
        )
            await new Promise((res) => setTimeout(res, 50));
        await new Promise((res) => setTimeout(res, 2 * NODE_TIMEOUT_MS));
        state = await read();
        // (It may also share a k8s node with its new master: two pods run on each node here.)
        assert.deepStrictEqual(
            kinds(state).filter((k) => k !== "co-located"),
            ["missing-replica", "surplus-replica"],
        );
        assert.strictEqual(diffFormation(state, inputs).changes, true);
        await update();
        assert.deepStrictEqual(state.drift, []);
        assert.ok(state.shards.every((s) => s.replicas.length === 1));
        await allKeysReadable();
    });

    it("an open slot (MIGRATING left behind): drift names it; the update finishes the move", async () => {
        const [from, to] = state.shards;
        const slot = from.slots[0][0];
        await rig.direct.call(to.master.address, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", from.master.id]);
        await rig.direct.call(from.master.address, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", to.master.id]);
        state = await read();
        assert.ok(kinds(state).includes("open-slots"), JSON.stringify(state.drift));
        assert.ok(
            state.converge.some((l) => l.includes(`slot ${slot}: ${from.master.address} -> ${to.master.address}`)),
            state.converge.join("\n"),
        );
        await update();
        assert.deepStrictEqual(state.drift, [], JSON.stringify(state.drift));
        assertRedisCliCheckClean(rig.nodes[0].address, PASSWORD);
        await allKeysReadable();
    });

    it("two of three masters down: the survivors are in the minority, cluster_state:fail and the unreachable pods, as data; healed once they are back", async () => {
        const down = state.shards.slice(1).map((s) => Number(s.master.pod.split("-")[1]));
        await Promise.all(down.map((i) => rig.nodes[i].stop("SIGKILL")));
        const survivor = rig.nodes.find((_, i) => !down.includes(i))!;
        for (let i = 0; i < 200 && !(await rig.direct.call(survivor.address, ["CLUSTER", "INFO"])).includes("cluster_state:fail"); i++)
            await new Promise((res) => setTimeout(res, 50));
        const broken = await read();
        assert.strictEqual(broken.clusterState, "fail");
        assert.deepStrictEqual(
            broken.drift
                .filter((d) => d.kind === "unreachable")
                .map((d) => d.nodes[0].split(" ")[0])
                .sort(),
            down.map((i) => `redis-${i}`).sort(),
        );
        assert.ok(kinds(broken).includes("cluster-state"));
        assert.match(broken.converge[0], /^wait until .* can be read again, then plan$/);
        assert.strictEqual(diffFormation(broken, inputs).changes, true);
        for (const i of down) rig.nodes[i] = await LocalRedisNode.start(rig.specs[i]);
        await update();
        assert.deepStrictEqual([state.clusterState, state.drift], ["ok", []]);
        await allKeysReadable();
    });

    it("get by id: the id and a kubeconfig are enough; the shape is read off the live cluster", async () => {
        const got = (await formationProvider.read!(formationId(inputs), { kubeconfig: inputs.kubeconfig } as never))
            .props as FormationOutputs;
        assert.deepStrictEqual(
            [got.masters, got.replicasPerMaster, got.namespace, got.headlessServiceName],
            [3, 1, "redis", "redis-headless"],
        );
        assert.deepStrictEqual(got.shards, state.shards);
        assert.deepStrictEqual(rig.api.denied, [], "a read needed more than the formation's Role");
    });
});
