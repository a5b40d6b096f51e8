/**
 * The surge pod in the local pod runtime (issue 15; loopback blocks 127.0.216.x and 127.0.217.x, real
 * processes): with one replica per master the StatefulSet runs one pod more than the shape, redis-6 for
 * 3x1, with its own claim and DNS name, idle (in no cluster) and left out of the formation, the cluster
 * state and the app's seeds; every pod reads its name from /conf/surge-pod. `scale` rewrites that file
 * as the kubelet would and runs the new shape's pods and the new surge pod; `--no-surge` runs none.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { Layout } from "../../local/layout";
import { scaleCluster } from "../../local/scale";
import { readConfig, readPods } from "../../local/state";
import { Started } from "../../local/up";
import { loopbackBlocks } from "../support/loopbackBlocks";
import { FAST_TIMINGS, admin, podOf, redisCli, removeTempDirs, startInProcess, waitHealthy } from "../support/runtime";

const [BLOCK, NO_SURGE_BLOCK] = loopbackBlocks(__filename);

/** The surge pod's name as every pod reads it (the config volume's materialized ConfigMap item). */
const surgeFile = (layout: Layout) => fs.readFileSync(path.join(layout.volume("config"), "surge-pod"), "utf8");
const knownNodes = (address: string, password: string) =>
    Number(/cluster_known_nodes:(\d+)/.exec(redisCli(address, admin(password), "CLUSTER", "INFO"))?.[1]);

describe("the surge pod in the local runtime (real processes, 3x1)", function () {
    this.timeout(300_000);
    let cluster: Started;
    let clusterNoSurge: Started | undefined;

    before(async () => {
        cluster = await startInProcess(BLOCK, FAST_TIMINGS, "surge");
    });
    after(async () => {
        await cluster?.supervisor?.stop();
        await clusterNoSurge?.supervisor?.stop();
        removeTempDirs();
    });

    it("up 3x1 runs 7 pods: redis-6 with its own claim and DNS name, idle, out of the formation, the cluster state and the app's seeds", async () => {
        const { layout, summary } = cluster;
        const s = await waitHealthy(layout);
        assert.deepStrictEqual(
            s.pods.map((p) => p.name),
            Array.from({ length: 7 }, (_, i) => `redis-${i}`),
        );
        assert.strictEqual(summary.nodes.length, 6, "the seeds are the six members");
        assert.strictEqual(summary.shards.length, 3);
        const surge = podOf(s, "redis-6");
        assert.strictEqual(surge.surge, true);
        assert.strictEqual(surge.role, undefined, "an idle surge pod is nobody's master");
        assert.strictEqual(knownNodes(surge.address, summary.password), 1, "redis-6 joined the cluster");
        assert.strictEqual(knownNodes(podOf(s, "redis-0").address, summary.password), 6);
        assert.strictEqual(s.clusterState, "ok", "the idle surge pod's cluster_state fail is not the cluster's");
        assert.strictEqual(surgeFile(layout), "redis-6");
        assert.ok(fs.existsSync(path.join(layout.claim("data", "redis-6"), "nodes.conf")), "redis-6 has no claim of its own");
        assert.match(
            fs.readFileSync(layout.hosts, "utf8"),
            new RegExp(`^redis-6\\.redis-headless\\.redis\\.svc\\.cluster\\.local ${surge.address.replace(/\./g, "\\.")}$`, "m"),
        );
        // The app's seeds (its REDIS_NODES at start) are the members' addresses.
        const app = readPods(layout).pods.find((p) => p.name === "app");
        const environ = fs.readFileSync(`/proc/${app?.processes[0]?.pid}/environ`, "utf8").split("\0");
        const seeds =
            environ
                .find((e) => e.startsWith("REDIS_NODES="))
                ?.slice("REDIS_NODES=".length)
                .split(",") ?? [];
        assert.strictEqual(seeds.length, 6, seeds.join(" "));
        assert.ok(!seeds.includes(`${surge.address}:6379`), `the surge pod ${surge.address} is a seed: ${seeds.join(" ")}`);
        assert.strictEqual(readConfig(layout)?.surgeReplica, undefined, "no choice recorded: the shape's default");
    });

    it("scale 3x1 -> 4x1: redis-6 joins as a member, redis-8 is the new surge pod, and every pod's /conf/surge-pod says so", async () => {
        const { layout, summary } = cluster;
        const r = await scaleCluster(layout, { masters: 4 }, () => undefined);
        assert.deepStrictEqual(
            r.added.map((a) => a.pod),
            ["redis-7", "redis-8"],
        );
        assert.deepStrictEqual([r.drained, r.removed, r.report.drift], [[], [], []]);
        assert.strictEqual(surgeFile(layout), "redis-8");
        const s = await waitHealthy(layout);
        assert.strictEqual(s.pods.length, 9);
        assert.strictEqual(s.clusterState, "ok");
        assert.deepStrictEqual(
            s.pods.filter((p) => p.surge).map((p) => p.name),
            ["redis-8"],
        );
        assert.strictEqual(knownNodes(podOf(s, "redis-6").address, summary.password), 8, "redis-6 is a member now");
        assert.strictEqual(knownNodes(podOf(s, "redis-8").address, summary.password), 1, "redis-8 stays out of the cluster");
    });

    it("scale 4x1 -> 3x1: redis-6 and redis-7 drained (and the old surge pod redis-8, which leaves), redis-7 and redis-8 removed, redis-6 the surge pod again, alone", async () => {
        const { layout, summary } = cluster;
        const r = await scaleCluster(layout, { masters: 3 }, () => undefined);
        assert.deepStrictEqual(
            [r.drained, r.removed.map((p) => p.pod), r.added, r.report.drift],
            [["redis-6", "redis-7", "redis-8"], ["redis-7", "redis-8"], [], []],
        );
        assert.strictEqual(surgeFile(layout), "redis-6");
        const s = await waitHealthy(layout);
        assert.strictEqual(s.pods.length, 7);
        const surge = podOf(s, "redis-6");
        for (const p of s.pods.filter((x) => !x.surge)) {
            const nodes = redisCli(p.address, admin(summary.password), "CLUSTER", "NODES");
            assert.ok(!nodes.includes(`${surge.address}:`), `${p.name} still knows the surge pod redis-6:\n${nodes}`);
        }
        // The drain released it (CLUSTER RESET, components/formation/planRelease.ts): an idle node again, ready to be recruited.
        assert.strictEqual(knownNodes(surge.address, summary.password), 1, "the new surge pod still knows the cluster");
    });

    it("up --no-surge: the members only, an empty /conf/surge-pod, and the choice kept in DIR", async () => {
        clusterNoSurge = await startInProcess(NO_SURGE_BLOCK, FAST_TIMINGS, "no-surge", { surgeReplica: false });
        const { layout } = clusterNoSurge;
        const s = await waitHealthy(layout);
        assert.strictEqual(s.pods.length, 6);
        assert.ok(!s.pods.some((p) => p.surge));
        assert.strictEqual(surgeFile(layout), "");
        assert.strictEqual(readConfig(layout)?.surgeReplica, false);
    });
});
