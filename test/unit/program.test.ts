/**
 * The whole program (components/stack.ts, exactly what index.ts runs) evaluated under Pulumi mocks for
 * both targets: what is registered, with which parent and provider, what is secret, and that invalid
 * config registers nothing.
 */
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ProgramFailure, ProgramRun, RegisteredResource, runProgram, serverSource } from "../support/mocks";
import { DEFAULT_NODE_IMAGE } from "../../components/config";
import { FORMATION_CLUSTER_ROLE_RULES, FORMATION_ROLE_RULES } from "../../components/redis/formationRbac";
import * as crypto from "crypto";
import { tlsDigest } from "../../components/redis/tls";
import { newCertificateAuthority, newSignedCertificate } from "../../lib/x509";
import { formationProviderVersion } from "../../components/formation/codeVersion";

const GKE_CONFIG = { config: { "redis-cluster-gke:target": "gke", "gcp:project": "acme-redis", "gcp:region": "europe-west1" } };
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n";
const EXISTING_CONFIG = {
    config: {
        "redis-cluster-gke:target": "existing",
        "redis-cluster-gke:namespace": "cache",
        "redis:masters": "4",
        "redis:replicasPerMaster": "2",
    },
    secrets: { "redis-cluster-gke:kubeconfig": KUBECONFIG, "redis:adminPassword": "a-configured-password-0123456789" },
};

/** A server certificate offered as a CA (must be refused). */
const LEAF = newSignedCertificate(newCertificateAuthority("some CA", 3650), { commonName: "leaf", uses: ["server_auth"] }, 365);

const T = {
    provider: "pulumi:providers:kubernetes",
    namespace: "kubernetes:core/v1:Namespace",
    secret: "kubernetes:core/v1:Secret",
    configMap: "kubernetes:core/v1:ConfigMap",
    service: "kubernetes:core/v1:Service",
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    deployment: "kubernetes:apps/v1:Deployment",
    pdb: "kubernetes:policy/v1:PodDisruptionBudget",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    serviceAccount: "kubernetes:core/v1:ServiceAccount",
    role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
    roleBinding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    clusterRole: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    clusterRoleBinding: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    storageClass: "kubernetes:storage.k8s.io/v1:StorageClass",
    podMonitoring: "kubernetes:monitoring.googleapis.com/v1:PodMonitoring",
    formation: "pulumi-nodejs:dynamic/redis-cluster-gke:RedisClusterFormation",
    aclRotation: "pulumi-nodejs:dynamic/redis-cluster-gke:RedisAclRotation",
    drain: "pulumi-nodejs:dynamic/redis-cluster-gke:RedisScaleInDrain",
    redisComponent: "redis-cluster-gke:redis:RedisCluster",
    appComponent: "redis-cluster-gke:app:HitCounterApp",
    password: "random:index/randomPassword:RandomPassword",
};

function countByType(run: ProgramRun): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of run.resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
    return counts;
}

function k8sObjects(run: ProgramRun): RegisteredResource[] {
    return run.resources.filter((r) => r.type.startsWith("kubernetes:"));
}

function redisContainer(run: ProgramRun) {
    return run.one(T.statefulSet).inputs.spec.template.spec.containers.find((c: { name: string }) => c.name === "redis");
}

