/** The local pod runtime's pure decisions: kubelet back-off, StatefulSet order and names, addresses, the pod template, status. */
import * as assert from "assert";
import { parseWorkloadSettings } from "../../components/config";
import { renderConfigMap, renderStatefulSet } from "../../components/redis/manifests";
import {
    ConfigMapJson,
    EnvVarJson,
    PodTemplateError,
    StatefulSetJson,
    expandVars,
    localPodSpec,
    mapMountedPath,
    volumeFiles,
} from "../../local/podTemplate";
import { PodView } from "../../local/protocol";
import { KUBELET_DEFAULTS, NO_BACKOFF, initialAddress, memberPods, nextAddress, restartDelay, rollOrder } from "../../local/rules";
import { joinedCluster } from "../../local/podViews";
import { renderPods, renderRoles } from "../../local/statusView";
import { redisLocalArgs } from "../../local/supervisor";

describe("runtime rules: the kubelet's restart back-off", () => {
    const t = { ...KUBELET_DEFAULTS, backoffInitialMs: 10_000, backoffMaxMs: 40_000, backoffResetMs: 600_000 };
    const schedule = (crashes: number, ranMs = 1000) => {
        let state = NO_BACKOFF;
        const delays: number[] = [];
        for (let i = 0; i < crashes; i++) {
            const r = restartDelay(state, ranMs, t);
            delays.push(r.delayMs);
            state = r.next;
        }
        return { delays, state };
    };

    it("restarts at once, then after the initial delay, doubling up to the cap", () => {
        assert.deepStrictEqual(schedule(6).delays, [0, 10_000, 20_000, 40_000, 40_000, 40_000]);
    });

    it("a container that ran for the reset time restarts at once again, then backs off from the start", () => {
        const { state } = schedule(4);
        const afterLongRun = restartDelay(state, t.backoffResetMs, t);
        assert.strictEqual(afterLongRun.delayMs, 0);
        assert.strictEqual(restartDelay(afterLongRun.next, 1000, t).delayMs, t.backoffInitialMs);
    });

    it("the defaults are the kubelet's: 10 s doubling to 5 min, reset after 10 min", () => {
        assert.deepStrictEqual(
            [KUBELET_DEFAULTS.backoffInitialMs, KUBELET_DEFAULTS.backoffMaxMs, KUBELET_DEFAULTS.backoffResetMs],
            [10_000, 300_000, 600_000],
        );
    });
});

describe("runtime rules: StatefulSet names, roll order, addresses", () => {
    it("rolls the highest ordinal first (numerically, not as text); other names last", () => {
        assert.deepStrictEqual(rollOrder("redis", ["redis-0", "app", "redis-1", "redis-2", "redis-10", "redis-9"]), [
            "redis-10",
            "redis-9",
            "redis-2",
            "redis-1",
            "redis-0",
            "app",
        ]);
    });

    it("the members are the shape's ordinals; the surge pod beyond them is not one, and rolls first", () => {
        const names = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `redis-${i}` }));
        const members = memberPods("redis", names(7), { masters: 3, replicasPerMaster: 1 });
        assert.deepStrictEqual(
            members.map((p) => p.name),
            ["redis-0", "redis-1", "redis-2", "redis-3", "redis-4", "redis-5"],
        );
        assert.strictEqual(memberPods("redis", names(9), { masters: 3, replicasPerMaster: 2 }).length, 9, "3x2: no surge pod");
        assert.deepStrictEqual(memberPods("redis", [{ name: "app" }], { masters: 3, replicasPerMaster: 1 }), [], "not a pod of the set");
        assert.strictEqual(
            rollOrder(
                "redis",
                names(7).map((p) => p.name),
            )[0],
            "redis-6",
        );
    });

    it("first addresses are .11 + ordinal; a block holds 244 pods", () => {
        assert.strictEqual(initialAddress(7, 0), "127.0.7.11");
        assert.strictEqual(initialAddress(7, 243), "127.0.7.254");
        assert.throws(() => initialAddress(7, 244), /at most 244 pods/);
    });

    it("a new pod gets the next free address after the last one handed out, never one in use, wrapping around", () => {
        const inUse = new Set(["127.0.5.11", "127.0.5.12", "127.0.5.13"]);
        assert.strictEqual(nextAddress(5, "127.0.5.13", inUse), "127.0.5.14");
        assert.strictEqual(nextAddress(5, "127.0.5.14", new Set([...inUse, "127.0.5.15"])), "127.0.5.16");
        assert.strictEqual(nextAddress(5, "127.0.5.254", inUse), "127.0.5.14");
        assert.strictEqual(nextAddress(5, "127.0.5.12", new Set(["127.0.5.13"])), "127.0.5.14", "the old address is skipped too");
        const all = new Set(Array.from({ length: 244 }, (_, i) => `127.0.5.${11 + i}`));
        assert.throws(() => nextAddress(5, "127.0.5.20", all), /no free address left in 127\.0\.5\.11-254/);
    });
});

