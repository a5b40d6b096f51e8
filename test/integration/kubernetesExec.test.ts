/**
 * The formation provider end to end over the Kubernetes exec transport: @kubernetes/client-node
 * opens exec WebSockets to a stand-in API server (test/support/fakeKubeApi.ts), which runs the
 * exec'd script for real against real redis-server "pods" (loopback block 127.0.18.x). The pods
 * speak TLS on every link with their certificates mounted at /tls, as the stack ships them (the
 * non-default-port pods below are plain): the exec'd redis-cli finds them through the pod's own
 * helper, and `redis-cli --cluster reshard` and the MIGRATEs it makes the nodes send run over TLS.
 * The server enforces the formation's Role and ClusterRole as the stack ships them
 * (components/redis/formationRbac.ts) and refuses anything else with 403: every test here also
 * shows the formation needs no more than those rules.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { FormationOutputs, formationProvider } from "../../components/formation/provider";
import { KubernetesTransport } from "../../components/formation/kubernetesTransport";
import { DirectTransport, ioredisAccessOptions } from "../../components/formation/transport";
import { TlsFiles } from "../../components/redis/redisConf";
import { caOf, testTlsFiles } from "../support/tls";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";
import { assertRedisCliCheckClean } from "../support/clusterChecks";
import { FakeKubeApi, FakePod } from "../support/fakeKubeApi";
import { validFormationInputs } from "../support/formationInputs";
import { shippedRbac } from "../support/podRig";

const PASSWORD = "exec-only-secret";
const NODE_TIMEOUT_MS = 1000;
const BLOCK = 18;

/** A TLS pod as the stand-in API server runs it: the container's env and the TLS Secret at /tls. */
function tlsPod(name: string, n: LocalRedisNode, nodeName: string, tls: TlsFiles): FakePod {
    return {
        name,
        ip: n.host,
        nodeName,
        ready: true,
        env: { REDIS_PASSWORD: PASSWORD, REDIS_TLS_DIR: "/tls" },
        mounts: [{ mountPath: "/tls", local: path.dirname(tls.caFile) }],
    };
}