/** Assertions that hold for both targets. */
/** `pods`: the cluster's members (formation, seeds); `statefulSetPods`: those and the surge pod when there is one (issue 15). */
function sharedGraphChecks(getRun: () => ProgramRun, expected: { namespace: string; pods: number; statefulSetPods: number; gke: boolean }) {
    it("registers one of each Redis object and the app, all through the one Kubernetes provider", () => {
        const run = getRun();
        const provider = run.one(T.provider);
        const objects = k8sObjects(run);
        // 23 everywhere (the app has its own PDB; TLS adds its Secret and the CA's ConfigMap; three client
        // users have their own Secret); on GKE also the Retain StorageClass and the PodMonitoring.
        assert.equal(objects.length, expected.gke ? 25 : 23);
        for (const r of objects) assert.equal(r.providerUrn, provider.urn, `${r.type} ${r.name} does not use the target's provider`);
        const counts = countByType(run);
        for (const type of [
            T.namespace,
            T.statefulSet,
            T.deployment,
            T.formation,
            T.redisComponent,
            T.appComponent,
            T.serviceAccount,
            T.role,
            T.roleBinding,
            T.clusterRole,
            T.clusterRoleBinding,
        ]) {
            assert.equal(counts[type], 1, type);
        }
        assert.equal(counts[T.configMap], 3); // redis.conf + scripts, the CA, and the app's bundled server
        assert.equal(counts[T.secret], 5); // the users, the hit counter's, the client's and the exporter's own, the certificates
        assert.equal(counts[T.aclRotation], 2); // the rotation's add and prune phases
        assert.equal(counts[T.service], 3); // headless, client, app
        assert.equal(counts[T.networkPolicy], 2); // Redis, app
        assert.equal(counts[T.pdb], 2); // Redis, app
        assert.equal(counts[T.storageClass] ?? 0, expected.gke ? 1 : 0);
        assert.equal(counts[T.podMonitoring] ?? 0, expected.gke ? 1 : 0);
    });

    it("the Namespace, and with it the PVCs, outlives `pulumi destroy` and a namespace change (retainOnDelete)", () => {
        const run = getRun();
        assert.equal(run.one(T.namespace).options.retainOnDelete, true);
        // The PVCs are not Pulumi's: the StatefulSet keeps them when it goes.
        assert.deepEqual(run.one(T.statefulSet).inputs.spec.persistentVolumeClaimRetentionPolicy, {
            whenDeleted: "Retain",
            whenScaled: "Retain",
        });
        const claim = run.one(T.statefulSet).inputs.spec.volumeClaimTemplates[0];
        assert.equal(claim.spec.storageClassName, expected.gke ? "redis-retain" : undefined);
        if (expected.gke) {
            const sc = run.one(T.storageClass);
            assert.equal(sc.inputs.reclaimPolicy, "Retain");
            assert.ok(run.one(T.statefulSet).dependsOnUrns.includes(sc.urn), "the StatefulSet waits for its StorageClass");
        }
    });

    it("a hard zone spread with minDomains and a soft node spread reach the registered StatefulSet", () => {
        const [zone, node] = getRun().one(T.statefulSet).inputs.spec.template.spec.topologySpreadConstraints;
        assert.deepEqual([zone.topologyKey, zone.whenUnsatisfiable, zone.minDomains], ["topology.kubernetes.io/zone", "DoNotSchedule", 3]);
        assert.deepEqual([node.topologyKey, node.whenUnsatisfiable], ["kubernetes.io/hostname", "ScheduleAnyway"]);
    });

    it("the formation's ServiceAccount is bound to exactly the shipped Role and ClusterRole", () => {
        const run = getRun();
        assert.deepEqual(run.one(T.role).inputs.rules, FORMATION_ROLE_RULES);
        assert.deepEqual(run.one(T.clusterRole).inputs.rules, FORMATION_CLUSTER_ROLE_RULES);
        const account = run.one(T.serviceAccount).inputs.metadata;
        for (const b of [run.one(T.roleBinding), run.one(T.clusterRoleBinding)]) {
            assert.deepEqual(b.inputs.subjects, [{ kind: "ServiceAccount", name: account.name, namespace: expected.namespace }]);
        }
    });

    it("no workload mounts an API token", () => {
        const run = getRun();
        assert.equal(run.one(T.statefulSet).inputs.spec.template.spec.automountServiceAccountToken, false);
        assert.equal(run.one(T.deployment).inputs.spec.template.spec.automountServiceAccountToken, false);
    });

    it("parents: Redis objects under RedisCluster, app objects under HitCounterApp", () => {
        const run = getRun();
        const redis = run.one(T.redisComponent);
        const app = run.one(T.appComponent);
        for (const r of k8sObjects(run)) {
            const expectedParent = r.name.startsWith("hit-counter") ? app.urn : redis.urn;
            assert.equal(r.parentUrn, expectedParent, `${r.type} ${r.name}`);
        }
    });

    it("the StatefulSet: Parallel, masters x (1 + replicas) pods and the surge pod with one replica each, client and bus ports, PVCs, probes through probe.sh", () => {
        const run = getRun();
        const sts = run.one(T.statefulSet).inputs;
        assert.equal(sts.metadata.namespace, expected.namespace);
        assert.equal(sts.spec.podManagementPolicy, "Parallel");
        assert.equal(sts.spec.replicas, expected.statefulSetPods);
        const c = redisContainer(run);
        assert.deepEqual(
            c.ports.map((p: { containerPort: number }) => p.containerPort),
            [6379, 16379],
        );
        assert.deepEqual(c.command, ["sh", "/scripts/node-start.sh", "redis-server", "/run/redis/redis.conf"]);
        assert.deepEqual(c.readinessProbe.exec.command, ["sh", "/scripts/probe.sh", "ready"]);
        assert.deepEqual(c.livenessProbe.exec.command, ["sh", "/scripts/probe.sh", "live"]);
        assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "1Gi");
    });

    it("no Redis Service is a LoadBalancer; the app's Service is", () => {
        const run = getRun();
        const services = run.ofType(T.service);
        for (const s of services.filter((s) => !s.name.startsWith("hit-counter")))
            assert.notEqual(s.inputs.spec.type, "LoadBalancer", s.name);
        assert.equal(run.one(T.service, "hit-counter-service").inputs.spec.type, "LoadBalancer");
        assert.equal(run.outputs.appUrl.value, "http://198.51.100.7");
    });

    it("every user's password is secret everywhere: the Secrets' data, the admin output; never in a ConfigMap, a pod template or a rotation step", () => {
        const run = getRun();
        const users = run.one(T.secret, "redis-users-secret");
        assert.deepEqual(Object.keys(users.inputs.stringData).sort(), ["admin", "client", "exporter", "hitcounter", "replication"]);
        const passwords = Object.values(users.inputs.stringData as Record<string, string>);
        assert.equal(new Set(passwords).size, 5, "each user has its own password");
        for (const [name, user] of [
            ["redis-user-hitcounter", "hitcounter"],
            ["redis-user-client", "client"],
            ["redis-user-exporter", "exporter"],
        ]) {
            const own = run.one(T.secret, name);
            assert.deepEqual(own.inputs.stringData, { username: user, password: users.inputs.stringData[user] }, name);
        }
        for (const secret of run.ofType(T.secret)) {
            assert.ok(
                secret.secretPaths.some((p) => p.startsWith("stringData")),
                `${secret.name} inputs not secret: ${secret.secretPaths}`,
            );
        }
        assert.equal(run.outputs.redisAdminPassword.secret, true);
        assert.equal(run.outputs.redisAdminPassword.value, users.inputs.stringData.admin);
        const elsewhere = [...run.ofType(T.configMap), run.one(T.statefulSet), run.one(T.deployment), ...run.ofType(T.aclRotation)];
        for (const r of elsewhere) for (const p of passwords) assert.ok(!JSON.stringify(r.inputs).includes(p), `a password in ${r.name}`);
    });

    it("a rotation's phases are ordered: add before the users Secret changes, prune after the app has rolled", () => {
        const run = getRun();
        const add = run.one(T.aclRotation, "redis-acl-add");
        const prune = run.one(T.aclRotation, "redis-acl-prune");
        assert.deepEqual([add.inputs.phase, prune.inputs.phase], ["add", "prune"]);
        assert.deepEqual(
            add.dependsOnUrns,
            [run.one(T.drain).urn],
            "phase 1 runs after the scale-in drain, before any Redis object changes",
        );
        for (const name of ["redis-users-secret", "redis-user-hitcounter", "redis-user-client", "redis-user-exporter"]) {
            assert.ok(run.one(T.secret, name).dependsOnUrns.includes(add.urn), `${name} changes only after phase 1`);
        }
        assert.deepEqual(prune.dependsOnUrns, [run.one(T.appComponent).urn]);
        assert.deepEqual([add.inputs.statefulSetName, add.inputs.containerName], ["redis", "redis"]);
        const users = run.one(T.secret, "redis-users-secret").inputs.stringData as Record<string, string>;
        const sha = (p: string) => crypto.createHash("sha256").update(p).digest("hex");
        assert.deepEqual(add.inputs.hashes, Object.fromEntries(Object.entries(users).map(([u, p]) => [u, sha(p)])));
        assert.ok(add.secretPaths.includes("hashes") && add.secretPaths.includes("kubeconfig"));
    });

    it("the Redis pods mount the users Secret and the ACL template; the exporter connects as its own user and rolls with its password", () => {
        const run = getRun();
        const sts = run.one(T.statefulSet).inputs.spec.template;
        const env = Object.fromEntries(redisContainer(run).env.map((e: { name: string; value?: string }) => [e.name, e.value]));
        assert.equal(env.REDIS_USERS_DIR, "/users");
        assert.equal(env.REDIS_ACL_TEMPLATE, "/conf/users.acl");
        assert.ok(!("REDIS_PASSWORD" in env), "no password in the Redis container's env");
        assert.deepEqual(sts.spec.volumes.find((v: { name: string }) => v.name === "users").secret, {
            secretName: "redis-users",
            defaultMode: 0o440,
        });
        const exporter = sts.spec.containers.find((c: { name: string }) => c.name === "exporter");
        assert.equal(exporter.env.find((e: { name: string }) => e.name === "REDIS_USER").value, "exporter");
        assert.deepEqual(exporter.env.find((e: { name: string }) => e.name === "REDIS_PASSWORD").valueFrom.secretKeyRef, {
            name: "redis-user-exporter",
            key: "password",
        });
        assert.match(sts.metadata.annotations["redis-cluster-gke/exporter-password-sha256"], /^[0-9a-f]{64}$/);
    });

    it("scale-in order: the drain before the StatefulSet (which depends on it), the formation after the StatefulSet", () => {
        const run = getRun();
        const drain = run.one(T.drain);
        const statefulSet = run.one(T.statefulSet);
        assert.ok(statefulSet.dependsOnUrns.includes(drain.urn), "the StatefulSet would shrink before its pods are drained");
        assert.ok(run.one(T.formation).dependsOnUrns.includes(statefulSet.urn), "the formation would forget pods still running");
        assert.ok(!drain.dependsOnUrns.includes(statefulSet.urn));
        assert.deepEqual(
            [drain.inputs.masters, drain.inputs.replicasPerMaster],
            [run.one(T.formation).inputs.masters, run.one(T.formation).inputs.replicasPerMaster],
        );
    });

    it("the formation and the scale-in drain carry the hash of their providers' code as providerVersion", () => {
        const run = getRun();
        assert.equal(run.one(T.formation).inputs.providerVersion, formationProviderVersion());
        assert.equal(run.one(T.drain).inputs.providerVersion, formationProviderVersion());
    });

    it("the kubeconfig is secret: in the provider, in the formation's inputs and as an output", () => {
        const run = getRun();
        assert.ok(run.one(T.provider).secretPaths.includes("kubeconfig"));
        assert.ok(run.one(T.formation).secretPaths.includes("kubeconfig"));
        assert.equal(run.outputs.kubeconfig.secret, true);
    });

    it("formation runs after the StatefulSet and its DNS, the app after the formation, and the app uses its seeds", () => {
        const run = getRun();
        const formation = run.one(T.formation);
        assert.deepEqual(formation.dependsOnUrns, [run.one(T.statefulSet).urn, run.one(T.service, "redis-headless").urn]);
        // Pulumi waits for a Service's endpoints: the StatefulSet must not wait for its own Services.
        const sts = run.one(T.statefulSet);
        for (const s of run.ofType(T.service)) assert.ok(!sts.dependsOnUrns.includes(s.urn), s.name);
        assert.deepEqual(run.one(T.appComponent).dependsOnUrns, [formation.urn]);
        assert.equal(formation.inputs.masters * (1 + formation.inputs.replicasPerMaster), expected.pods);
        assert.equal(formation.inputs.containerName, "redis");
        assert.equal(formation.inputs.headlessServiceName, "redis-headless");
        const env = run.one(T.deployment).inputs.spec.template.spec.containers[0].env as { name: string; value?: string }[];
        const seeds = run.outputs.redisSeeds.value as string[];
        assert.equal(seeds.length, expected.pods);
        assert.equal(seeds[0], `redis-0.redis-headless.${expected.namespace}.svc.cluster.local:6379`);
        assert.equal(env.find((e) => e.name === "REDIS_NODES")!.value, seeds.join(","));
    });

    it("the app runs the bundled server from a ConfigMap on the pinned Node.js image", () => {
        const run = getRun();
        const cm = run.one(T.configMap, "hit-counter-server");
        assert.equal(cm.inputs.data["server.js"], serverSource());
        const container = run.one(T.deployment).inputs.spec.template.spec.containers[0];
        assert.equal(container.image, DEFAULT_NODE_IMAGE);
        assert.match(container.image, /^node:24\.\d+\.\d+-alpine[\d.]+@sha256:[0-9a-f]{64}$/, "Node 24 LTS, pinned by tag and digest");
        assert.deepEqual(container.command, ["node", "/app/server.js"]);
        const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
        assert.equal(env.REDIS_USERNAME, "hitcounter");
        assert.equal(env.REDIS_PASSWORD_FILE, "/redis-user/password");
        assert.ok(!("REDIS_PASSWORD" in env));
        const spec = run.one(T.deployment).inputs.spec.template.spec;
        assert.deepEqual(spec.volumes.find((v: { name: string }) => v.name === "redis-user").secret, {
            secretName: "redis-user-hitcounter",
            items: [{ key: "password", path: "password" }],
        });
        const digest = run.one(T.deployment).inputs.spec.template.metadata.annotations["redis-cluster-gke/password-sha256"];
        assert.match(digest, /^[0-9a-f]{64}$/, "a rotated app password rolls the app (phase 2)");
    });

    it("exports every documented output", () => {
        assert.deepEqual(Object.keys(getRun().outputs).sort(), [
            "appUrl",
            "kubeconfig",
            "namespace",
            "redisAdminPassword",
            "redisCaCertificate",
            "redisClientAccess",
            "redisClientEndpoint",
            "redisClientService",
            "redisPlacementOk",
            "redisPlacementWarnings",
            "redisSeeds",
            "redisShards",
            "redisTlsNotAfter",
        ]);
        assert.equal(getRun().outputs.namespace.value, expected.namespace);
        assert.equal(getRun().outputs.redisClientEndpoint.value, `redis.${expected.namespace}.svc.cluster.local:6379`);
    });
}

