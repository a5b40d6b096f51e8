import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { parseWorkloadSettings, RawConfig } from "../../components/config";
import { podDnsName, seedEndpoints } from "../../components/shape";
import {
    RedisManifestOptions,
    configDigest,
    redisContainerEnv,
    renderRedisManifests,
    renderRetainStorageClass,
    podNaming,
} from "../../components/redis/manifests";
import { SURGE_RETIRE_SECONDS } from "../../components/redisDefaults";
import { MEMORY_SHARES, memoryPlan } from "../../components/redis/redisConf";
import { DEFAULT_EXPORTER_IMAGE } from "../../components/config";
import { FORMATION_CLUSTER_ROLE_RULES, FORMATION_ROLE_RULES } from "../../components/redis/formationRbac";
import {
    APP_METRICS_PORT,
    APP_PORT,
    HitCounterManifestOptions,
    hitCounterPodLabels,
    mapInput,
    renderAppPodDisruptionBudget,
    renderAppService,
    renderDeployment,
} from "../../components/app/hitCounter";
import { APP_METRICS_PORT_NAME, renderAppNetworkPolicy } from "../../components/app/networkPolicy";
import { nodeAccountId, renderGkeKubeconfig } from "../../components/gke";
import { testTlsMaterial } from "../support/tls";
import { TEST_PASSWORDS } from "../support/passwords";

function options(raw: RawConfig = {}): RedisManifestOptions {
    const s = parseWorkloadSettings(raw);
    return { name: "redis", namespace: s.namespace, redis: s.redis, clientPodLabels: hitCounterPodLabels("hit-counter") };
}

// The manifests are plain objects typed with @pulumi/kubernetes input types; here they are plain values.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Plain = any;
const render = (raw: RawConfig = {}): Record<string, Plain> => {
    const o = options(raw);
    return renderRedisManifests(o, TEST_PASSWORDS, o.redis.tls ? testTlsMaterial() : undefined) as Plain;
};

/** The container scripts the ConfigMap must ship, written out here (not CONTAINER_SCRIPTS): a script dropped from the list fails. */
const SHIPPED_SCRIPTS = [
    "node-start.sh",
    "probe.sh",
    "handover.sh",
    "failover-agent.sh",
    "failover-decisions.sh",
    "rediscli.sh",
    "dns.sh",
    "surge.sh",
    "election.sh",
];

describe("manifests: redis.conf and scripts (ConfigMap)", () => {
    it("redis.conf: cluster mode, nodes.conf on the volume, AOF only, node timeout, hostnames, memory from the limit", () => {
        const conf: string = render({ "redis:nodeTimeoutMs": "3000" }).configMap.data["redis.conf"];
        for (const line of [
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            "cluster-node-timeout 3000",
            "cluster-preferred-endpoint-type hostname",
            "appendonly yes",
            'save ""',
            "protected-mode yes",
            `maxmemory ${256 * 2 ** 20}`,
            "maxmemory-policy noeviction",
            `client-output-buffer-limit replica ${64 * 2 ** 20} ${32 * 2 ** 20} 60`,
        ]) {
            assert.ok(conf.split("\n").includes(line), `redis.conf lacks "${line}":\n${conf}`);
        }
        // Two replicas share the replica-buffer reserve.
        const two: string = render({ "redis:replicasPerMaster": "2" }).configMap.data["redis.conf"];
        assert.ok(two.includes(`client-output-buffer-limit replica ${32 * 2 ** 20} ${16 * 2 ** 20} 60`), two);
        // The data dir comes from REDIS_DATA_DIR (the volume's mount), written by node-start.sh: one source.
        assert.doesNotMatch(conf, /^dir /m);
    });

    it("holds no secret: no requirepass/masterauth, and never protected-mode no", () => {
        const data = render().configMap.data;
        const all = Object.values(data).join("\n");
        assert.ok(!all.includes("test-password-0123456789"));
        assert.doesNotMatch(data["redis.conf"], /requirepass|masterauth|protected-mode no/);
    });

    it("ships the container scripts exactly as they are in components/redis", () => {
        const data = render().configMap.data;
        for (const file of SHIPPED_SCRIPTS) {
            assert.equal(data[file], fs.readFileSync(path.join(__dirname, "..", "..", "components", "redis", file), "utf8"));
        }
    });

    it("the pod template's config digest changes exactly when the config does", () => {
        assert.equal(configDigest(options()), configDigest(options()));
        assert.notEqual(configDigest(options()), configDigest(options({ "redis:nodeTimeoutMs": "5000" })));
        const sts = render().statefulSet;
        assert.equal(sts.spec.template.metadata.annotations["redis-cluster-gke/config-sha256"], configDigest(options()));
    });

    it("the memory rule: half for data, the rest for the fork, replica buffers and overhead; the volume 4 x maxmemory", () => {
        assert.equal(MEMORY_SHARES.dataset + MEMORY_SHARES.forkCopyOnWrite + MEMORY_SHARES.replicaBuffers + MEMORY_SHARES.overhead, 1);
        const plan = memoryPlan(2 ** 30, 1);
        assert.equal(plan.maxMemoryBytes, 2 ** 29);
        assert.equal(plan.replicaBufferHardBytes, 2 ** 27);
        assert.equal(plan.replicaBufferSoftBytes, 2 ** 26);
        assert.equal(plan.minVolumeBytes, 2 ** 31);
        // The dataset, a fully rewritten half of it, and every replica at its hard limit fit in the limit.
        for (const replicas of [0, 1, 2, 5]) {
            const p = memoryPlan(2 ** 30, replicas);
            const worst = p.maxMemoryBytes * 1.5 + p.replicaBufferHardBytes * Math.max(1, replicas);
            assert.ok(worst <= 2 ** 30 * (1 - MEMORY_SHARES.overhead), `${replicas} replicas: ${worst}`);
        }
    });
});

