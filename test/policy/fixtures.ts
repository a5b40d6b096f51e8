/**
 * Hand-made resources for the policy tests: one good stack (what a careful operator would
 * write) and `variant` to derive a bad one with a single change.
 */
import type { IConfigMap, IDeployment, INetworkPolicy, IPodDisruptionBudget, IService, IStatefulSet } from "../../policy/shapes";
import { GkeClusterProps, GkeNodePoolProps, FormationProps, TYPES } from "../../policy/shapes";
import type { SubjectResource } from "./harness";

const labels = { app: "redis", "app.kubernetes.io/part-of": "redis-cluster" };
const appLabels = { app: "hit-counter" };
const ns = "redis";
/** Digests for the fixtures (format only: the pack checks the reference, not the registry). */
const digest = (c: string) => `@sha256:${c.repeat(64)}`;

export function redisStatefulSet(): IStatefulSet {
    return {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "redis", namespace: ns },
        spec: {
            serviceName: "redis-headless",
            replicas: 6,
            selector: { matchLabels: labels },
            template: {
                metadata: { labels },
                spec: {
                    automountServiceAccountToken: false,
                    topologySpreadConstraints: [
                        {
                            maxSkew: 1,
                            topologyKey: "topology.kubernetes.io/zone",
                            whenUnsatisfiable: "DoNotSchedule",
                            minDomains: 3,
                            labelSelector: { matchLabels: labels },
                        },
                    ],
                    containers: [
                        {
                            name: "redis",
                            image: `redis:7.2.16-alpine${digest("a")}`,
                            command: ["sh", "/scripts/node-start.sh", "redis-server", "/run/redis/redis.conf"],
                            ports: [
                                { name: "client", containerPort: 6379 },
                                { name: "bus", containerPort: 16379 },
                            ],
                            env: [{ name: "REDIS_PASSWORD", valueFrom: { secretKeyRef: { name: "redis-auth", key: "password" } } }],
                            resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "512Mi" } },
                            readinessProbe: { exec: { command: ["sh", "/scripts/probe.sh", "ready"] } },
                            livenessProbe: { exec: { command: ["sh", "/scripts/probe.sh", "live"] } },
                            volumeMounts: [
                                { name: "data", mountPath: "/data" },
                                { name: "conf", mountPath: "/conf" },
                            ],
                        },
                        {
                            name: "exporter",
                            image: `oliver006/redis_exporter:v1.84.0${digest("b")}`,
                            args: ["--disable-scrape-endpoint", "--disable-exporting-key-values"],
                            ports: [{ name: "metrics", containerPort: 9121 }],
                            env: [{ name: "REDIS_PASSWORD", valueFrom: { secretKeyRef: { name: "redis-auth", key: "password" } } }],
                            resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
                        },
                    ],
                    volumes: [{ name: "conf", configMap: { name: "redis-conf" } }],
                },
            },
            volumeClaimTemplates: [
                { metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } },
            ],
        },
    };
}

export function redisConfigMap(): IConfigMap {
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "redis-conf", namespace: ns },
        data: {
            "redis.conf": [
                "port 0",
                "tls-port 6379",
                "tls-cluster yes",
                "tls-replication yes",
                "cluster-enabled yes",
                "cluster-node-timeout 2000",
                "appendonly yes",
                "protected-mode yes",
                "",
            ].join("\n"),
            "users.acl": ["user default off resetpass resetkeys resetchannels -@all", "user admin on resetpass ~* &* +@all", ""].join("\n"),
            "node-start.sh": [
                "#!/bin/sh",
                "# the ACL file and masterauth come from the users Secret, never from this ConfigMap",
                '{ echo "include $REDIS_SHARED_CONF"; echo "aclfile $REDIS_DATA_DIR/users.acl"; echo "masteruser replication"; echo "masterauth \\"$(cat $REDIS_USERS_DIR/replication)\\""; } > "$REDIS_RUNTIME_CONF"',
                '{ echo "tls-cert-file $REDIS_TLS_DIR/tls.crt"; echo "tls-key-file $REDIS_TLS_DIR/tls.key"; echo "tls-ca-cert-file $REDIS_TLS_DIR/ca.crt"; } >> "$REDIS_RUNTIME_CONF"',
                'exec "$@"',
            ].join("\n"),
        },
    };
}

export function redisPdb(): IPodDisruptionBudget {
    return {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: "redis", namespace: ns },
        spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
    };
}