describe("program under mocks: target gke", function () {
    let run: ProgramRun;
    before(async () => {
        run = await runProgram(GKE_CONFIG);
    });

    sharedGraphChecks(() => run, { namespace: "redis", pods: 6, statefulSetPods: 7, gke: true });

    it("creates a regional VPC-native cluster without the default pool, with workload identity and a release channel", () => {
        const cluster = run.one("gcp:container/cluster:Cluster").inputs;
        assert.equal(cluster.location, "europe-west1");
        assert.equal(cluster.removeDefaultNodePool, true);
        assert.equal(cluster.networkingMode, "VPC_NATIVE");
        assert.deepEqual(cluster.ipAllocationPolicy, { clusterSecondaryRangeName: "pods", servicesSecondaryRangeName: "services" });
        assert.deepEqual(cluster.workloadIdentityConfig, { workloadPool: "acme-redis.svc.id.goog" });
        assert.deepEqual(cluster.releaseChannel, { channel: "REGULAR" });
        assert.equal(cluster.datapathProvider, "ADVANCED_DATAPATH");
    });

    it("its own node pool: auto-repair/upgrade, a dedicated service account, GKE metadata server, private nodes", () => {
        const pool = run.one("gcp:container/nodePool:NodePool").inputs;
        const account = run.one("gcp:serviceaccount/account:Account");
        assert.deepEqual(pool.management, { autoRepair: true, autoUpgrade: true });
        assert.equal(pool.nodeCount, 1);
        assert.equal(pool.nodeConfig.serviceAccount, account.state.email);
        assert.equal(pool.nodeConfig.workloadMetadataConfig.mode, "GKE_METADATA");
        assert.deepEqual(pool.networkConfig, { enablePrivateNodes: true });
        assert.equal(account.inputs.accountId, "rc-dev-nodes");
        const bindings = run.ofType("gcp:projects/iAMMember:IAMMember");
        assert.deepEqual(
            bindings.map((b) => b.inputs.role),
            ["roles/container.defaultNodeServiceAccount"],
        );
        assert.equal(bindings[0].inputs.member, `serviceAccount:${account.state.email}`);
    });

    it("the cluster's own first pool runs as the node account too, after its role bindings exist", () => {
        const cluster = run.one("gcp:container/cluster:Cluster");
        const account = run.one("gcp:serviceaccount/account:Account");
        assert.equal(cluster.inputs.nodeConfig.serviceAccount, account.state.email);
        assert.equal(cluster.inputs.nodeConfig.workloadMetadataConfig.mode, "GKE_METADATA");
        for (const b of run.ofType("gcp:projects/iAMMember:IAMMember")) assert.ok(cluster.dependsOnUrns.includes(b.urn), b.name);
        // Only the short-lived default pool reads them: a later change must not replace the cluster.
        assert.deepEqual([...cluster.options.ignoreChanges].sort(), ["nodeConfig", "privateClusterConfig"]);
    });

    it("deletion protection on, private nodes behind Cloud NAT, control plane IP endpoint closed to outside addresses", () => {
        const cluster = run.one("gcp:container/cluster:Cluster").inputs;
        assert.equal(cluster.deletionProtection, true);
        assert.deepEqual(cluster.privateClusterConfig, { enablePrivateNodes: true });
        assert.deepEqual(cluster.masterAuthorizedNetworksConfig, { cidrBlocks: [], gcpPublicCidrsAccessEnabled: false });
        assert.deepEqual(cluster.controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic, true);
        assert.deepEqual(cluster.monitoringConfig, { managedPrometheus: { enabled: true } });
        const router = run.one("gcp:compute/router:Router");
        const nat = run.one("gcp:compute/routerNat:RouterNat").inputs;
        assert.equal(router.inputs.network, run.one("gcp:compute/network:Network").state.id ?? router.inputs.network);
        assert.equal(nat.sourceSubnetworkIpRangesToNat, "ALL_SUBNETWORKS_ALL_IP_RANGES");
        assert.equal(nat.region, "europe-west1");
    });

    it("the Kubernetes provider waits for the node pool and reaches the DNS endpoint with gke-gcloud-auth-plugin", () => {
        const provider = run.one(T.provider);
        assert.deepEqual(provider.dependsOnUrns, [run.one("gcp:container/nodePool:NodePool").urn]);
        const kubeconfig = String(run.outputs.kubeconfig.value);
        assert.match(kubeconfig, /command: gke-gcloud-auth-plugin/);
        assert.match(kubeconfig, /server: https:\/\/gke-0123456789abcdef-gke-cluster\.europe-west1\.gke\.goog\n/);
        assert.doesNotMatch(kubeconfig, /certificate-authority-data/, "the DNS endpoint's certificate is publicly trusted");
        assert.equal(provider.inputs.kubeconfig, kubeconfig);
        // A changed kubeconfig (endpoint, certificate) of the same cluster updates the provider instead of replacing it and every object.
        assert.equal(provider.inputs.clusterIdentifier, run.one("gcp:container/cluster:Cluster").id);
    });

    it("switches: deletion protection off, public nodes without NAT, authorized networks, retention off", async () => {
        const other = await runProgram({
            config: {
                ...GKE_CONFIG.config,
                "gke:deletionProtection": "false",
                "gke:privateNodes": "false",
                "gke:authorizedNetworks": "203.0.113.0/24",
                "gke:kubeconfigEndpoint": "ip",
                "redis-cluster-gke:retainOnDestroy": "false",
            },
        });
        const cluster = other.one("gcp:container/cluster:Cluster").inputs;
        assert.equal(cluster.deletionProtection, false);
        assert.deepEqual(cluster.privateClusterConfig, { enablePrivateNodes: false });
        assert.deepEqual(other.one("gcp:container/nodePool:NodePool").inputs.networkConfig, { enablePrivateNodes: false });
        assert.deepEqual(other.ofType("gcp:compute/routerNat:RouterNat"), []);
        assert.deepEqual(cluster.masterAuthorizedNetworksConfig.cidrBlocks, [
            { cidrBlock: "203.0.113.0/24", displayName: "authorized 203.0.113.0/24" },
        ]);
        assert.equal(other.one(T.namespace).options.retainOnDelete, false);
        // The IP endpoint, with the cluster's CA: the kubeconfig of stacks created before the DNS endpoint.
        const kubeconfig = String(other.outputs.kubeconfig.value);
        assert.match(kubeconfig, /server: https:\/\/203\.0\.113\.10\n/);
        assert.match(kubeconfig, new RegExp(`certificate-authority-data: ${Buffer.from("mock-ca").toString("base64")}`));
        assert.equal(other.one(T.storageClass).inputs.reclaimPolicy, "Delete");
    });

    it("node-pool upgrades surge (a new node before an old one drains); no maintenance policy unless configured", () => {
        assert.deepEqual(run.one("gcp:container/nodePool:NodePool").inputs.upgradeSettings, {
            strategy: "SURGE",
            maxSurge: 1,
            maxUnavailable: 0,
        });
        assert.equal(run.one("gcp:container/cluster:Cluster").inputs.maintenancePolicy, undefined);
    });

    it("upgrade settings, a maintenance window and exclusions from config, on the pool and the cluster", async () => {
        const other = await runProgram({
            config: {
                ...GKE_CONFIG.config,
                "gke:upgradeMaxSurge": "2",
                "gke:upgradeMaxUnavailable": "1",
                "gke:maintenanceWindow": "SA,SU 22:00-04:00",
                "gke:maintenanceExclusions":
                    "black-friday=2026-11-26T00:00:00Z/2026-12-01T00:00:00Z, freeze=2026-12-15T00:00:00Z/2027-02-01T00:00:00Z/NO_MINOR_UPGRADES",
            },
        });
        assert.deepEqual(other.one("gcp:container/nodePool:NodePool").inputs.upgradeSettings, {
            strategy: "SURGE",
            maxSurge: 2,
            maxUnavailable: 1,
        });
        assert.deepEqual(other.one("gcp:container/cluster:Cluster").inputs.maintenancePolicy, {
            // First occurrence on its first weekday (Saturday 2025-01-11), 6 hours, across midnight.
            recurringWindow: { startTime: "2025-01-11T22:00:00Z", endTime: "2025-01-12T04:00:00Z", recurrence: "FREQ=WEEKLY;BYDAY=SA,SU" },
            maintenanceExclusions: [
                {
                    exclusionName: "black-friday",
                    startTime: "2026-11-26T00:00:00Z",
                    endTime: "2026-12-01T00:00:00Z",
                    exclusionOptions: { scope: "NO_UPGRADES" },
                },
                {
                    exclusionName: "freeze",
                    startTime: "2026-12-15T00:00:00Z",
                    endTime: "2027-02-01T00:00:00Z",
                    exclusionOptions: { scope: "NO_MINOR_UPGRADES" },
                },
            ],
        });
        const daily = await runProgram({ config: { ...GKE_CONFIG.config, "gke:maintenanceWindow": "daily 02:00-06:00" } });
        assert.deepEqual(daily.one("gcp:container/cluster:Cluster").inputs.maintenancePolicy, {
            recurringWindow: { startTime: "2025-01-06T02:00:00Z", endTime: "2025-01-06T06:00:00Z", recurrence: "FREQ=DAILY" },
            maintenanceExclusions: [],
        });
    });

    it("generates each user's password with @pulumi/random (URL- and redis.conf-safe characters)", () => {
        const randoms = run.ofType(T.password);
        assert.deepEqual(
            randoms.map((r) => r.name),
            [
                "redis-admin-password",
                "redis-replication-password",
                "redis-hitcounter-password",
                "redis-client-password",
                "redis-exporter-password",
            ],
        );
        for (const random of randoms) {
            assert.equal(random.inputs.length, 32);
            assert.equal(random.inputs.overrideSpecial, "-_.~");
            assert.equal(random.inputs.keepers, undefined, "no rotation trigger set");
        }
        assert.equal(run.outputs.redisAdminPassword.value, run.one(T.password, "redis-admin-password").state.result);
    });

    it("the client access output: the endpoint with the full cluster domain, the client user's Secret, the CA", () => {
        const access = run.outputs.redisClientAccess;
        assert.equal(access.secret, false, "nothing secret in it: the password stays in the Secret it names");
        const value = access.value as Record<string, unknown>;
        assert.equal(value.endpoint, "redis.redis.svc.cluster.local:6379");
        assert.equal(value.username, "client");
        assert.equal(value.tls, true);
        assert.deepEqual(value.secret, { namespace: "redis", name: "redis-user-client", usernameKey: "username", passwordKey: "password" });
        assert.equal(value.caCertificate, run.outputs.redisCaCertificate.value);
        assert.equal(value.caConfigMap, "redis-ca");
    });
});