describe("manifests: StatefulSet", () => {
    const sts = render().statefulSet;
    const pod = sts.spec.template.spec;
    const redis = pod.containers.find((c: Plain) => c.name === "redis");

    it("sets the start script's env contract, the users from the mounted Secret", () => {
        const env = Object.fromEntries(redisContainerEnv(options()).map((e: Plain) => [e.name, e.value ?? e.valueFrom]));
        assert.deepEqual(env.POD_IP, { fieldRef: { fieldPath: "status.podIP" } });
        assert.deepEqual(env.POD_NAME, { fieldRef: { fieldPath: "metadata.name" } });
        assert.equal(env.POD_HOSTNAME, "$(POD_NAME).redis-headless.$(POD_NAMESPACE).svc.cluster.local");
        assert.equal(env.REDIS_PASSWORD, undefined, "no password in the env: the users Secret is mounted");
        assert.equal(env.REDIS_USERS_DIR, "/users");
        assert.equal(env.REDIS_ACL_TEMPLATE, "/conf/users.acl");
        assert.equal(env.REDIS_RUNTIME_CONF, "/run/redis/redis.conf");
        assert.equal(env.REDIS_SHARED_CONF, "/conf/redis.conf");
        assert.equal(env.REDIS_DATA_DIR, "/data");
        // $(VAR) expansion only sees variables defined earlier in the list.
        const names = redis.env.map((e: Plain) => e.name);
        assert.ok(
            names.indexOf("POD_NAME") < names.indexOf("POD_HOSTNAME") && names.indexOf("POD_NAMESPACE") < names.indexOf("POD_HOSTNAME"),
        );
    });

    it("mounts data, the shared conf and scripts read-only, and a writable runtime dir", () => {
        const mounts = Object.fromEntries(redis.volumeMounts.map((m: Plain) => [m.mountPath, m]));
        assert.equal(mounts["/data"].name, "data");
        assert.equal(mounts["/conf"].readOnly, true);
        assert.equal(mounts["/scripts"].readOnly, true);
        assert.ok(pod.volumes.find((v: Plain) => v.name === mounts["/run/redis"].name).emptyDir);
        assert.equal(sts.spec.volumeClaimTemplates[0].metadata.name, "data");
    });

    it("memory request = limit: a Redis pod is never the first one evicted for exceeding its request", () => {
        const r = render({ "redis:memoryLimit": "2Gi" }).statefulSet.spec.template.spec.containers[0].resources;
        assert.equal(r.requests.memory, "2Gi");
        assert.equal(r.limits.memory, "2Gi");
    });

    it("mounts no Kubernetes API token: Redis never calls the API", () => {
        assert.equal(pod.automountServiceAccountToken, false);
    });

    it("runs as non-root with the restricted Pod Security profile", () => {
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
        for (const c of pod.containers) {
            assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
            assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"], c.name);
            assert.ok(c.resources.requests && c.resources.limits, c.name);
        }
    });

    it("spreads pods over zones (hard, with minDomains, so it cannot collapse) and nodes (soft)", () => {
        const [zone, node] = pod.topologySpreadConstraints;
        assert.deepEqual(
            [zone.topologyKey, zone.whenUnsatisfiable, zone.minDomains, zone.maxSkew],
            ["topology.kubernetes.io/zone", "DoNotSchedule", 3, 1],
        );
        assert.deepEqual(
            [node.topologyKey, node.whenUnsatisfiable, node.minDomains],
            ["kubernetes.io/hostname", "ScheduleAnyway", undefined],
        );
        const soft = render({ "redis:zoneSpread": "preferred" }).statefulSet.spec.template.spec.topologySpreadConstraints[0];
        assert.deepEqual(
            [soft.whenUnsatisfiable, soft.minDomains],
            ["ScheduleAnyway", undefined],
            "minDomains is only valid with DoNotSchedule",
        );
        assert.equal(render({ "redis:minZones": "2" }).statefulSet.spec.template.spec.topologySpreadConstraints[0].minDomains, 2);
    });

    it("has a startup probe so liveness does not kill a node loading a large AOF", () => {
        assert.deepEqual(redis.startupProbe.exec.command, ["sh", "/scripts/probe.sh", "live"]);
        assert.ok(redis.startupProbe.periodSeconds * redis.startupProbe.failureThreshold >= 300);
    });

    it("runs the pinned redis_exporter sidecar on 9121 with the password, /scrape and key values off, or none when switched off", () => {
        const exporter = pod.containers.find((c: Plain) => c.name === "exporter");
        assert.equal(exporter.image, DEFAULT_EXPORTER_IMAGE);
        assert.deepEqual(exporter.args, ["--disable-scrape-endpoint", "--disable-exporting-key-values"]);
        assert.equal(exporter.ports[0].containerPort, 9121);
        assert.ok(exporter.env.some((e: Plain) => e.name === "REDIS_USER" && e.value === "exporter"));
        assert.ok(exporter.env.some((e: Plain) => e.name === "REDIS_PASSWORD" && e.valueFrom.secretKeyRef.name === "redis-user-exporter"));
        const without = render({ "redis:exporter": "false" }).statefulSet.spec.template.spec.containers;
        assert.deepEqual(
            without.map((c: Plain) => c.name),
            ["redis", "failover-agent"],
        );
    });

    it("a stopping master hands over first (preStop handover.sh), within a grace period that fits the handover and Redis's shutdown", () => {
        assert.deepEqual(redis.lifecycle.preStop.exec.command, ["sh", "/scripts/handover.sh"]);
        const budget = Number(redis.env.find((e: Plain) => e.name === "HANDOVER_TIMEOUT_SECONDS").value);
        assert.ok(budget >= 10, "two attempts of Redis's 5 s manual failover");
        assert.ok(pod.terminationGracePeriodSeconds >= budget + 10, "the handover, then up to 10 s of Redis's own shutdown-timeout");
        const off = render({ "redis:handover": "false" }).statefulSet.spec.template.spec.containers[0];
        assert.equal(off.lifecycle, undefined);
        assert.ok(!off.env.some((e: Plain) => e.name === "HANDOVER_TIMEOUT_SECONDS"));
    });

    it("runs the failover agent on the Redis image with its own resources, the scripts and the conf, or none when switched off", () => {
        const agent = pod.containers.find((c: Plain) => c.name === "failover-agent");
        assert.equal(agent.image, redis.image);
        assert.deepEqual(agent.command, ["sh", "/scripts/failover-agent.sh"]);
        assert.deepEqual(
            agent.env.map((e: Plain) => [e.name, e.valueFrom?.fieldRef?.fieldPath ?? e.valueFrom?.secretKeyRef?.name]),
            [
                ["POD_NAME", "metadata.name"],
                ["POD_IP", "status.podIP"],
                ["REDIS_USERS_DIR", undefined],
                ["REDIS_SURGE_FILE", undefined],
                ["SURGE_RETIRE_SECONDS", undefined],
                ["ELECTION_HOLD_FILE", undefined],
                ["REDIS_TLS_DIR", undefined],
            ],
        );
        // The election hold: written by the agent, read by the Redis container's liveness probe, on the shared run volume.
        assert.equal(agent.env.find((e: Plain) => e.name === "ELECTION_HOLD_FILE").value, "/run/redis/election-hold");
        const redisContainer = pod.containers.find((c: Plain) => c.name === "redis");
        assert.equal(redisContainer.env.find((e: Plain) => e.name === "ELECTION_HOLD_FILE").value, "/run/redis/election-hold");
        assert.deepEqual(
            redisContainer.volumeMounts.find((m: Plain) => m.mountPath === "/run/redis"),
            { name: "run", mountPath: "/run/redis" },
        );
        assert.equal(agent.env.find((e: Plain) => e.name === "REDIS_USERS_DIR").value, "/users");
        assert.equal(agent.env.find((e: Plain) => e.name === "SURGE_RETIRE_SECONDS").value, String(SURGE_RETIRE_SECONDS));
        assert.ok(agent.resources.requests.cpu && agent.resources.requests.memory && agent.resources.limits.memory);
        assert.deepEqual(agent.volumeMounts, [
            { name: "config", mountPath: "/conf", readOnly: true },
            { name: "run", mountPath: "/run/redis" },
            { name: "scripts", mountPath: "/scripts", readOnly: true },
            { name: "users", mountPath: "/users", readOnly: true },
            { name: "tls-ca", mountPath: "/tls-ca", readOnly: true },
        ]);
        assert.equal(agent.ports, undefined, "not a Redis server: it listens on nothing");
        assert.equal(agent.securityContext.readOnlyRootFilesystem, true);
        const off = render({ "redis:takeover": "false" }).statefulSet.spec.template.spec.containers;
        assert.deepEqual(
            off.map((c: Plain) => c.name),
            ["redis", "exporter"],
        );
    });

    it("keeps PVCs when scaled in or deleted, and honours the storage class", () => {
        assert.deepEqual(sts.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
        assert.equal(sts.spec.volumeClaimTemplates[0].spec.storageClassName, undefined);
        assert.equal(
            render({ "redis:storageClass": "premium-rwo" }).statefulSet.spec.volumeClaimTemplates[0].spec.storageClassName,
            "premium-rwo",
        );
    });
});

describe("manifests: Services, PDB, NetworkPolicy", () => {
    const m = render();

    it("headless Service publishes not-ready pods (peers resolve each other while forming or recovering)", () => {
        assert.equal(m.headlessService.spec.clusterIP, "None");
        assert.equal(m.headlessService.spec.publishNotReadyAddresses, true);
        assert.deepEqual(
            m.headlessService.spec.ports.map((p: Plain) => p.port),
            [6379, 16379],
        );
    });

    it("client Service is ClusterIP on 6379 only", () => {
        assert.equal(m.clientService.spec.type, "ClusterIP");
        assert.deepEqual(
            m.clientService.spec.ports.map((p: Plain) => p.port),
            [6379],
        );
    });

    it("PDB allows one Redis pod down at a time", () => {
        assert.equal(m.podDisruptionBudget.spec.maxUnavailable, 1);
        assert.deepEqual(m.podDisruptionBudget.spec.selector.matchLabels, m.statefulSet.spec.selector.matchLabels);
    });

    it("formation RBAC: a ServiceAccount with exactly the Role and ClusterRole rules, bound in the namespace", () => {
        const rbac = render({ "redis-cluster-gke:namespace": "cache" }).formationRbac;
        assert.equal(rbac.serviceAccount.metadata.namespace, "cache");
        assert.equal(rbac.serviceAccount.automountServiceAccountToken, false);
        assert.deepEqual(rbac.role.rules, FORMATION_ROLE_RULES);
        assert.deepEqual(rbac.clusterRole.rules, FORMATION_CLUSTER_ROLE_RULES);
        assert.equal(rbac.clusterRole.metadata.name, "cache-redis-formation-nodes", "cluster-wide names carry the namespace");
        for (const binding of [rbac.roleBinding, rbac.clusterRoleBinding]) {
            assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "redis-formation", namespace: "cache" }]);
        }
        assert.equal(rbac.roleBinding.roleRef.name, rbac.role.metadata.name);
        assert.equal(rbac.clusterRoleBinding.roleRef.name, rbac.clusterRole.metadata.name);
        // Nothing about Secrets, and pods are only read.
        assert.ok(!JSON.stringify([rbac.role.rules, rbac.clusterRole.rules]).match(/secrets|\*|delete|update|patch/));
    });

    it("the GKE StorageClass retains disks unless the user opted out, binds where the pod lands, and can grow", () => {
        const retained = renderRetainStorageClass(true) as Plain;
        assert.deepEqual(
            [
                retained.metadata.name,
                retained.reclaimPolicy,
                retained.volumeBindingMode,
                retained.allowVolumeExpansion,
                retained.provisioner,
            ],
            ["redis-retain", "Retain", "WaitForFirstConsumer", true, "pd.csi.storage.gke.io"],
        );
        assert.equal((renderRetainStorageClass(false) as Plain).reclaimPolicy, "Delete");
    });

    it("a PodMonitoring for GKE Managed Prometheus selects the Redis pods' metrics port, only when switched on", () => {
        assert.equal(render().podMonitoring, undefined);
        const pm = render({ "redis:podMonitoring": "true" }).podMonitoring;
        assert.equal(pm.apiVersion, "monitoring.googleapis.com/v1");
        assert.deepEqual(pm.spec.selector.matchLabels, m.statefulSet.spec.selector.matchLabels);
        assert.equal(pm.spec.endpoints[0].port, "metrics");
    });

    it("NetworkPolicy: Redis pods reach 6379+16379, the app only 6379, the monitoring namespaces only 9121", () => {
        const [peers, app, metrics] = m.networkPolicy.spec.ingress;
        assert.deepEqual(m.networkPolicy.spec.podSelector.matchLabels, m.statefulSet.spec.selector.matchLabels);
        assert.deepEqual(peers.from[0].podSelector.matchLabels, m.statefulSet.spec.selector.matchLabels);
        assert.deepEqual(
            peers.ports.map((p: Plain) => p.port),
            [6379, 16379],
        );
        assert.deepEqual(app.from[0].podSelector.matchLabels, hitCounterPodLabels("hit-counter"));
        assert.deepEqual(
            app.ports.map((p: Plain) => p.port),
            [6379],
        );
        assert.deepEqual(
            metrics.ports.map((p: Plain) => p.port),
            [9121],
        );
        // By namespace name (a label only Kubernetes sets), never by pod labels in any namespace.
        assert.deepEqual(metrics.from, [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "gmp-system" } } }]);
        const two = render({ "redis:metricsNamespaces": "monitoring,gmp-system" }).networkPolicy.spec.ingress[2].from;
        assert.deepEqual(
            two.map((p: Plain) => p.namespaceSelector.matchLabels["kubernetes.io/metadata.name"]),
            ["monitoring", "gmp-system"],
        );
        assert.equal(render({ "redis:exporter": "false" }).networkPolicy.spec.ingress.length, 2);
    });

    it("seeds are the pods' stable DNS names", () => {
        const o = options({ "redis-cluster-gke:namespace": "cache", "redis:masters": "3", "redis:replicasPerMaster": "0" });
        assert.deepEqual(
            seedEndpoints(podNaming(o), o.redis),
            [0, 1, 2].map((i) => `redis-${i}.redis-headless.cache.svc.cluster.local:6379`),
        );
        assert.equal(podDnsName(podNaming(o), "redis-4"), "redis-4.redis-headless.cache.svc.cluster.local");
        // The pod's own POD_HOSTNAME (expanded by Kubernetes from its env) is that same name.
        const env = render({ "redis-cluster-gke:namespace": "cache" }).statefulSet.spec.template.spec.containers[0].env as {
            name: string;
            value?: string;
        }[];
        const hostname = env.find((e) => e.name === "POD_HOSTNAME")?.value ?? "";
        assert.equal(hostname.replace("$(POD_NAME)", "redis-4").replace("$(POD_NAMESPACE)", "cache"), podDnsName(podNaming(o), "redis-4"));
    });
});

