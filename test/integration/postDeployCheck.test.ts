/**
 * The post-deploy check's script (components/postDeployCheck.ts), the exact text the command resource
 * runs, run for real: sh, a kubectl (test/support/fakeKubectl.ts: exec and get --raw against the
 * stand-in API server, as the user of POST_DEPLOY_CHECK_RULES only), redis-cli --cluster check in a
 * real redis-server "pod" speaking TLS only, formed by the formation (loopback block 127.0.215.x), and the real
 * hit-counter server behind the Service proxy. It passes on a healthy deployment and fails, saying
 * why, on an open slot, a shape other than the configured one, and an app that does not count.
 */
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import { serverConfig } from "../../app/config";
import { RunningServer, startServer } from "../../app/server";
import { formationProvider } from "../../components/formation/provider";
import {
    CHECK_KUBECONFIG_ENV,
    POST_DEPLOY_CHECK_RULES,
    PostDeployCheckTarget,
    postDeployCheckScript,
} from "../../components/postDeployCheck";
import { installFakeKubectl } from "../support/fakeKubectl";
import { validFormationInputs } from "../support/formationInputs";
import { PodRig, startPodRig } from "../support/podRig";

const PASSWORD = "post-deploy-secret-0123";

describe("post-deploy check: the command resource's script against real Redis and the real app", function () {
    this.timeout(180_000);
    let rig: PodRig;
    let app: RunningServer;
    let kubectlDir: string;

    const target = (over: Partial<PostDeployCheckTarget> = {}): PostDeployCheckTarget => ({
        namespace: "redis",
        redisPod: "redis-0",
        redisContainer: "redis",
        masters: 3,
        replicasPerMaster: 1,
        app: { service: "hit-counter", port: "http" },
        appAttempts: 2,
        ...over,
    });
    /** Runs the script as the command resource does (asynchronously: the stand-in API server is in this process). */
    const run = (t: PostDeployCheckTarget) =>
        new Promise<{ status: number | null; out: string }>((resolve) => {
            const env = { PATH: `${kubectlDir}:${process.env.PATH}`, [CHECK_KUBECONFIG_ENV]: rig.api.kubeconfig() };
            const child = spawn("/bin/sh", ["-c", postDeployCheckScript(t)], { env });
            let out = "";
            child.stdout.on("data", (d: Buffer) => (out += d.toString()));
            child.stderr.on("data", (d: Buffer) => (out += d.toString()));
            const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
            child.on("close", (status) => {
                clearTimeout(timer);
                resolve({ status, out });
            });
        });

    before(async () => {
        // TLS on every link, the stack's default: the exec'd redis-cli --cluster check must speak it.
        rig = await startPodRig({ label: "post-deploy", block: 215, count: 6, password: PASSWORD, nodeTimeoutMs: 1000, tls: true });
        assert.ok(formationProvider.create);
        await formationProvider.create({ ...validFormationInputs(rig.api.kubeconfig()), timeoutMs: 60_000 });
        // From here on, requests are the check's: its user may do what the README lists, nothing else.
        rig.api.rbac = { namespaced: POST_DEPLOY_CHECK_RULES, clusterWide: [] };
        // A terminal type in the pod makes redis-cli colour its report, as over `kubectl exec` from a shell.
        rig.api.pods = rig.api.pods.map((p) => ({ ...p, env: { ...p.env, TERM: "xterm-256color" } }));
        app = await startServer(
            serverConfig({
                redisNodes: rig.nodes.slice(0, 2).map((n) => ({ host: n.host, port: 6379 })),
                redisPassword: PASSWORD,
                redisTls: true,
                redisCaFile: rig.tls?.caFile,
                host: "127.0.0.1",
                port: 0,
                metricsPort: 0,
            }),
            { defaultMetrics: false, log: () => undefined },
        );
        rig.api.services.set("hit-counter:http", app.url);
        kubectlDir = installFakeKubectl();
    });

    after(async () => {
        await app?.close();
        await rig?.stop();
        if (kubectlDir) fs.rmSync(kubectlDir, { recursive: true, force: true });
    });

    it("passes on the formed cluster and the counting app, with redis-cli's report and both counts in its output", async () => {
        const r = await run(target());
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, /^\[OK\] All 16384 slots covered\.$/m);
        assert.match(r.out, /^post-deploy check: Redis Cluster ok \(3 masters, 1 replica\(s\) each\)$/m);
        const [, first, second] = /^post-deploy check: app ok \(count (\d+), then (\d+)\)$/m.exec(r.out) ?? [];
        assert.ok(Number(second) > Number(first), r.out);
        assert.ok(!r.out.includes("\u001b["), "colours left in the report");
        assert.ok(!r.out.includes(PASSWORD));
        assert.deepStrictEqual(rig.api.denied, [], "the check needed more than POST_DEPLOY_CHECK_RULES");
    });

    it("fails on a shape other than the configured one (masters, replicas per master)", async () => {
        const masters = await run(target({ masters: 4 }));
        assert.strictEqual(masters.status, 1, masters.out);
        assert.match(masters.out, /post-deploy check FAILED: expected 4 masters, the cluster has 3$/m);
        const replicas = await run(target({ replicasPerMaster: 2 }));
        assert.strictEqual(replicas.status, 1, replicas.out);
        assert.match(replicas.out, /FAILED: expected 2 replica\(s\) of every master; 3 master\(s\) have another count$/m);
    });

    it("fails on an open slot, showing redis-cli's report", async () => {
        const [source, destination] = await masterIds();
        await rig.direct.call(source.address, ["CLUSTER", "SETSLOT", String(source.slot), "MIGRATING", destination.id]);
        try {
            const r = await run(target());
            assert.strictEqual(r.status, 1, r.out);
            assert.match(r.out, /\[WARNING\] Node .* has slots in migrating state/);
            assert.match(r.out, /post-deploy check FAILED: redis-cli --cluster check in redis\/redis-0 exited 1|reports a problem/);
        } finally {
            await rig.direct.call(source.address, ["CLUSTER", "SETSLOT", String(source.slot), "STABLE"]);
        }
        assert.strictEqual((await run(target())).status, 0, "stable again, the check passes");
    });

    it("fails when the app does not answer with a count (its Service reaches no server)", async () => {
        rig.api.services.set("hit-counter:http", "http://127.0.0.1:1");
        try {
            const r = await run(target());
            assert.strictEqual(r.status, 1, r.out);
            assert.match(r.out, /no count yet \(attempt 1 of 2\)/);
            assert.match(r.out, /post-deploy check FAILED: the app did not answer GET \/ with a count$/m);
        } finally {
            rig.api.services.set("hit-counter:http", app.url);
        }
    });

    it("fails without kubectl, naming the switch that turns it off", () => {
        const r = spawnSync("/bin/sh", ["-c", postDeployCheckScript(target())], {
            env: {
                PATH: "/usr/sbin:/sbin:/bin"
                    .split(":")
                    .filter((d) => !fs.existsSync(`${d}/kubectl`))
                    .join(":"),
            },
            encoding: "utf8",
        });
        assert.strictEqual(r.status, 1, r.stdout + r.stderr);
        assert.match(
            r.stderr,
            /kubectl is not on PATH: install it, or turn the check off \(pulumi config set redis-cluster-gke:postDeployCheck false\)/,
        );
    });

    /** Two masters: the first's first slot and address, the second's id. */
    async function masterIds(): Promise<[{ address: string; slot: number }, { id: string }]> {
        const nodes = (await rig.direct.call(rig.nodes[0].address, ["CLUSTER", "NODES"])).trim().split("\n");
        const masters = nodes.map((l) => l.split(" ")).filter((f) => f[2].includes("master") && f.length > 8);
        return [{ address: masters[0][1].split("@")[0].split(",")[0], slot: Number(masters[0][8].split("-")[0]) }, { id: masters[1][0] }];
    }
});