describe("program under mocks: target existing", function () {
    let run: ProgramRun;
    before(async () => {
        run = await runProgram(EXISTING_CONFIG);
    });

    sharedGraphChecks(() => run, { namespace: "cache", pods: 12, statefulSetPods: 12, gke: false });

    it("creates no cloud resources; the provider uses the configured kubeconfig", () => {
        assert.deepEqual(
            run.resources.filter((r) => r.type.startsWith("gcp:")),
            [],
        );
        assert.equal(run.one(T.provider).inputs.kubeconfig, KUBECONFIG);
        assert.equal(run.outputs.kubeconfig.value, KUBECONFIG);
    });

    it("uses a configured password instead of generating one; the other users' are generated", () => {
        assert.equal(run.ofType(T.password).length, 4);
        assert.equal(
            run.ofType(T.password).find((r) => r.name === "redis-admin-password"),
            undefined,
        );
        assert.equal(run.one(T.secret, "redis-users-secret").inputs.stringData.admin, "a-configured-password-0123456789");
    });
});

describe("program under mocks: index.ts, the Pulumi entry point", function () {
    it("registers the same graph and exports the same outputs as composeStack", async () => {
        const entry = require.resolve("../../index");
        const viaIndex = await runProgram(GKE_CONFIG, () => {
            delete require.cache[entry]; // index.ts registers on load: load it fresh inside this run
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            return { ...require(entry) };
        });
        const viaStack = await runProgram(GKE_CONFIG);
        assert.deepEqual(Object.keys(viaIndex.outputs).sort(), Object.keys(viaStack.outputs).sort());
        assert.deepEqual(
            viaIndex.resources.map((r) => r.urn),
            viaStack.resources.map((r) => r.urn),
        );
        assert.equal(viaIndex.outputs.redisAdminPassword.secret, true);
        assert.equal(viaIndex.outputs.kubeconfig.secret, true);
    });
});