describe("manifests: the surge pod (issue 15)", () => {
    const sts = (raw: RawConfig = {}) => render(raw).statefulSet;
    const surgeKey = (raw: RawConfig = {}) => render(raw).configMap.data["surge-pod"];

    it("the StatefulSet runs the shape's pods and the surge pod, by default exactly with one replica per master", () => {
        assert.equal(sts().spec.replicas, 7, "3x1: six members and redis-6");
        assert.equal(sts({ "redis:masters": "4" }).spec.replicas, 9);
        assert.equal(sts({ "redis:surgeReplica": "false" }).spec.replicas, 6);
        assert.equal(sts({ "redis:replicasPerMaster": "2" }).spec.replicas, 9, "3x2: no surge pod");
        assert.equal(sts({ "redis:replicasPerMaster": "0" }).spec.replicas, 3, "3x0: no surge pod");
    });

    it("with the surge pod no replica migrates to an orphaned master from a shard the surge node stands in for (it would strand it there)", () => {
        const conf = (raw: RawConfig = {}) => render(raw).configMap.data["redis.conf"] as string;
        assert.match(conf(), /^cluster-migration-barrier 2$/m);
        assert.match(conf({ "redis:surgeReplica": "false" }), /^cluster-migration-barrier 1$/m);
        assert.match(conf({ "redis:replicasPerMaster": "2" }), /^cluster-migration-barrier 1$/m);
    });

    it("the ConfigMap names the surge pod (the highest ordinal), or holds an empty name when there is none", () => {
        assert.equal(surgeKey(), "redis-6");
        assert.equal(surgeKey({ "redis:masters": "5" }), "redis-10");
        assert.equal(surgeKey({ "redis:surgeReplica": "false" }), "");
        assert.equal(surgeKey({ "redis:replicasPerMaster": "2" }), "");
    });

    it("the pods read it as /conf/surge-pod: the config volume projects the key and every script container has REDIS_SURGE_FILE and /conf", () => {
        const spec = sts().spec.template.spec;
        const config = spec.volumes.find((v: Plain) => v.name === "config").configMap;
        assert.ok(
            config.items.some((i: Plain) => i.key === "surge-pod" && i.path === "surge-pod"),
            JSON.stringify(config.items),
        );
        const scriptContainers = spec.containers.filter((c: Plain) => c.name !== "exporter");
        assert.deepEqual(
            scriptContainers.map((c: Plain) => c.name),
            ["redis", "failover-agent"],
        );
        for (const c of scriptContainers) {
            assert.equal(c.env.find((e: Plain) => e.name === "REDIS_SURGE_FILE")?.value, "/conf/surge-pod", c.name);
            assert.ok(
                c.volumeMounts.some((m: Plain) => m.name === "config" && m.mountPath === "/conf"),
                `${c.name} does not mount /conf`,
            );
        }
        // Without a surge pod the file is there and empty: the scripts need no second case for a missing file.
        const none = sts({ "redis:surgeReplica": "false" }).spec.template.spec;
        assert.equal(none.containers[0].env.find((e: Plain) => e.name === "REDIS_SURGE_FILE")?.value, "/conf/surge-pod");
    });

    it("a new shape changes the surge pod's name but not the pod template: no roll (the kubelet updates the mounted file)", () => {
        const digest = (raw: RawConfig) => configDigest(options(raw));
        assert.notEqual(surgeKey(), surgeKey({ "redis:masters": "4" }));
        assert.equal(digest({}), digest({ "redis:masters": "4" }));
        assert.deepEqual(sts().spec.template, sts({ "redis:masters": "4" }).spec.template);
        // Switching the surge pod on or off does roll once: redis.conf's migration barrier follows it.
        assert.notEqual(digest({}), digest({ "redis:surgeReplica": "false" }));
        // The key is left out of the digest, not every key: a script change still rolls.
        assert.notEqual(digest({}), digest({ "redis:nodeTimeoutMs": "5000" }));
    });

    it("the PDB covers the surge pod too (one pod of the StatefulSet away at a time); the app's seeds are the members only", () => {
        const m = render();
        assert.deepEqual(m.podDisruptionBudget.spec.selector.matchLabels, m.statefulSet.spec.template.metadata.labels);
        assert.equal(m.podDisruptionBudget.spec.maxUnavailable, 1);
        const o = options();
        const seeds = seedEndpoints(podNaming(o), o.redis);
        assert.equal(seeds.length, 6);
        assert.ok(!seeds.some((s) => s.startsWith("redis-6.")), seeds.join(" "));
    });
});

