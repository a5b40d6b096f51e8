import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { parseWorkloadSettings, RawConfig } from "../../components/config";
import { podDnsName, seedEndpoints } from "../../components/shape";
import {
    RedisManifestOptions,
    configDigest,
    maxMemoryBytes,
    redisContainerEnv,
    renderRedisManifests,
    podNaming,
} from "../../components/redis/manifests";
import { hitCounterPodLabels, mapInput, renderDeployment } from "../../components/app/hitCounter";
import { nodeAccountId, renderGkeKubeconfig } from "../../components/gke";

function options(raw: RawConfig = {}): RedisManifestOptions {
    const s = parseWorkloadSettings(raw);
    return { name: "redis", namespace: s.namespace, redis: s.redis, clientPodLabels: hitCounterPodLabels("hit-counter") };
}

// The manifests are plain objects typed with @pulumi/kubernetes input types; here they are plain values.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Plain = any;
const render = (raw: RawConfig = {}): Record<string, Plain> => renderRedisManifests(options(raw), "test-password-0123456789") as Plain;

describe("manifests: redis.conf and scripts (ConfigMap)", () => {
    it("redis.conf: cluster mode, nodes.conf on the volume, AOF, node timeout, hostnames, maxmemory below the limit", () => {
        const conf: string = render({ "redis:nodeTimeoutMs": "3000" }).configMap.data["redis.conf"];
        for (const line of [
            "cluster-enabled yes",
            "dir /data",
            "cluster-config-file nodes.conf",
            "cluster-node-timeout 3000",
            "cluster-preferred-endpoint-type hostname",
            "appendonly yes",
            "protected-mode yes",
            `maxmemory ${0.75 * 512 * 2 ** 20}`,
        ]) {
            assert.ok(conf.split("\n").includes(line), `redis.conf lacks "${line}":\n${conf}`);
        }
    });

    it("holds no secret: no requirepass/masterauth, and never protected-mode no", () => {
        const data = render().configMap.data;
        const all = Object.values(data).join("\n");
        assert.ok(!all.includes("test-password-0123456789"));
        assert.doesNotMatch(data["redis.conf"], /requirepass|masterauth|protected-mode no/);
    });

    it("ships the start and probe scripts exactly as they are in components/redis", () => {
        const data = render().configMap.data;
        for (const file of ["node-start.sh", "probe.sh"]) {
            assert.equal(data[file], fs.readFileSync(path.join(__dirname, "..", "..", "components", "redis", file), "utf8"));
        }
    });

    it("the pod template's config digest changes exactly when the config does", () => {
        assert.equal(configDigest(options()), configDigest(options()));
        assert.notEqual(configDigest(options()), configDigest(options({ "redis:nodeTimeoutMs": "5000" })));
        const sts = render().statefulSet;
        assert.equal(sts.spec.template.metadata.annotations["redis-cluster-gke/config-sha256"], configDigest(options()));
    });

    it("maxmemory is three quarters of the container limit", () => {
        assert.equal(maxMemoryBytes("1Gi"), 0.75 * 2 ** 30);
    });
});

describe("manifests: StatefulSet", () => {
    const sts = render().statefulSet;
    const pod = sts.spec.template.spec;
    const redis = pod.containers.find((c: Plain) => c.name === "redis");

    it("sets the start script's env contract, the password from the Secret", () => {
        const env = Object.fromEntries(redisContainerEnv(options()).map((e: Plain) => [e.name, e.value ?? e.valueFrom]));
        assert.deepEqual(env.POD_IP, { fieldRef: { fieldPath: "status.podIP" } });
        assert.deepEqual(env.POD_NAME, { fieldRef: { fieldPath: "metadata.name" } });
        assert.equal(env.POD_HOSTNAME, "$(POD_NAME).redis-headless.$(POD_NAMESPACE).svc.cluster.local");
        assert.deepEqual(env.REDIS_PASSWORD, { secretKeyRef: { name: "redis-auth", key: "password" } });
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

    it("runs as non-root with the restricted Pod Security profile", () => {
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
        for (const c of pod.containers) {
            assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
            assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"], c.name);
            assert.ok(c.resources.requests && c.resources.limits, c.name);
        }
    });

    it("spreads pods over zones and nodes", () => {
        assert.deepEqual(
            pod.topologySpreadConstraints.map((t: Plain) => t.topologyKey),
            ["topology.kubernetes.io/zone", "kubernetes.io/hostname"],
        );
    });

    it("has a startup probe so liveness does not kill a node loading a large AOF", () => {
        assert.deepEqual(redis.startupProbe.exec.command, ["sh", "/scripts/probe.sh", "live"]);
        assert.ok(redis.startupProbe.periodSeconds * redis.startupProbe.failureThreshold >= 300);
    });

    it("runs the pinned redis_exporter sidecar on 9121 with the password, or none when switched off", () => {
        const exporter = pod.containers.find((c: Plain) => c.name === "exporter");
        assert.equal(exporter.image, "oliver006/redis_exporter:v1.66.0");
        assert.equal(exporter.ports[0].containerPort, 9121);
        assert.ok(exporter.env.some((e: Plain) => e.name === "REDIS_PASSWORD" && e.valueFrom.secretKeyRef.name === "redis-auth"));
        const without = render({ "redis:exporter": "false" }).statefulSet.spec.template.spec.containers;
        assert.deepEqual(
            without.map((c: Plain) => c.name),
            ["redis"],
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

    it("NetworkPolicy: Redis pods reach 6379+16379, the app only 6379, Prometheus only 9121", () => {
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

describe("hit-counter manifests", () => {
    it("env per the server contract; plain inputs stay plain for YAML", () => {
        const s = parseWorkloadSettings({});
        const d = renderDeployment({
            name: "hit-counter",
            namespace: "redis",
            app: s.app,
            redisSeeds: ["a:6379", "b:6379"],
            passwordSecretName: "redis-auth",
            serverSource: "console.log(1)",
            replicasPerMaster: 1,
        }) as Plain;
        const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: Plain) => [e.name, e.value ?? e.valueFrom]));
        assert.equal(env.REDIS_NODES, "a:6379,b:6379");
        assert.equal(env.REDIS_TLS, "false");
        assert.equal(env.PORT, "8080");
        assert.equal(env.WAIT_REPLICAS, "1");
        assert.deepEqual(env.REDIS_PASSWORD, { secretKeyRef: { name: "redis-auth", key: "password" } });
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

    it("waits for a replica only where the cluster has replicas (replicasPerMaster 0 would refuse every hit)", () => {
        const s = parseWorkloadSettings({});
        const envOf = (replicasPerMaster: number) => {
            const d = renderDeployment({
                name: "hit-counter",
                namespace: "redis",
                app: s.app,
                redisSeeds: ["a:6379"],
                passwordSecretName: "redis-auth",
                serverSource: "x",
                replicasPerMaster,
            }) as Plain;
            return Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: Plain) => [e.name, e.value ?? e.valueFrom]));
        };
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