describe("program under mocks: password rotation trigger", function () {
    it("an unchanged stack keeps every password; a new redis:passwordRotation gives each generated one a new value, which the rotation steps and the app's roll follow", async () => {
        const hashes = (run: ProgramRun) => run.one(T.aclRotation, "redis-acl-add").inputs.hashes as Record<string, string>;
        const appDigest = (run: ProgramRun) =>
            run.one(T.deployment).inputs.spec.template.metadata.annotations["redis-cluster-gke/password-sha256"];
        const first = await runProgram(GKE_CONFIG);
        const again = await runProgram(GKE_CONFIG);
        assert.deepEqual(hashes(again), hashes(first), "nothing rotates without a change");
        const rotated = await runProgram({ config: { ...GKE_CONFIG.config, "redis:passwordRotation": "2026-12-01" } });
        for (const r of rotated.ofType(T.password)) assert.deepEqual(r.inputs.keepers, { rotation: "2026-12-01" });
        for (const user of ["admin", "replication", "hitcounter", "client", "exporter"]) {
            assert.notEqual(hashes(rotated)[user], hashes(first)[user], user);
        }
        assert.deepEqual(hashes(rotated), rotated.one(T.aclRotation, "redis-acl-prune").inputs.hashes);
        assert.notEqual(appDigest(rotated), appDigest(first), "the app rolls onto its new password");
    });
});