describe("manifests: TLS (on by default)", () => {
    const tls = render();
    const plain = render({ "redis:tls": "false" });
    const containers = (m: Plain) => Object.fromEntries(m.statefulSet.spec.template.spec.containers.map((c: Plain) => [c.name, c]));
    const envOf = (c: Plain) => Object.fromEntries((c.env as Plain[]).map((e) => [e.name, e.value ?? e.valueFrom]));
    const volume = (m: Plain, name: string) => m.statefulSet.spec.template.spec.volumes.find((v: Plain) => v.name === name);

    it("redis.conf: the plain port off, TLS on the client port, the cluster bus and replication; client certificates optional", () => {
        const lines = tls.configMap.data["redis.conf"].split("\n");
        for (const line of ["port 0", "tls-port 6379", "tls-cluster yes", "tls-replication yes", "tls-auth-clients optional"])
            assert.ok(lines.includes(line), `redis.conf lacks "${line}"`);
        assert.ok(!lines.includes("port 6379"));
        const plainLines = plain.configMap.data["redis.conf"].split("\n");
        assert.ok(plainLines.includes("port 6379"));
        assert.ok(!plainLines.some((l: string) => l.startsWith("tls-")), "no TLS directive without TLS");
    });

    it("the TLS Secret holds the certificate, its key and the CA; clients get the CA alone from a ConfigMap", () => {
        const material = testTlsMaterial();
        assert.equal(tls.tlsSecret.type, "kubernetes.io/tls");
        assert.equal(tls.tlsSecret.metadata.name, "redis-tls");
        assert.deepEqual(tls.tlsSecret.stringData, {
            "tls.crt": material.certificatePem,
            "tls.key": material.keyPem,
            "ca.crt": material.caPem,
        });
        assert.deepEqual(tls.caConfigMap.data, { "ca.crt": material.caPem });
        assert.equal(plain.tlsSecret, undefined);
        assert.equal(plain.caConfigMap, undefined);
        assert.throws(
            () => renderRedisManifests(options(), TEST_PASSWORDS),
            /^Error: tls: redis\.tls is true but certificates were not given/,
        );
    });

    it("Redis mounts the Secret read-only (group-readable for Redis' fsGroup) at REDIS_TLS_DIR; a new certificate rolls the pods", () => {
        const redis = containers(tls).redis;
        assert.equal(envOf(redis).REDIS_TLS_DIR, "/tls");
        assert.deepEqual(
            redis.volumeMounts.find((m: Plain) => m.mountPath === "/tls"),
            { name: "tls", mountPath: "/tls", readOnly: true },
        );
        assert.deepEqual(volume(tls, "tls").secret, { secretName: "redis-tls", defaultMode: 0o440 });
        assert.equal(tls.statefulSet.spec.template.metadata.annotations["redis-cluster-gke/tls-sha256"], testTlsMaterial().digest);
        const plainRedis = containers(plain).redis;
        assert.equal(envOf(plainRedis).REDIS_TLS_DIR, undefined);
        assert.equal(volume(plain, "tls"), undefined);
        assert.equal(plain.statefulSet.spec.template.metadata.annotations["redis-cluster-gke/tls-sha256"], undefined);
    });

    it("the exporter scrapes rediss://localhost and verifies it with the CA, mounted without the key", () => {
        const exporter = containers(tls).exporter;
        assert.equal(envOf(exporter).REDIS_ADDR, "rediss://localhost:6379");
        assert.equal(envOf(exporter).REDIS_EXPORTER_TLS_CA_CERT_FILE, "/tls-ca/ca.crt");
        assert.deepEqual(exporter.volumeMounts, [{ name: "tls-ca", mountPath: "/tls-ca", readOnly: true }]);
        assert.deepEqual(volume(tls, "tls-ca").secret.items, [{ key: "ca.crt", path: "ca.crt" }]);
        assert.equal(envOf(containers(plain).exporter).REDIS_ADDR, "redis://localhost:6379");
        assert.equal(volume(render({ "redis:exporter": "false", "redis:takeover": "false" }), "tls-ca"), undefined);
    });

    it("the failover agent dials its node and its master over TLS with the CA alone, never the key", () => {
        const agent = containers(tls)["failover-agent"];
        assert.equal(envOf(agent).REDIS_TLS_DIR, "/tls-ca");
        assert.deepEqual(agent.volumeMounts, [
            { name: "config", mountPath: "/conf", readOnly: true },
            { name: "run", mountPath: "/run/redis" },
            { name: "scripts", mountPath: "/scripts", readOnly: true },
            { name: "users", mountPath: "/users", readOnly: true },
            { name: "tls-ca", mountPath: "/tls-ca", readOnly: true },
        ]);
        assert.deepEqual(volume(render({ "redis:exporter": "false" }), "tls-ca").secret.items, [{ key: "ca.crt", path: "ca.crt" }]);
        assert.equal(envOf(containers(plain)["failover-agent"]).REDIS_TLS_DIR, undefined);
        // The preStop handover runs in the Redis container, whose REDIS_TLS_DIR is the full Secret's mount.
        assert.equal(envOf(containers(tls).redis).REDIS_TLS_DIR, "/tls");
    });

    it("the probes, the hooks, the agent and the start script get the one redis-cli helper from the scripts volume", () => {
        const items = volume(tls, "scripts").configMap.items.map((i: Plain) => i.path);
        assert.deepEqual(items, SHIPPED_SCRIPTS);
    });
});