describe("formation over Kubernetes exec (client-node WebSockets, real redis-cli and redis-server, TLS)", function () {
    this.timeout(120_000);
    let dir: string;
    let tls: TlsFiles;
    let nodes: LocalRedisNode[] = [];
    let api: FakeKubeApi;
    let direct: DirectTransport;
    let created: FormationOutputs;

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "kube-exec-"));
        tls = testTlsFiles(dir, loopbackAddresses(BLOCK, 8));
        nodes = await LocalRedisNode.startAll(
            loopbackAddresses(BLOCK, 6).map((host, i) => ({
                host,
                dir: path.join(dir, `redis-${i}`),
                password: PASSWORD,
                nodeTimeoutMs: NODE_TIMEOUT_MS,
                tls,
            })),
        );
        // Three k8s nodes in three zones, two pods on each: redis-i and redis-(i+3) share node-(i mod 3).
        const pods: FakePod[] = nodes.map((n, i) => tlsPod(`redis-${i}`, n, `node-${i % 3}`, tls));
        api = await FakeKubeApi.start(
            "redis",
            pods,
            ["a", "b", "c"].map((z, i) => ({ name: `node-${i}`, zone: `europe-west1-${z}` })),
            shippedRbac(),
        );
        direct = new DirectTransport({ password: PASSWORD, tls: { ca: caOf(tls) } });
    });

    after(async () => {
        await direct?.close();
        await api?.close();
        await Promise.all(nodes.map((n) => n.stop()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("create forms 3x1 through execs only: all slots, every replica linked on another k8s node and zone, seeds are pod DNS names", async () => {
        const result = await formationProvider.create!({
            ...validFormationInputs(api.kubeconfig()),
            headlessServiceName: "redis-headless",
            timeoutMs: 60_000,
        });
        created = result.outs as FormationOutputs;
        assert.strictEqual(created.clusterState, "ok");
        assert.strictEqual(created.placementOk, true, created.placementWarnings.join("; "));
        assert.strictEqual(created.shards.length, 3);
        for (const s of created.shards) {
            assert.strictEqual(s.replicas.length, 1);
            assert.notStrictEqual(s.replicas[0].k8sNode, s.master.k8sNode);
            assert.notStrictEqual(s.replicas[0].zone, s.master.zone);
            assert.match(await direct.call(s.replicas[0].address, ["INFO", "replication"]), /master_link_status:up/);
        }
        assert.ok(
            created.seeds.every((seed) => /^redis-\d\.redis-headless\.redis\.svc\.cluster\.local:6379$/.test(seed)),
            created.seeds.join(", "),
        );
        assertRedisCliCheckClean(nodes[0].address, PASSWORD, tls.caFile);
        // TLS only: the plain port is closed, so every exec'd redis-cli spoke TLS (the helper read REDIS_TLS_DIR).
        assert.strictEqual(await direct.call(nodes[0].address, ["CONFIG", "GET", "port"]), "port\n0");
        assert.ok(api.execs.every((e) => e.command[3] === "/scripts/rediscli.sh" && !e.command.join(" ").includes("--tls")));

        // Everything went through pods/<name>/exec of the redis container, and the password never left the pods.
        assert.ok(api.execs.length > 10, `${api.execs.length} execs`);
        assert.ok(
            api.execs.every((e) => /^redis-[0-5]$/.test(e.pod) && e.container === "redis"),
            JSON.stringify(api.execs.slice(0, 3)),
        );
        assert.ok(
            api.execs.some((e) => e.command.includes("MEET")),
            "MEETs were exec'd",
        );
        assert.ok(
            !api.execs.some((e) => e.url.includes(PASSWORD) || e.command.some((c) => c.includes(PASSWORD))),
            "the password travelled in an exec request",
        );
        assert.ok(api.requests.some((r) => r.startsWith("GET /api/v1/namespaces/redis/pods")));
        // Zones came from listing nodes (the ClusterRole), and nothing was refused.
        assert.ok(api.requests.some((r) => r.startsWith("GET /api/v1/nodes")));
        assert.deepStrictEqual(api.denied, []);
    });

    it("update with the same shape changes nothing: same shards, no config epoch moves", async () => {
        const epochs = async () =>
            parseClusterNodes(await direct.call(nodes[0].address, ["CLUSTER", "NODES"]))
                .map((e) => `${e.id}:${e.configEpoch}`)
                .sort();
        const before = await epochs();
        const execsBefore = api.execs.length;
        const inputs = { ...validFormationInputs(api.kubeconfig()), headlessServiceName: "redis-headless", timeoutMs: 60_000 };
        const result = await formationProvider.update!("redis/redis", created, inputs);
        const outs = result.outs as FormationOutputs;
        assert.deepStrictEqual(outs.shards, created.shards);
        assert.deepStrictEqual(await epochs(), before);
        const written = api.execs
            .slice(execsBefore)
            .filter((e) => e.command.some((c) => /^(MEET|ADDSLOTSRANGE|REPLICATE|SETSLOT|SET-CONFIG-EPOCH|MIGRATE)$/.test(c)));
        assert.deepStrictEqual(written, [], "an unchanged cluster only gets reads");
    });

    it("update to 4 masters (8 pods) moves a quarter of the slots with their keys: redis-cli --cluster reshard in a pod, one exec per move", async () => {
        const { Cluster } = await import("ioredis");
        const client = new Cluster([{ host: nodes[0].host, port: 6379 }], {
            redisOptions: ioredisAccessOptions({ password: PASSWORD, tls: { ca: caOf(tls) } }),
        });
        const added = await LocalRedisNode.startAll(
            loopbackAddresses(BLOCK, 8)
                .slice(6)
                .map((host, i) => ({
                    host,
                    dir: path.join(dir, `redis-${6 + i}`),
                    password: PASSWORD,
                    nodeTimeoutMs: NODE_TIMEOUT_MS,
                    tls,
                })),
        );
        nodes.push(...added);
        try {
            await Promise.all(Array.from({ length: 1000 }, (_, i) => client.set(`exec:${i}`, `v${i}`)));
            api.pods = [...api.pods, ...added.map((n, i) => tlsPod(`redis-${6 + i}`, n, `node-${i}`, tls))];
            const execsBefore = api.execs.length;
            const started = Date.now();
            const inputs = {
                ...validFormationInputs(api.kubeconfig()),
                masters: 4,
                headlessServiceName: "redis-headless",
                timeoutMs: 120_000,
            };
            const outs = (await formationProvider.update!("redis/redis", created, inputs)).outs as FormationOutputs;
            const execs = api.execs.length - execsBefore;
            console.log(`      scale-out 3x1 -> 4x1 over exec: ${execs} execs in ${Date.now() - started} ms`);
            assert.deepStrictEqual(
                outs.shards.map((s) => s.slots.reduce((k, [a, b]) => k + b - a + 1, 0)),
                [4096, 4096, 4096, 4096],
            );
            assert.ok(outs.shards.every((s) => s.replicas.length === 1));
            const reshards = api.execs.slice(execsBefore).filter((e) => e.command.includes("reshard"));
            assert.ok(reshards.length >= 1 && reshards.length <= 3, `${reshards.length} reshard execs`);
            assert.ok(
                !api.execs.slice(execsBefore).some((e) => e.command.includes("MIGRATE") || e.command.includes("GETKEYSINSLOT")),
                "no slot-by-slot execs",
            );
            assert.ok(execs < 200, `${execs} execs in all`);
            const values = await Promise.all(Array.from({ length: 1000 }, (_, i) => client.get(`exec:${i}`)));
            assert.deepStrictEqual(
                values.filter((v, i) => v !== `v${i}`),
                [],
            );
            assert.deepStrictEqual(api.denied, [], "the scale-out stayed within the Role");
        } finally {
            client.disconnect();
        }
    });

    it("the shipped Role grants nothing else: Secrets, deletes, other namespaces and writes to pods are refused with 403", async () => {
        const k8s = await import("@kubernetes/client-node");
        const kc = new k8s.KubeConfig();
        kc.loadFromString(api.kubeconfig());
        const core = kc.makeApiClient(k8s.CoreV1Api);
        const deniedBefore = api.denied.length;
        const forbidden = async (what: string, call: () => Promise<unknown>) =>
            assert.rejects(call(), (e: { code?: number }) => {
                assert.strictEqual(e.code, 403, what);
                return true;
            });
        await forbidden("list secrets", () => core.listNamespacedSecret({ namespace: "redis" }));
        await forbidden("delete a pod", () => core.deleteNamespacedPod({ name: "redis-0", namespace: "redis" }));
        await forbidden("list pods elsewhere", () => core.listNamespacedPod({ namespace: "kube-system" }));
        await forbidden("delete a node", () => core.deleteNode({ name: "node-0" }));
        // An exec in another namespace is refused before any WebSocket opens.
        const elsewhere = new KubernetesTransport({ kubeconfig: api.kubeconfig(), namespace: "kube-system", container: "redis" });
        await assert.rejects(elsewhere.call("redis-0", ["PING"]), /403|Forbidden/);
        assert.strictEqual(api.denied.length - deniedBefore, 5, api.denied.join("\n"));
        assert.ok(!api.execs.some((e) => e.url.includes("kube-system")), "the refused exec never ran");
    });

    it("without `create` on pods/exec (what Kubernetes 1.35 checks for a WebSocket exec) the formation cannot run a command", async () => {
        const rules = shippedRbac();
        const readOnlyExec = await FakeKubeApi.start("redis", api.pods, [], {
            namespaced: rules.namespaced.map((r) => ((r.resources ?? []).includes("pods/exec") ? { ...r, verbs: ["get"] } : r)),
            clusterWide: rules.clusterWide,
        });
        try {
            const t = new KubernetesTransport({ kubeconfig: readOnlyExec.kubeconfig(), namespace: "redis", container: "redis" });
            await assert.rejects(t.call("redis-0", ["PING"]), /403|Forbidden/);
            assert.deepStrictEqual(readOnlyExec.execs, []);
            assert.match(readOnlyExec.denied.join("\n"), /^GET \/api\/v1\/namespaces\/redis\/pods\/redis-0\/exec\?/m);
        } finally {
            await readOnlyExec.close();
        }
    });

    it("a failing command comes back with the pod, the command and redis-cli's own message", async () => {
        const t = new KubernetesTransport({ kubeconfig: api.kubeconfig(), namespace: "redis", container: "redis" });
        await assert.rejects(t.call("redis-1", ["CLUSTER", "SETSLOT", "99999", "NODE", "x"]), (e: Error) => {
            assert.match(e.message, /^CLUSTER in pod redis\/redis-1: .*(Invalid or out of range slot|ERR)/);
            return true;
        });
        // Several commands in one exec stop at the first failure: the MEET after it never runs.
        const known = parseClusterNodes(await direct.call(nodes[1].address, ["CLUSTER", "NODES"])).length;
        await assert.rejects(
            t.callEach("redis-1", [["PING"], ["CLUSTER", "SETSLOT", "99999", "NODE", "x"], ["CLUSTER", "MEET", "203.0.113.1", "6379"]]),
            /3 commands in pod redis\/redis-1/,
        );
        await new Promise((r) => setTimeout(r, 300));
        assert.strictEqual(
            parseClusterNodes(await direct.call(nodes[1].address, ["CLUSTER", "NODES"])).length,
            known,
            "the MEET after the failure did not run",
        );
        // A reshard that cannot run says why, from the end of redis-cli's output.
        await assert.rejects(
            t.reshard("redis-0", { entry: nodes[0].address, fromId: "f".repeat(40), toId: "e".repeat(40), slots: 10 }),
            (e: Error) => {
                assert.match(e.message, /^redis-cli --cluster reshard in pod redis\/redis-0: /);
                assert.match(e.message, /not known or not a master/);
                return true;
            },
        );
        // Replies are text as redis-cli prints them: arrays one element a line.
        assert.strictEqual((await t.call("redis-0", ["CLUSTER", "NODES"])).split("\n").length, known);
    });

    it("a pod whose REDIS_PASSWORD is wrong fails with Redis's authentication error, naming the pod", async () => {
        api.pods = api.pods.map((p) => (p.name === "redis-2" ? { ...p, env: { ...p.env, REDIS_PASSWORD: "not-the-password" } } : p));
        const t = new KubernetesTransport({ kubeconfig: api.kubeconfig(), namespace: "redis", container: "redis" });
        try {
            await assert.rejects(t.call("redis-2", ["PING"]), (e: Error) => {
                assert.match(e.message, /^PING in pod redis\/redis-2: .*(WRONGPASS|NOAUTH)/s);
                return true;
            });
        } finally {
            api.pods = api.pods.map((p) => (p.name === "redis-2" ? { ...p, env: { ...p.env, REDIS_PASSWORD: PASSWORD } } : p));
        }
    });
});

describe("formation over Kubernetes exec with a non-default client port (real redis-cli and redis-server)", function () {
    this.timeout(120_000);
    const PORT = 7100;
    let dir: string;
    let nodes: LocalRedisNode[] = [];
    let api: FakeKubeApi;

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "kube-exec-port-"));
        // Same loopback block as above, another port: these "pods" listen on 7100 (bus 17100) only.
        nodes = await LocalRedisNode.startAll(
            loopbackAddresses(BLOCK, 3).map((host, i) => ({
                host,
                port: PORT,
                dir: path.join(dir, `redis-${i}`),
                password: PASSWORD,
                nodeTimeoutMs: NODE_TIMEOUT_MS,
            })),
        );
        const pods: FakePod[] = nodes.map((n, i) => ({
            name: `redis-${i}`,
            ip: n.host,
            nodeName: `node-${i}`,
            ready: true,
            env: { REDIS_PASSWORD: PASSWORD },
        }));
        api = await FakeKubeApi.start(
            "redis",
            pods,
            [0, 1, 2].map((i) => ({ name: `node-${i}` })),
            shippedRbac(),
        );
    });

    after(async () => {
        await api?.close();
        await Promise.all(nodes.map((n) => n.stop()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("the provider's port reaches redis-cli in the pods: the cluster forms on that port and the seeds carry it", async () => {
        const result = await formationProvider.create!({
            ...validFormationInputs(api.kubeconfig()),
            replicasPerMaster: 0,
            port: PORT,
            headlessServiceName: "redis-headless",
            timeoutMs: 60_000,
        });
        const outs = result.outs as FormationOutputs;
        assert.strictEqual(outs.clusterState, "ok");
        assert.strictEqual(outs.shards.length, 3);
        assert.ok(
            outs.seeds.every((seed) => seed.endsWith(`.svc.cluster.local:${PORT}`)),
            outs.seeds.join(", "),
        );
        assert.ok(
            outs.shards.every((s) => s.master.address.endsWith(`:${PORT}`)),
            outs.shards.map((s) => s.master.address).join(", "),
        );
        // Every exec'd redis-cli was told the pod's real port (the helper reads PROBE_CLIENT_PORT).
        const cliExecs = api.execs.filter((e) => e.command[3] === "/scripts/rediscli.sh");
        assert.ok(cliExecs.length > 0 && cliExecs.length === api.execs.length);
        for (const e of cliExecs) assert.match(e.command[2], new RegExp(`PROBE_CLIENT_PORT=${PORT};`), e.command.join(" "));
        assert.deepStrictEqual(api.denied, []);
    });
});