describe("runtime pod template: the StatefulSet's own pod, run locally", () => {
    const settings = parseWorkloadSettings({});
    const o = { name: "redis", namespace: "redis", redis: settings.redis, clientPodLabels: { app: "x" } };
    const sts = JSON.parse(JSON.stringify(renderStatefulSet(o))) as StatefulSetJson;
    const cm = JSON.parse(JSON.stringify(renderConfigMap(o))) as ConfigMapJson;
    const input = (over: Partial<Parameters<typeof localPodSpec>[0]> = {}) => ({
        template: sts.spec.template,
        podName: "redis-2",
        namespace: "redis",
        address: "127.0.3.13",
        claimNames: ["data"],
        volumes: {
            shared: (v: string) => `/D/volumes/${v}`,
            emptyDir: (v: string) => `/D/pods/redis-2/${v}`,
            claim: (c: string) => `/D/pvc/${c}-redis-2`,
        },
        secrets: { "redis-users": { admin: "s3cret-password-x" } },
        configMaps: { [cm.metadata.name]: cm.data },
        runnableImages: [settings.redis.image],
        baseEnv: { PATH: "/usr/bin" },
        localEnv: { PROBE_HOST: "127.0.3.13" },
        localArgs: { redis: redisLocalArgs("127.0.3.13") },
        nodeName: "here",
        ...over,
    });

    it("runs the template's command with mounts mapped and the local network arguments appended", () => {
        const pod = localPodSpec(input());
        const redis = pod.containers[0];
        assert.deepStrictEqual(redis.argv, [
            "sh",
            "/D/volumes/scripts/node-start.sh",
            "redis-server",
            "/D/pods/redis-2/run/redis.conf",
            "--bind",
            "127.0.3.13",
            "--bind-source-addr",
            "127.0.3.13",
            "--cluster-preferred-endpoint-type",
            "ip",
        ]);
    });

    it("resolves the env contract as the kubelet does: fieldRef, secretKeyRef, $(VAR), mounted paths; local env last", () => {
        const env = localPodSpec(input()).containers[0].env;
        assert.strictEqual(env.POD_NAME, "redis-2");
        assert.strictEqual(env.POD_IP, "127.0.3.13");
        assert.strictEqual(env.POD_HOSTNAME, "redis-2.redis-headless.redis.svc.cluster.local");
        assert.strictEqual(env.REDIS_USERS_DIR, "/D/volumes/users", "the users Secret's volume");
        assert.strictEqual(env.REDIS_ACL_TEMPLATE, "/D/volumes/config/users.acl");
        assert.strictEqual(env.REDIS_DATA_DIR, "/D/pvc/data-redis-2");
        assert.strictEqual(env.REDIS_SHARED_CONF, "/D/volumes/config/redis.conf");
        assert.strictEqual(env.REDIS_RUNTIME_CONF, "/D/pods/redis-2/run/redis.conf");
        assert.strictEqual(env.PATH, "/usr/bin");
        assert.strictEqual(env.PROBE_HOST, "127.0.3.13");
    });

    it("keeps the template's probes (exec, periods, thresholds) and grace period; leaves out the exporter, saying why", () => {
        const pod = localPodSpec(input());
        const redis = pod.containers[0];
        assert.deepStrictEqual(redis.readinessProbe, {
            action: { exec: ["sh", "/D/volumes/scripts/probe.sh", "ready"] },
            initialDelayMs: 0,
            periodMs: 5000,
            timeoutMs: 5000,
            failureThreshold: 2,
            successThreshold: 1,
        });
        assert.strictEqual(redis.startupProbe?.failureThreshold, 150);
        assert.strictEqual(redis.livenessProbe?.periodMs, 10_000);
        assert.strictEqual(pod.terminationGracePeriodMs, 30_000);
        assert.deepStrictEqual(
            pod.containers.map((c) => c.name),
            ["redis", "failover-agent"],
        );
        assert.deepStrictEqual(redis.preStop, { exec: ["sh", "/D/volumes/scripts/handover.sh"] });
        assert.match(pod.skipped.join(), /^exporter \(oliver006\/redis_exporter:[^)]+: not the Redis image, not run locally\)$/);
    });

    it("runs a preStop hook, init containers and any further container of the Redis image, as issues 15/17 will add them", () => {
        const spec = sts.spec.template.spec;
        const agent = { ...spec.containers[0], name: "agent", command: ["sh", "/scripts/agent.sh", "$(POD_NAME)"], lifecycle: undefined };
        const withHook = { ...spec.containers[0], lifecycle: { preStop: { exec: { command: ["sh", "/scripts/prestop.sh"] } } } };
        const init = { ...agent, name: "certs", command: ["sh", "/scripts/certs.sh", "/data"] };
        const template = {
            ...sts.spec.template,
            spec: { ...spec, initContainers: [init], containers: [withHook, agent, ...spec.containers.slice(1)] },
        };
        const pod = localPodSpec(input({ template }));
        assert.deepStrictEqual(pod.containers[0].preStop, { exec: ["sh", "/D/volumes/scripts/prestop.sh"] });
        assert.deepStrictEqual(pod.containers[1].argv, ["sh", "/D/volumes/scripts/agent.sh", "redis-2"]);
        assert.deepStrictEqual(
            pod.initContainers.map((c) => c.argv),
            [["sh", "/D/volumes/scripts/certs.sh", "/D/pvc/data-redis-2"]],
        );
    });

    it("refuses what it cannot run, naming it: a missing Secret key, an unknown fieldRef, a tcpSocket probe, no command", () => {
        const spec = sts.spec.template.spec;
        const withEnv = (env: EnvVarJson[]) => ({ ...sts.spec.template, spec: { ...spec, containers: [{ ...spec.containers[0], env }] } });
        const fromSecret = (key: string) => withEnv([{ name: "ADMIN", valueFrom: { secretKeyRef: { name: "redis-users", key } } }]);
        assert.strictEqual(localPodSpec(input({ template: fromSecret("admin") })).containers[0].env.ADMIN, "s3cret-password-x");
        assert.throws(
            () => localPodSpec(input({ template: fromSecret("nobody") })),
            /container redis env ADMIN: Secret redis-users has no key nobody/,
        );
        assert.throws(
            () =>
                localPodSpec(
                    input({ template: withEnv([{ name: "X", valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } } }]) }),
                ),
            /fieldRef spec\.serviceAccountName is not provided/,
        );
        const withProbe = {
            ...sts.spec.template,
            spec: { ...spec, containers: [{ ...spec.containers[0], readinessProbe: { tcpSocket: { port: 6379 } } }] },
        };
        assert.throws(() => localPodSpec(input({ template: withProbe })), /readinessProbe: only exec and httpGet probes run locally/);
        const noCommand = { ...sts.spec.template, spec: { ...spec, containers: [{ ...spec.containers[0], command: undefined }] } };
        assert.throws(
            () => localPodSpec(input({ template: noCommand })),
            (e: Error) => e instanceof PodTemplateError && /no command/.test(e.message),
        );
    });

    it("$(VAR) expansion: defined names replaced, $$ escapes, unknown references kept", () => {
        assert.strictEqual(expandVars("$(A).$(B)-$$(A)-$(C)", { A: "a", B: "b" }), "a.b-$(A)-$(C)");
    });

    it("maps only paths under a mount (the deepest mount wins), not lookalike prefixes", () => {
        const mounts = [
            { mountPath: "/data", local: "/L/data" },
            { mountPath: "/data/sub", local: "/L/sub" },
        ];
        assert.strictEqual(mapMountedPath("/data", mounts), "/L/data");
        assert.strictEqual(mapMountedPath("/data/nodes.conf", mounts), "/L/data/nodes.conf");
        assert.strictEqual(mapMountedPath("/data/sub/x", mounts), "/L/sub/x");
        assert.strictEqual(mapMountedPath("/database", mounts), "/database");
        assert.strictEqual(mapMountedPath("redis-server", mounts), "redis-server");
    });

    it("the surge pod's name: /conf/surge-pod in the config volume, REDIS_SURGE_FILE in the Redis container and the agent", () => {
        const config = sts.spec.template.spec.volumes?.find((v) => v.name === "config");
        const files = volumeFiles(config as NonNullable<typeof config>, { [cm.metadata.name]: cm.data }, {});
        assert.strictEqual(files["surge-pod"], "redis-6");
        const pod = localPodSpec(input());
        for (const c of pod.containers) assert.strictEqual(c.env.REDIS_SURGE_FILE, "/D/volumes/config/surge-pod", c.name);
        assert.deepStrictEqual(
            pod.containers.map((c) => c.name),
            ["redis", "failover-agent"],
        );
    });

    it("ConfigMap volumes hold exactly the listed items of the object's data", () => {
        const scripts = sts.spec.template.spec.volumes?.find((v) => v.name === "scripts");
        const files = volumeFiles(scripts as NonNullable<typeof scripts>, { [cm.metadata.name]: cm.data }, {});
        assert.deepStrictEqual(Object.keys(files).sort(), [
            "dns.sh",
            "election.sh",
            "failover-agent.sh",
            "failover-decisions.sh",
            "handover.sh",
            "node-start.sh",
            "probe.sh",
            "rediscli.sh",
            "surge.sh",
        ]);
        assert.strictEqual(files["probe.sh"], cm.data["probe.sh"]);
        assert.throws(
            () => volumeFiles({ name: "x", configMap: { name: "cm", items: [{ key: "a", path: "../a" }] } }, { cm: { a: "" } }, {}),
            /leaves the volume/,
        );
    });
});