describe("hit-counter manifests", () => {
    const m = render();
    const appOptions = (replicasPerMaster = 1): HitCounterManifestOptions => ({
        name: "hit-counter",
        namespace: "redis",
        app: parseWorkloadSettings({}).app,
        redisSeeds: ["a:6379"],
        userSecretName: "redis-user-hitcounter",
        serverSource: "x",
        replicasPerMaster,
    });
    /** The app's Deployment for `replicasPerMaster`, with plain inputs. */
    const deployment = (replicasPerMaster: number): Plain => renderDeployment(appOptions(replicasPerMaster));

    it("metrics on their own port, which the Service does not expose; liveness there, readiness on the public port", () => {
        const d = deployment(1);
        const c = d.spec.template.spec.containers[0];
        assert.notEqual(APP_METRICS_PORT, APP_PORT);
        assert.deepEqual(c.ports, [
            { name: "http", containerPort: APP_PORT },
            { name: APP_METRICS_PORT_NAME, containerPort: APP_METRICS_PORT },
        ]);
        const env = Object.fromEntries(c.env.map((e: Plain) => [e.name, e.value]));
        assert.equal(env.METRICS_PORT, String(APP_METRICS_PORT));
        assert.deepEqual(c.livenessProbe.httpGet, { path: "/healthz", port: APP_METRICS_PORT_NAME });
        assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port: "http" });
        assert.equal(d.spec.template.metadata.annotations["prometheus.io/port"], String(APP_METRICS_PORT));
        const service = renderAppService(appOptions()) as Plain;
        assert.deepEqual(
            service.spec.ports.map((p: Plain) => p.targetPort),
            ["http"],
        );
    });

    it("a PDB lets one app pod go at a time and selects exactly the app's pods", () => {
        const d = deployment(1);
        const pdb = renderAppPodDisruptionBudget(appOptions()) as Plain;
        assert.equal(pdb.apiVersion, "policy/v1");
        assert.equal(pdb.spec.maxUnavailable, 1);
        assert.equal(pdb.spec.minAvailable, undefined, "minAvailable would block every drain of a single replica");
        assert.deepEqual(pdb.spec.selector.matchLabels, d.spec.template.metadata.labels);
        assert.equal(pdb.metadata.namespace, d.metadata.namespace);
    });

    it("env per the server contract; plain inputs stay plain for YAML", () => {
        const s = parseWorkloadSettings({});
        const d = renderDeployment({
            name: "hit-counter",
            namespace: "redis",
            app: s.app,
            redisSeeds: ["a:6379", "b:6379"],
            userSecretName: "redis-user-hitcounter",
            serverSource: "console.log(1)",
            replicasPerMaster: 1,
        }) as Plain;
        const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: Plain) => [e.name, e.value ?? e.valueFrom]));
        assert.equal(env.REDIS_NODES, "a:6379,b:6379");
        assert.equal(env.REDIS_TLS, "false");
        assert.equal(env.PORT, "8080");
        assert.equal(env.WAIT_REPLICAS, "1");
        assert.equal(env.REDIS_USERNAME, "hitcounter");
        assert.equal(env.REDIS_PASSWORD_FILE, "/redis-user/password");
        const c = d.spec.template.spec.containers[0];
        assert.equal(c.readinessProbe.httpGet.path, "/readyz");
        assert.equal(c.livenessProbe.httpGet.path, "/healthz");
        assert.equal(d.spec.template.metadata.annotations["prometheus.io/path"], "/metrics");
        assert.match(d.spec.template.metadata.annotations["redis-cluster-gke/server-sha256"], /^[0-9a-f]{64}$/);
        assert.equal(
            mapInput(3, (n) => n + 1),
            4,
        );
        assert.deepEqual(d.spec.template.spec.containers[0].lifecycle.preStop.exec.command, ["sleep", "5"]);
        assert.ok(d.spec.template.spec.terminationGracePeriodSeconds > 5);
    });

    it("mounts no API token, and its NetworkPolicy admits the HTTP port from anyone, metrics from monitoring, and lets it reach only Redis and DNS", () => {
        const d = deployment(1);
        assert.equal(d.spec.template.spec.automountServiceAccountToken, false);
        const np = renderAppNetworkPolicy({
            name: "hit-counter",
            namespace: "redis",
            appPodLabels: hitCounterPodLabels("hit-counter"),
            redisPodLabels: m.statefulSet.spec.selector.matchLabels,
            metricsNamespaces: ["gmp-system"],
        }) as Plain;
        assert.deepEqual(np.spec.podSelector.matchLabels, d.spec.template.metadata.labels);
        assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
        const [publicRule, metricsRule] = np.spec.ingress;
        assert.equal(publicRule.from, undefined);
        assert.deepEqual(publicRule.ports, [{ protocol: "TCP", port: "http" }]);
        assert.ok(
            d.spec.template.spec.containers[0].ports.some((p: Plain) => p.name === "http"),
            "the named port exists",
        );
        assert.deepEqual(metricsRule.from, [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "gmp-system" } } }]);
        const [toRedis, dns] = np.spec.egress;
        assert.deepEqual(toRedis.to, [{ podSelector: { matchLabels: m.statefulSet.spec.selector.matchLabels } }]);
        assert.deepEqual(toRedis.ports, [{ protocol: "TCP", port: 6379 }]);
        assert.deepEqual(
            dns.ports.map((p: Plain) => `${p.protocol}/${p.port}`),
            ["UDP/53", "TCP/53"],
        );
    });

    it("with TLS: REDIS_TLS on, the CA from the CA ConfigMap as REDIS_CA_FILE, and a new CA rolls the app", () => {
        const d = renderDeployment({ ...appOptions(), redisTls: { caConfigMapName: "redis-ca", caDigest: "abc" } }) as Plain;
        const c = d.spec.template.spec.containers[0];
        const env = Object.fromEntries(c.env.map((e: Plain) => [e.name, e.value]));
        assert.equal(env.REDIS_TLS, "true");
        assert.equal(env.REDIS_CA_FILE, "/tls-ca/ca.crt");
        assert.deepEqual(
            c.volumeMounts.find((m: Plain) => m.mountPath === "/tls-ca"),
            { name: "redis-ca", mountPath: "/tls-ca", readOnly: true },
        );
        assert.deepEqual(d.spec.template.spec.volumes.find((v: Plain) => v.name === "redis-ca").configMap, { name: "redis-ca" });
        assert.equal(d.spec.template.metadata.annotations["redis-cluster-gke/ca-sha256"], "abc");
        const none = deployment(1);
        assert.equal(none.spec.template.metadata.annotations["redis-cluster-gke/ca-sha256"], undefined);
        assert.ok(!none.spec.template.spec.containers[0].env.some((e: Plain) => e.name === "REDIS_CA_FILE"));
    });

    it("waits for a replica only where the cluster has replicas (replicasPerMaster 0 would refuse every hit)", () => {
        const envOf = (replicasPerMaster: number) =>
            Object.fromEntries(
                deployment(replicasPerMaster).spec.template.spec.containers[0].env.map((e: Plain) => [e.name, e.value ?? e.valueFrom]),
            );
        assert.equal(envOf(0).WAIT_REPLICAS, "0");
        assert.equal(envOf(1).WAIT_REPLICAS, "1");
        assert.equal(envOf(3).WAIT_REPLICAS, "1");
    });
});

describe("GKE helpers", () => {
    it("kubeconfig authenticates through gke-gcloud-auth-plugin and holds no token", () => {
        const k = YAML.parse(renderGkeKubeconfig({ clusterName: "c1", endpoint: "203.0.113.10", caCertificate: "Q0E=" }));
        assert.equal(k.clusters[0].cluster.server, "https://203.0.113.10");
        assert.equal(k.clusters[0].cluster["certificate-authority-data"], "Q0E=");
        assert.equal(k.users[0].user.exec.command, "gke-gcloud-auth-plugin");
        assert.equal(k.users[0].user.token, undefined);
        assert.equal(k["current-context"], "c1");
    });

    it("node service account ids are valid for any stack name", () => {
        for (const stack of ["dev", "Prod_EU", "a-very-long-stack-name-for-the-production-environment", "x"]) {
            const id = nodeAccountId(stack);
            assert.match(id, /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, id);
        }
        assert.notEqual(nodeAccountId("dev"), nodeAccountId("prod"));
    });
});