export function redisNetworkPolicy(): INetworkPolicy {
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "redis", namespace: ns },
        spec: {
            podSelector: { matchLabels: labels },
            policyTypes: ["Ingress"],
            ingress: [
                { from: [{ podSelector: { matchLabels: labels } }], ports: [{ port: "client" }, { port: "bus" }] },
                { from: [{ podSelector: { matchLabels: { app: "hit-counter" } } }], ports: [{ port: 6379, protocol: "TCP" }] },
                {
                    from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "gmp-system" } } }],
                    ports: [{ port: "metrics" }],
                },
            ],
        },
    };
}

/** The app's policy: its port from anyone, out only to Redis and DNS. */
export function appNetworkPolicy(): INetworkPolicy {
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "hit-counter", namespace: ns },
        spec: {
            podSelector: { matchLabels: appLabels },
            policyTypes: ["Ingress", "Egress"],
            ingress: [{ ports: [{ port: 8080 }] }],
            egress: [
                { to: [{ podSelector: { matchLabels: labels } }], ports: [{ port: 6379 }] },
                {
                    ports: [
                        { protocol: "UDP", port: 53 },
                        { protocol: "TCP", port: 53 },
                    ],
                },
            ],
        },
    };
}

export function redisHeadlessService(): IService {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "redis-headless", namespace: ns },
        spec: {
            clusterIP: "None",
            selector: labels,
            ports: [
                { name: "client", port: 6379 },
                { name: "bus", port: 16379 },
            ],
        },
    };
}

export function appDeployment(): IDeployment {
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "hit-counter", namespace: ns },
        spec: {
            selector: { matchLabels: appLabels },
            template: {
                metadata: { labels: appLabels },
                spec: {
                    automountServiceAccountToken: false,
                    containers: [{ name: "app", image: `node:22.11.0-alpine${digest("c")}`, ports: [{ containerPort: 8080 }] }],
                },
            },
        },
    };
}

export function appLoadBalancer(): IService {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "hit-counter", namespace: ns },
        spec: { type: "LoadBalancer", selector: { app: "hit-counter" }, ports: [{ port: 80, targetPort: 8080 }] },
    };
}

export function gkeCluster(): GkeClusterProps {
    return {
        location: "europe-west4",
        enableLegacyAbac: false,
        removeDefaultNodePool: true,
        releaseChannel: { channel: "REGULAR" },
        workloadIdentityConfig: { workloadPool: "my-project.svc.id.goog" },
        nodeConfig: { serviceAccount: "redis-nodes@my-project.iam.gserviceaccount.com", workloadMetadataConfig: { mode: "GKE_METADATA" } },
        masterAuthorizedNetworksConfig: { cidrBlocks: [{ cidrBlock: "203.0.113.0/24" }], gcpPublicCidrsAccessEnabled: false },
    };
}

export function gkeNodePool(): GkeNodePoolProps {
    return {
        location: "europe-west4",
        management: { autoRepair: true, autoUpgrade: true },
        nodeConfig: { serviceAccount: "redis-nodes@my-project.iam.gserviceaccount.com", workloadMetadataConfig: { mode: "GKE_METADATA" } },
        upgradeSettings: { strategy: "SURGE", maxSurge: 1, maxUnavailable: 0 },
    };
}

export function formation(): FormationProps & Record<string, unknown> {
    return {
        namespace: ns,
        statefulSetName: "redis",
        containerName: "redis",
        masters: 3,
        replicasPerMaster: 1,
        placementOk: true,
        placementWarnings: [],
    };
}

/** A deep copy of `base` changed by `change` (which may mutate it freely). */
export function variant<T>(base: T, change: (copy: T) => void): T {
    const copy = structuredClone(base);
    change(copy);
    return copy;
}

export function subject(type: string, name: string, props: object): SubjectResource {
    return { type, name, props: props as Record<string, unknown> };
}

/** The complete good stack, keyed so a test can swap one member. */
export function goodStack(): Record<string, SubjectResource> {
    return {
        cluster: subject(TYPES.gkeCluster, "gke", gkeCluster()),
        nodePool: subject(TYPES.gkeNodePool, "gke-nodes", gkeNodePool()),
        configMap: subject(TYPES.configMap, "redis-conf", redisConfigMap()),
        statefulSet: subject(TYPES.statefulSet, "redis", redisStatefulSet()),
        headless: subject(TYPES.service, "redis-headless", redisHeadlessService()),
        pdb: subject(TYPES.podDisruptionBudget, "redis-pdb", redisPdb()),
        networkPolicy: subject(TYPES.networkPolicy, "redis-netpol", redisNetworkPolicy()),
        appNetworkPolicy: subject(TYPES.networkPolicy, "hit-counter-netpol", appNetworkPolicy()),
        formation: subject(TYPES.dynamicResource, "redis-formation", formation()),
        app: subject(TYPES.deployment, "hit-counter", appDeployment()),
        appService: subject(TYPES.service, "hit-counter", appLoadBalancer()),
    };
}