describe("runtime status rendering", () => {
    const pod = (name: string, address: string, over: Partial<PodView>): PodView => ({
        name,
        address,
        phase: "Running",
        frozen: false,
        ready: true,
        started: true,
        restarts: 0,
        containers: [],
        createdAt: 0,
        ...over,
    });
    const pods = [
        pod("redis-0", "127.0.1.11", { role: "master", clusterState: "ok" }),
        pod("redis-1", "127.0.1.12", { role: "replica", master: "redis-0", clusterState: "ok", restarts: 2 }),
        pod("redis-2", "127.0.1.13", { frozen: true, ready: false, redisError: "frozen" }),
    ];

    it("one row per pod: address, state, readiness, restarts, role and its master, cluster_state", () => {
        const rows = renderPods(pods).split("\n");
        assert.match(rows[0], /^NAME\s+ADDRESS\s+STATUS\s+READY\s+RESTARTS\s+ROLE\s+CLUSTER_STATE$/);
        assert.match(rows[1], /^redis-0\s+127\.0\.1\.11\s+Running\s+1\/1\s+0\s+master\s+ok$/);
        assert.match(rows[2], /^redis-1\s+127\.0\.1\.12\s+Running\s+1\/1\s+2\s+replica of redis-0\s+ok$/);
        assert.match(rows[3], /^redis-2\s+127\.0\.1\.13\s+Frozen\s+0\/1\s+0\s+\(frozen\)\s+-$/);
    });

    it("the surge pod: idle (in no cluster) or recruited, it says so", () => {
        const rows = renderPods([
            pod("redis-6", "127.0.1.17", { surge: true, clusterState: "fail" }),
            pod("redis-6", "127.0.1.17", { surge: true, role: "replica", master: "redis-0", clusterState: "ok" }),
        ]).split("\n");
        assert.match(rows[1], /^redis-6\s+127\.0\.1\.17\s+Running\s+1\/1\s+0\s+surge, idle\s+fail$/);
        assert.match(rows[2], /\s+replica of redis-0 \(surge\)\s+ok$/);
    });

    it("a node that knows only itself and holds no slot joined no cluster (no role); one that knows others or has slots did", () => {
        const info = (known: number, assigned: number) =>
            `cluster_state:fail\r\ncluster_slots_assigned:${assigned}\r\ncluster_known_nodes:${known}\r\n`;
        assert.strictEqual(joinedCluster(info(1, 0)), false);
        assert.strictEqual(joinedCluster(info(7, 0)), true);
        assert.strictEqual(joinedCluster(info(1, 16384)), true);
    });

    it("roles as the tutorial lists them: each master with its replicas", () => {
        assert.match(renderRoles(pods), /redis-0 {2}127\.0\.1\.11 {6}master {3}replicas: redis-1 \(127\.0\.1\.12\)/);
        assert.match(renderRoles(pods), /redis-1 {2}127\.0\.1\.12 {6}replica {2}of redis-0/);
    });
});