describe("program under mocks: settings switches", function () {
    it("redis:exporter false drops the sidecar and the metrics rule; app:image drops the server ConfigMap", async () => {
        const run = await runProgram({
            config: {
                ...EXISTING_CONFIG.config,
                "redis:exporter": "false",
                "app:image": "ghcr.io/acme/hit-counter:1.0.0",
                "app:serviceType": "ClusterIP",
            },
            secrets: EXISTING_CONFIG.secrets,
        });
        const containers = run.one(T.statefulSet).inputs.spec.template.spec.containers;
        assert.deepEqual(
            containers.map((c: { name: string }) => c.name),
            ["redis", "failover-agent"],
        );
        assert.equal(run.one(T.networkPolicy, "redis-network-policy").inputs.spec.ingress.length, 2);
        assert.deepEqual(
            run.ofType(T.configMap).map((c) => c.name),
            ["redis-config", "redis-ca"],
        );
        const app = run.one(T.deployment).inputs.spec.template.spec.containers[0];
        assert.equal(app.image, "ghcr.io/acme/hit-counter:1.0.0");
        assert.equal(app.command, undefined);
        assert.equal(run.outputs.appUrl.value, "http://hit-counter.cache.svc");
    });
});

describe("program under mocks: TLS (@pulumi/tls, evaluated by its mocked provider)", function () {
    let run: ProgramRun;
    before(async () => {
        run = await runProgram(EXISTING_CONFIG);
    });
    const tlsType = (kind: string) => `tls:index/${kind[0].toLowerCase()}${kind.slice(1)}:${kind}`;
    const material = () => {
        const secret = run.one(T.secret, "redis-tls-secret");
        return { secret, ca: String(secret.inputs.stringData["ca.crt"]), cert: String(secret.inputs.stringData["tls.crt"]) };
    };

    it("the stack's own CA (10 years, renewed in its last year) signs a one-year server certificate renewed in its last 90 days", () => {
        const [ca] = run.ofType(tlsType("SelfSignedCert"));
        assert.equal(ca.inputs.isCaCertificate, true);
        assert.deepEqual([ca.inputs.validityPeriodHours, ca.inputs.earlyRenewalHours], [87600, 8760]);
        assert.deepEqual(ca.inputs.allowedUses, ["cert_signing", "crl_signing"]);
        const leaf = run.one(tlsType("LocallySignedCert"));
        assert.deepEqual([leaf.inputs.validityPeriodHours, leaf.inputs.earlyRenewalHours], [8760, 2160]);
        assert.deepEqual(leaf.inputs.allowedUses, ["digital_signature", "server_auth", "client_auth"]);
        assert.equal(leaf.inputs.caCertPem, ca.state.certPem);
        assert.ok(leaf.secretPaths.includes("caPrivateKeyPem"), "the CA key reaches the signer as a secret");
        assert.deepEqual(
            run.ofType(tlsType("PrivateKey")).map((k) => [k.name, k.inputs.algorithm, k.inputs.ecdsaCurve]),
            [
                ["redis-tls-ca-key", "ECDSA", "P256"],
                ["redis-tls-server-key", "ECDSA", "P256"],
            ],
        );
        const certificates = run.one("redis-cluster-gke:redis:RedisCertificates");
        assert.equal(certificates.parentUrn, run.one(T.redisComponent).urn);
        for (const r of run.resources.filter((x) => x.type.startsWith("tls:"))) assert.equal(r.parentUrn, certificates.urn, r.name);
        assert.equal(run.outputs.redisTlsNotAfter.value, leaf.state.validityEndTime);
    });

    it("the TLS Secret: a server certificate for every pod's DNS name and the client Service, for servers and clients, signed by the CA clients get", () => {
        const { secret, ca, cert } = material();
        assert.equal(secret.inputs.type, "kubernetes.io/tls");
        assert.ok(
            secret.secretPaths.some((p) => p.startsWith("stringData")),
            "the key is a secret",
        );
        const x509 = new crypto.X509Certificate(cert);
        assert.ok(x509.verify(new crypto.X509Certificate(ca).publicKey), "signed by the CA");
        assert.ok(x509.checkPrivateKey(crypto.createPrivateKey(String(secret.inputs.stringData["tls.key"]))));
        for (const host of ["redis-11.redis-headless.cache.svc.cluster.local", "redis.cache.svc.cluster.local", "redis", "localhost"])
            assert.ok(x509.checkHost(host), `${host} is not in ${x509.subjectAltName}`);
        assert.ok(!x509.checkHost("redis-0.redis-headless.redis.svc.cluster.local"), "another namespace's name");
        assert.deepEqual(x509.keyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], "server and client authentication");
        assert.deepEqual(run.one(T.configMap, "redis-ca").inputs.data, { "ca.crt": ca });
        assert.equal(run.outputs.redisCaCertificate.value, ca);
        assert.equal(run.outputs.redisCaCertificate.secret, false, "the CA certificate is public");
    });

    it("the pods start after their certificates exist and roll when one changes; the app verifies Redis with the CA and rolls with it", () => {
        const { secret, ca, cert } = material();
        const sts = run.one(T.statefulSet);
        assert.ok(sts.dependsOnUrns.includes(secret.urn));
        assert.equal(sts.inputs.spec.template.metadata.annotations["redis-cluster-gke/tls-sha256"], tlsDigest(ca, cert));
        const deployment = run.one(T.deployment).inputs.spec.template;
        const env = Object.fromEntries(deployment.spec.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
        assert.deepEqual([env.REDIS_TLS, env.REDIS_CA_FILE], ["true", "/tls-ca/ca.crt"]);
        assert.equal(
            deployment.spec.volumes.find((v: { name: string }) => v.name === "redis-ca").configMap.name,
            run.one(T.configMap, "redis-ca").inputs.metadata.name,
        );
        assert.equal(deployment.metadata.annotations["redis-cluster-gke/ca-sha256"], tlsDigest(ca));
    });

    it("with redis:tlsCaCertificate the user's CA signs the server certificate and no CA is created", async () => {
        const userCa = newCertificateAuthority("acme root", 3650);
        const own = await runProgram({
            config: EXISTING_CONFIG.config,
            secrets: { ...EXISTING_CONFIG.secrets, "redis:tlsCaCertificate": userCa.certPem, "redis:tlsCaKey": userCa.keyPem },
        });
        assert.deepEqual(own.ofType(tlsType("SelfSignedCert")), []);
        assert.deepEqual(
            own.ofType(tlsType("PrivateKey")).map((k) => k.name),
            ["redis-tls-server-key"],
        );
        const leaf = own.one(tlsType("LocallySignedCert"));
        assert.equal(leaf.inputs.caCertPem, userCa.certPem);
        assert.ok(leaf.secretPaths.includes("caPrivateKeyPem"));
        const cert = new crypto.X509Certificate(String(own.one(T.secret, "redis-tls-secret").inputs.stringData["tls.crt"]));
        assert.ok(
            cert.checkIssued(new crypto.X509Certificate(userCa.certPem)) &&
                cert.verify(new crypto.X509Certificate(userCa.certPem).publicKey),
        );
        assert.equal(own.outputs.redisCaCertificate.value, userCa.certPem);
        assert.ok(!JSON.stringify(own.outputs).includes(userCa.keyPem.split("\n")[1]), "the CA key is in no output");
    });

    it("redis:tls false: no certificate, no TLS Secret, the app connects in plain text", async () => {
        const plain = await runProgram({ config: { ...EXISTING_CONFIG.config, "redis:tls": "false" }, secrets: EXISTING_CONFIG.secrets });
        assert.deepEqual(
            plain.resources.filter((r) => r.type.startsWith("tls:") || r.name.startsWith("redis-tls") || r.name === "redis-ca"),
            [],
        );
        const env = plain.one(T.deployment).inputs.spec.template.spec.containers[0].env;
        assert.equal(env.find((e: { name: string }) => e.name === "REDIS_TLS").value, "false");
        assert.equal(plain.outputs.redisCaCertificate.value, undefined);
    });
});

describe("program under mocks: invalid config", function () {
    for (const [what, stackConfig, key] of [
        ["masters below 3", { config: { ...GKE_CONFIG.config, "redis:masters": "2" } }, "redis:masters"],
        ["an unknown target", { config: { "redis-cluster-gke:target": "aks" } }, "redis-cluster-gke:target"],
        ["existing without kubeconfig", { config: { "redis-cluster-gke:target": "existing" } }, "redis-cluster-gke:kubeconfig"],
        ["a non-numeric storage size", { config: { ...GKE_CONFIG.config, "redis:storageSize": "ten" } }, "redis:storageSize"],
        [
            "a password set without --secret",
            { config: { ...GKE_CONFIG.config, "redis:adminPassword": "a-plain-text-password-0123" } },
            "redis:adminPassword: set in plain text",
        ],
        [
            "a password Redis' ACL rules cannot take",
            { config: GKE_CONFIG.config, secrets: { "redis:hitcounterPassword": "with a space in it, 0123" } },
            "redis:hitcounterPassword: holds a space, which is not allowed; use 16 to 128 characters",
        ],
        [
            "a short password",
            { config: GKE_CONFIG.config, secrets: { "redis:replicationPassword": "short" } },
            "redis:replicationPassword: too short",
        ],
        [
            "an allowed client whose selector is not a label selector",
            { config: { ...GKE_CONFIG.config, "redis:allowedClients": '[{"namespace":"shop","podLabels":{"app/":"x"}}]' } },
            'redis:allowedClients: .*label key "app/" is not a valid label name',
        ],
        [
            "the retired single password",
            { config: GKE_CONFIG.config, secrets: { "redis:password": "a-long-enough-password-01" } },
            "redis:password: no longer read",
        ],
        [
            "the kubeconfig set without --secret",
            { config: { "redis-cluster-gke:target": "existing", "redis-cluster-gke:kubeconfig": KUBECONFIG } },
            "redis-cluster-gke:kubeconfig: set in plain text",
        ],
        [
            "a CA certificate that is not a CA",
            {
                config: GKE_CONFIG.config,
                secrets: { "redis:tlsCaCertificate": LEAF.certPem, "redis:tlsCaKey": LEAF.keyPem },
            },
            "redis:tlsCaCertificate: .* is not a CA",
        ],
    ] as const) {
        it(`refuses ${what} before constructing any resource`, async () => {
            await assert.rejects(runProgram(stackConfig), (err: unknown) => {
                assert.ok(err instanceof ProgramFailure, String(err));
                assert.deepEqual(err.constructed, []);
                assert.match(err.message, new RegExp(key));
                return true;
            });
        });
    }

    it("the harness counts a resource constructed in the same tick as the failure (its registration has not reached the mocks yet)", async () => {
        const program = () => {
            new pulumi.ComponentResource("test:index:Built", "built-before-the-throw");
            throw new Error("a check after the first resource");
        };
        await assert.rejects(runProgram({}, program), (err: unknown) => {
            assert.ok(err instanceof ProgramFailure, String(err));
            assert.deepEqual(err.constructed, ["test:index:Built::built-before-the-throw"]);
            return true;
        });
    });
});
