/**
 * Pure rendering of the Redis Cluster's Kubernetes objects from Settings. The RedisCluster component
 * registers exactly these objects, and `npm run render` writes them as YAML, so kubectl users and
 * Pulumi users run the same manifests.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GKE_RETAIN_STORAGE_CLASS, RedisSettings, quantityBytes } from "../config";
import { CLIENT_PORT, PodNaming, busPort, podDnsName, podName, statefulSetReplicas, surgeOrdinal } from "../shape";
import { FormationRbacManifests, renderFormationRbac } from "./formationRbac";
import { MemoryPlan, memoryPlan, renderRedisConf } from "./redisConf";
import {
    ACL_TEMPLATE_PATH,
    CA_MOUNT,
    CONF_MOUNT,
    ELECTION_HOLD_ENV,
    ELECTION_HOLD_FILE,
    RUNTIME_CONF_PATH,
    RUN_MOUNT,
    RUN_VOLUME,
    SCRIPTS_MOUNT,
    SURGE_FILE_ENV,
    SURGE_POD_FILE,
    SURGE_POD_KEY,
    TLS_MOUNT,
    TLS_VOLUME,
    USERS_MOUNT,
    USERS_VOLUME,
} from "./paths";
import { TLS_FILES } from "./tls";
import { mapInput } from "../input";
import { ACL_USERS, APP_USER, AclUserName, CLIENT_USER, EXPORTER_USER, passwordHash, renderAclTemplate } from "./acl";
import { HANDOVER_TIMEOUT_SECONDS, REDIS_TERMINATION_GRACE_SECONDS, SURGE_RETIRE_SECONDS } from "../redisDefaults";

export type NamespaceManifest = k8s.types.input.core.v1.Namespace;
export type SecretManifest = k8s.types.input.core.v1.Secret;
export type ConfigMapManifest = k8s.types.input.core.v1.ConfigMap;
export type ServiceManifest = k8s.types.input.core.v1.Service;
export type StatefulSetManifest = k8s.types.input.apps.v1.StatefulSet;
export type PodDisruptionBudgetManifest = k8s.types.input.policy.v1.PodDisruptionBudget;
export type NetworkPolicyManifest = k8s.types.input.networking.v1.NetworkPolicy;
export type StorageClassManifest = k8s.types.input.storage.v1.StorageClass;
/** GKE Managed Prometheus' PodMonitoring (monitoring.googleapis.com/v1), a custom resource. */
export interface PodMonitoringManifest {
    readonly apiVersion: "monitoring.googleapis.com/v1";
    readonly kind: "PodMonitoring";
    readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: LabelSelectorMatch };
    readonly spec: {
        readonly selector: { readonly matchLabels: LabelSelectorMatch };
        readonly endpoints: readonly { readonly port: string; readonly path: string; readonly interval: string }[];
    };
}
export type EnvVar = k8s.types.input.core.v1.EnvVar;
export type Container = k8s.types.input.core.v1.Container;
export type Probe = k8s.types.input.core.v1.Probe;
export type LabelSelectorMatch = Record<string, string>;

export const METRICS_PORT = 9121;
export const REDIS_CONTAINER = "redis";
export const EXPORTER_CONTAINER = "exporter";
/** Keys of a user's own Secret (`<name>-user-<user>`): what a client mounts or references. */
export const USERNAME_KEY = "username";
/** The takeover agent (failover-agent.sh), on the Redis image. */
export const FAILOVER_AGENT_CONTAINER = "failover-agent";
export const PASSWORD_KEY = "password";
/** The users whose own Secret exists: the clients that are not Redis itself. */
export const CLIENT_SECRET_USERS: readonly AclUserName[] = [APP_USER, CLIENT_USER, EXPORTER_USER];
/** Redis' uid/gid in the official Debian image. */
const REDIS_UID = 999;
const SCRIPTS_DIR = __dirname;

/**
 * The exporter serves only its own node's /metrics: no `/scrape?target=` (which connects to any
 * address with the Redis password) and no key values as labels. Flags, not env: an exporter older
 * than v1.83.0 refuses unknown flags and does not start, instead of silently ignoring them.
 */
export const EXPORTER_ARGS: readonly string[] = ["--disable-scrape-endpoint", "--disable-exporting-key-values"];
/** Label every namespace carries (Kubernetes sets it): how a NetworkPolicy names one namespace. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

export interface RedisManifestOptions {
    /** Base name: StatefulSet and client Service `<name>`, headless Service `<name>-headless`, ... */
    readonly name: string;
    readonly namespace: string;
    readonly redis: RedisSettings;
    /** Labels of the app pods that may reach the client port. */
    readonly clientPodLabels: LabelSelectorMatch;
}

/** The certificates of a TLS cluster (PEM; Outputs under Pulumi, plain text locally and in `npm run render`). */
export interface TlsMaterial {
    readonly certificatePem: pulumi.Input<string>;
    readonly keyPem: pulumi.Input<string>;
    readonly caPem: pulumi.Input<string>;
    /** components/redis/tls.ts tlsDigest of the CA and the certificate: a new one rolls the pods. */
    readonly digest: pulumi.Input<string>;
}

/** Names of every object, so other components (app, formation, outputs) never guess them. */
export interface RedisObjectNames {
    readonly statefulSet: string;
    readonly headlessService: string;
    readonly clientService: string;
    /** Every user's password, one key a user: mounted by the Redis pods only. */
    readonly usersSecret: string;
    readonly configMap: string;
    readonly podDisruptionBudget: string;
    readonly networkPolicy: string;
    /** The server certificate, its key and the CA (kubernetes.io/tls), mounted by the Redis pods. */
    readonly tlsSecret: string;
    /** The CA certificate alone, for clients (the app, other applications). */
    readonly caConfigMap: string;
}

export function redisObjectNames(name: string): RedisObjectNames {
    return {
        statefulSet: name,
        headlessService: `${name}-headless`,
        clientService: name,
        usersSecret: `${name}-users`,
        configMap: `${name}-config`,
        podDisruptionBudget: name,
        networkPolicy: name,
        tlsSecret: `${name}-tls`,
        caConfigMap: `${name}-ca`,
    };
}

/** A user's own Secret (`username`, `password`): what its client references. */
export function userSecretName(name: string, user: AclUserName): string {
    return `${name}-user-${user}`;
}

/** Every user's password, as the Redis pods and the rotation read them. */
export type UserPasswords = Readonly<Record<AclUserName, pulumi.Input<string>>>;

/** Labels on every Redis pod (and the selector of every Redis object). */
export function redisPodLabels(name: string): LabelSelectorMatch {
    return { "app.kubernetes.io/name": "redis-cluster", "app.kubernetes.io/instance": name, "app.kubernetes.io/component": "redis" };
}

/** How the pods of this cluster are named in DNS (components/shape.ts builds the names). */
export function podNaming(o: Pick<RedisManifestOptions, "name" | "namespace">): PodNaming {
    const names = redisObjectNames(o.name);
    return { statefulSet: names.statefulSet, headlessService: names.headlessService, namespace: o.namespace };
}

/** Namespace with the `restricted` Pod Security Standard: every pod here is built to meet it. */
export function renderNamespace(namespace: string): NamespaceManifest {
    return {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: {
            name: namespace,
            labels: { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted" },
        },
    };
}

function metadata(o: RedisManifestOptions, name: string) {
    return { name, namespace: o.namespace, labels: redisPodLabels(o.name) };
}

/**
 * Every user's password, one key a user (the Redis pods mount it at USERS_MOUNT; a password never
 * enters a ConfigMap). Mounted, not env: the kubelet updates the files of running pods, so in-pod
 * scripts use a rotated admin password without a restart.
 */
export function renderUsersSecret(o: RedisManifestOptions, passwords: UserPasswords): SecretManifest {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: metadata(o, redisObjectNames(o.name).usersSecret),
        type: "Opaque",
        stringData: Object.fromEntries(ACL_USERS.map((u) => [u, passwords[u]])),
    };
}

/** One client user's own Secret: its name and password, all a client needs besides the CA. */
export function renderUserSecret(o: RedisManifestOptions, user: AclUserName, password: pulumi.Input<string>): SecretManifest {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: metadata(o, userSecretName(o.name, user)),
        type: "Opaque",
        stringData: { [USERNAME_KEY]: user, [PASSWORD_KEY]: password },
    };
}

/** The TLS Secret: what `tls-cert-file`, `tls-key-file` and `tls-ca-cert-file` read in every Redis pod. */
export function renderTlsSecret(o: RedisManifestOptions, tls: TlsMaterial): SecretManifest {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: metadata(o, redisObjectNames(o.name).tlsSecret),
        type: "kubernetes.io/tls",
        stringData: { [TLS_FILES.certificate]: tls.certificatePem, [TLS_FILES.key]: tls.keyPem, [TLS_FILES.ca]: tls.caPem },
    };
}

/** The CA certificate as clients mount it (public, so a ConfigMap, as Kubernetes' own kube-root-ca.crt). */
export function renderCaConfigMap(o: RedisManifestOptions, caPem: pulumi.Input<string>): ConfigMapManifest {
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: metadata(o, redisObjectNames(o.name).caConfigMap),
        data: { [TLS_FILES.ca]: caPem },
    };
}

/** maxmemory and buffer limits of these pods, from their memory limit (the rule: redisConf.ts MemoryPlan). */
export function redisMemoryPlan(redis: RedisSettings): MemoryPlan {
    return memoryPlan(quantityBytes(redis.resources.limits.memory), redis.replicasPerMaster);
}

/**
 * The container scripts shipped in the ConfigMap and mounted at SCRIPTS_MOUNT: the entry, the probes,
 * the preStop handover, the failover agent, the decisions they share and the one redis-cli helper
 * every one of them sources.
 */
export const CONTAINER_SCRIPTS = [
    "node-start.sh",
    "probe.sh",
    "handover.sh",
    "failover-agent.sh",
    "failover-decisions.sh",
    "rediscli.sh",
    "dns.sh",
    "surge.sh",
    "election.sh",
] as const;
export type ContainerScript = (typeof CONTAINER_SCRIPTS)[number];

/** Reads a container script shipped next to this file (components/redis/*.sh). */
export function readScript(file: ContainerScript): string {
    const p = path.join(SCRIPTS_DIR, file);
    if (!fs.existsSync(p)) throw new Error(`${p} is missing: the Redis container cannot start without it`);
    return fs.readFileSync(p, "utf8");
}

/** The surge pod's name (`redis-6` for 3x1), or "" when the StatefulSet has none: the ConfigMap's SURGE_POD_KEY. */
export function surgePodName(o: Pick<RedisManifestOptions, "name" | "redis">): string {
    return o.redis.surgeReplica ? podName(redisObjectNames(o.name).statefulSet, surgeOrdinal(o.redis)) : "";
}

/** Shared redis.conf, the ACL template, the surge pod's name, and the container scripts. Secret-free by construction. */
export function renderConfigMap(o: RedisManifestOptions): ConfigMapManifest {
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: metadata(o, redisObjectNames(o.name).configMap),
        data: {
            "users.acl": renderAclTemplate(),
            "redis.conf": renderRedisConf({
                nodeTimeoutMs: o.redis.nodeTimeoutMs,
                port: CLIENT_PORT,
                preferredEndpointType: "hostname",
                memory: redisMemoryPlan(o.redis),
                tls: o.redis.tls,
                migrationBarrier: o.redis.surgeReplica ? 2 : 1,
            }),
            ...Object.fromEntries(CONTAINER_SCRIPTS.map((script) => [script, readScript(script)])),
            [SURGE_POD_KEY]: surgePodName(o),
        },
    };
}

function ports(withBus: boolean): k8s.types.input.core.v1.ServicePort[] {
    const client = { name: "client", port: CLIENT_PORT, targetPort: "client" };
    return withBus ? [client, { name: "bus", port: busPort(), targetPort: "bus" }] : [client];
}

/**
 * Headless Service: gives every pod its stable DNS name. Not-ready pods are published too, because
 * nodes must resolve each other while the cluster is still being formed or is recovering.
 */
export function renderHeadlessService(o: RedisManifestOptions): ServiceManifest {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: metadata(o, redisObjectNames(o.name).headlessService),
        spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: redisPodLabels(o.name), ports: ports(true) },
    };
}

/** ClusterIP client Service: a seed for cluster clients inside Kubernetes. Never a LoadBalancer. */
export function renderClientService(o: RedisManifestOptions): ServiceManifest {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: metadata(o, redisObjectNames(o.name).clientService),
        spec: { type: "ClusterIP", selector: redisPodLabels(o.name), ports: ports(false) },
    };
}

function fieldEnv(name: string, fieldPath: string): EnvVar {
    return { name, valueFrom: { fieldRef: { fieldPath } } };
}

/** The env contract of node-start.sh and probe.sh (see the issue-5 contract). */
export function redisContainerEnv(o: RedisManifestOptions): EnvVar[] {
    return [
        fieldEnv("POD_NAME", "metadata.name"),
        fieldEnv("POD_NAMESPACE", "metadata.namespace"),
        fieldEnv("POD_IP", "status.podIP"),
        // Kubernetes expands $(VAR) from variables defined above: the same name podDnsName gives every pod.
        { name: "POD_HOSTNAME", value: podDnsName({ ...podNaming(o), namespace: "$(POD_NAMESPACE)" }, "$(POD_NAME)") },
        { name: "REDIS_USERS_DIR", value: USERS_MOUNT },
        { name: "REDIS_ACL_TEMPLATE", value: ACL_TEMPLATE_PATH },
        { name: "REDIS_DATA_DIR", value: "/data" },
        { name: "REDIS_SHARED_CONF", value: `${CONF_MOUNT}/redis.conf` },
        { name: "REDIS_RUNTIME_CONF", value: RUNTIME_CONF_PATH },
        surgeFileEnv,
        electionHoldEnv,
        ...(o.redis.tls ? [{ name: "REDIS_TLS_DIR", value: TLS_MOUNT }] : []),
    ];
}

/** Where every container running in-pod scripts reads the surge pod's name (empty file: no surge pod). */
const surgeFileEnv: EnvVar = { name: SURGE_FILE_ENV, value: SURGE_POD_FILE };

function probe(mode: "ready" | "live", periodSeconds: number, failureThreshold: number): Probe {
    return { exec: { command: ["sh", `${SCRIPTS_MOUNT}/probe.sh`, mode] }, periodSeconds, timeoutSeconds: 5, failureThreshold };
}

const restrictedContainerSecurity: k8s.types.input.core.v1.SecurityContext = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
};

/** The election hold (election.sh): the agent writes it, the Redis container's liveness probe reads it. */
const electionHoldEnv: EnvVar = { name: ELECTION_HOLD_ENV, value: ELECTION_HOLD_FILE };
const runMount = { name: RUN_VOLUME, mountPath: RUN_MOUNT };

/** The ConfigMap's configuration files (config volume), read-only. */
const confMount = { name: "config", mountPath: CONF_MOUNT, readOnly: true };

function redisContainer(o: RedisManifestOptions): Container {
    const handover = o.redis.handover
        ? {
              // A master hands its slots to an in-sync replica before Redis stops (handover.sh).
              lifecycle: { preStop: { exec: { command: ["sh", `${SCRIPTS_MOUNT}/handover.sh`] } } },
          }
        : {};
    return {
        name: REDIS_CONTAINER,
        image: o.redis.image,
        command: ["sh", `${SCRIPTS_MOUNT}/node-start.sh`, "redis-server", RUNTIME_CONF_PATH],
        ports: [
            { name: "client", containerPort: CLIENT_PORT },
            { name: "bus", containerPort: busPort() },
        ],
        env: [
            ...redisContainerEnv(o),
            ...(o.redis.handover ? [{ name: "HANDOVER_TIMEOUT_SECONDS", value: String(HANDOVER_TIMEOUT_SECONDS) }] : []),
        ],
        resources: o.redis.resources,
        ...handover,
        // Loading a large AOF may take a while: liveness starts only once the server answers.
        startupProbe: probe("live", 2, 150),
        livenessProbe: probe("live", 10, 3),
        readinessProbe: probe("ready", 5, 2),
        securityContext: restrictedContainerSecurity,
        volumeMounts: [
            { name: "data", mountPath: "/data" },
            confMount,
            { name: "scripts", mountPath: SCRIPTS_MOUNT, readOnly: true },
            runMount,
            { name: USERS_VOLUME, mountPath: USERS_MOUNT, readOnly: true },
            ...(o.redis.tls ? [{ name: TLS_VOLUME, mountPath: TLS_MOUNT, readOnly: true }] : []),
        ],
    };
}

/**
/**
 * The takeover agent: while its node is a replica it watches the master and, when the master's
 * death is confirmed and this replica was in sync, makes it take over at once (failover-agent.sh).
 * Its own CPU limit is generous on purpose: throttled, it would notice a crash late. Over TLS it
 * dials its own node and its master's pod with the CA alone mounted (rediscli.sh), never the key.
 */
function failoverAgentContainer(o: RedisManifestOptions): Container {
    return {
        name: FAILOVER_AGENT_CONTAINER,
        image: o.redis.image,
        command: ["sh", `${SCRIPTS_MOUNT}/failover-agent.sh`],
        env: [
            fieldEnv("POD_NAME", "metadata.name"),
            fieldEnv("POD_IP", "status.podIP"),
            // As admin (rediscli.sh), from the users Secret the kubelet keeps current through a rotation.
            { name: "REDIS_USERS_DIR", value: USERS_MOUNT },
            // The agent retires the surge pod once its shard has its own replica back.
            surgeFileEnv,
            { name: "SURGE_RETIRE_SECONDS", value: String(SURGE_RETIRE_SECONDS) },
            // It holds its node's automatic election while the master is silent (election.sh).
            electionHoldEnv,
            ...(o.redis.tls ? [{ name: "REDIS_TLS_DIR", value: CA_MOUNT }] : []),
        ],
        resources: { requests: { cpu: "20m", memory: "16Mi" }, limits: { cpu: "200m", memory: "32Mi" } },
        securityContext: restrictedContainerSecurity,
        volumeMounts: [
            confMount,
            runMount,
            { name: "scripts", mountPath: SCRIPTS_MOUNT, readOnly: true },
            { name: USERS_VOLUME, mountPath: USERS_MOUNT, readOnly: true },
            ...(o.redis.tls ? [{ name: "tls-ca", mountPath: CA_MOUNT, readOnly: true }] : []),
        ],
    };
}

/**
 * The exporter scrapes its own pod: over TLS it dials `rediss://localhost` and verifies the server
 * against the CA (the certificate names localhost), with the CA alone mounted (not the key).
 */
function exporterContainer(o: RedisManifestOptions): Container {
    const tls = o.redis.tls
        ? {
              env: [
                  { name: "REDIS_ADDR", value: `rediss://localhost:${CLIENT_PORT}` },
                  { name: "REDIS_EXPORTER_TLS_CA_CERT_FILE", value: `${CA_MOUNT}/${TLS_FILES.ca}` },
              ],
              volumeMounts: [{ name: "tls-ca", mountPath: CA_MOUNT, readOnly: true }],
          }
        : { env: [{ name: "REDIS_ADDR", value: `redis://localhost:${CLIENT_PORT}` }], volumeMounts: [] };
    return {
        name: EXPORTER_CONTAINER,
        image: o.redis.exporterImage,
        args: [...EXPORTER_ARGS],
        ports: [{ name: "metrics", containerPort: METRICS_PORT }],
        env: [
            ...tls.env,
            { name: "REDIS_USER", value: EXPORTER_USER },
            {
                name: "REDIS_PASSWORD",
                valueFrom: { secretKeyRef: { name: userSecretName(o.name, EXPORTER_USER), key: PASSWORD_KEY } },
            },
        ],
        ...(tls.volumeMounts.length ? { volumeMounts: tls.volumeMounts } : {}),
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
        readinessProbe: { httpGet: { path: "/health", port: "metrics" }, periodSeconds: 10 },
        securityContext: restrictedContainerSecurity,
    };
}

export const ZONE_KEY = "topology.kubernetes.io/zone";
export const HOSTNAME_KEY = "kubernetes.io/hostname";

/**
 * Spread over zones, then nodes. Disks are zonal, so a pod stays in the zone of its first placement:
 * a soft zone spread that once lands skewed (a zone full or down at that moment) stays skewed for
 * good. `required` makes it hard, and minDomains keeps it from collapsing: while fewer than
 * `minZones` zones can take a pod, the scheduler counts the missing zones as empty, so at most
 * maxSkew pods go to each zone that can, and the rest wait until their zone is back. Nodes stay
 * soft, since a zone may have fewer nodes than pods; the formation pairs replicas across nodes.
 */
function topologySpread(o: RedisManifestOptions): k8s.types.input.core.v1.TopologySpreadConstraint[] {
    const common = { maxSkew: 1, nodeTaintsPolicy: "Honor", labelSelector: { matchLabels: redisPodLabels(o.name) } };
    const zone =
        o.redis.zoneSpread === "required"
            ? { topologyKey: ZONE_KEY, whenUnsatisfiable: "DoNotSchedule", minDomains: o.redis.minZones, ...common }
            : { topologyKey: ZONE_KEY, whenUnsatisfiable: "ScheduleAnyway", ...common };
    return [zone, { topologyKey: HOSTNAME_KEY, whenUnsatisfiable: "ScheduleAnyway", ...common }];
}

/**
 * Digest of the ConfigMap's data: the pod template changes exactly when the config does. All but the
 * surge pod's name (paths.ts SURGE_POD_KEY): that changes with the shape, and the pods read it afresh
 * from the mounted file, so a new shape must not roll them.
 */
export function configDigest(o: RedisManifestOptions): string {
    const data = renderConfigMap(o).data as Record<string, string>;
    const hash = crypto.createHash("sha256");
    for (const key of Object.keys(data).sort()) if (key !== SURGE_POD_KEY) hash.update(`${key}\0${data[key]}\0`);
    return hash.digest("hex");
}

/** The pod's volumes: the ConfigMap's conf and scripts, the runtime conf's emptyDir and, with TLS, the Secret. */
function podVolumes(o: RedisManifestOptions): k8s.types.input.core.v1.Volume[] {
    const names = redisObjectNames(o.name);
    const tls: k8s.types.input.core.v1.Volume[] = o.redis.tls
        ? [
              // Group-readable: fsGroup is Redis' gid, so Redis reads its key and nobody else in the pod needs it.
              { name: TLS_VOLUME, secret: { secretName: names.tlsSecret, defaultMode: 0o440 } },
              // The CA alone, for the containers that dial Redis but must not read its key.
              ...(o.redis.exporter || o.redis.takeover
                  ? [
                        {
                            name: "tls-ca",
                            secret: { secretName: names.tlsSecret, items: [{ key: TLS_FILES.ca, path: TLS_FILES.ca }], defaultMode: 0o444 },
                        },
                    ]
                  : []),
          ]
        : [];
    return [
        {
            name: "config",
            configMap: {
                name: names.configMap,
                items: ["redis.conf", "users.acl", SURGE_POD_KEY].map((key) => ({ key, path: key })),
            },
        },
        {
            name: "scripts",
            configMap: { name: names.configMap, items: CONTAINER_SCRIPTS.map((script) => ({ key: script, path: script })) },
        },
        { name: RUN_VOLUME, emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
        // Group-readable (fsGroup is Redis' gid), as the TLS key.
        { name: USERS_VOLUME, secret: { secretName: names.usersSecret, defaultMode: 0o440 } },
        ...tls,
    ];
}

/**
 * masters × (1 + replicas) pods, and the surge pod when there is one, started in parallel; formation
 * (not the pod order) decides roles.
 * `tlsDigest` (TlsMaterial.digest) rolls the pods when a certificate is renewed: Redis reads its
 * certificate files when it starts.
 */
export function renderStatefulSet(
    o: RedisManifestOptions,
    tlsDigest?: pulumi.Input<string>,
    exporterPassword?: pulumi.Input<string>,
): StatefulSetManifest {
    const names = redisObjectNames(o.name);
    const labels = redisPodLabels(o.name);
    const containers = [
        redisContainer(o),
        ...(o.redis.takeover ? [failoverAgentContainer(o)] : []),
        ...(o.redis.exporter ? [exporterContainer(o)] : []),
    ];
    return {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: metadata(o, names.statefulSet),
        spec: {
            serviceName: names.headlessService,
            replicas: statefulSetReplicas(o.redis, o.redis.surgeReplica),
            podManagementPolicy: "Parallel",
            selector: { matchLabels: labels },
            updateStrategy: { type: "RollingUpdate" },
            // Data outlives scale-in and `pulumi destroy` of the StatefulSet: deleting it is a human decision.
            persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
            template: {
                metadata: {
                    labels,
                    annotations: {
                        // A changed redis.conf or script rolls the pods one at a time (readiness-gated).
                        "redis-cluster-gke/config-sha256": configDigest(o),
                        ...(tlsDigest !== undefined ? { "redis-cluster-gke/tls-sha256": tlsDigest } : {}),
                        // The exporter reads its password from env once: a rotated one rolls the pods.
                        ...(o.redis.exporter && exporterPassword !== undefined
                            ? {
                                  "redis-cluster-gke/exporter-password-sha256": mapInput(exporterPassword, (p) =>
                                      passwordHash(`exporter:${p}`),
                                  ),
                              }
                            : {}),
                        ...(o.redis.exporter
                            ? {
                                  "prometheus.io/scrape": "true",
                                  "prometheus.io/port": String(METRICS_PORT),
                                  "prometheus.io/path": "/metrics",
                              }
                            : {}),
                    },
                },
                spec: {
                    securityContext: {
                        runAsNonRoot: true,
                        runAsUser: REDIS_UID,
                        runAsGroup: REDIS_UID,
                        fsGroup: REDIS_UID,
                        seccompProfile: { type: "RuntimeDefault" },
                    },
                    // The preStop handover, then Redis's own shutdown (redisDefaults.ts).
                    terminationGracePeriodSeconds: REDIS_TERMINATION_GRACE_SECONDS,
                    enableServiceLinks: false,
                    // Redis never calls the Kubernetes API: no token in the pods for an attacker to use.
                    automountServiceAccountToken: false,
                    topologySpreadConstraints: topologySpread(o),
                    containers,
                    volumes: podVolumes(o),
                },
            },
            volumeClaimTemplates: [
                {
                    metadata: { name: "data", labels },
                    spec: {
                        accessModes: ["ReadWriteOnce"],
                        ...(o.redis.storageClass ? { storageClassName: o.redis.storageClass } : {}),
                        resources: { requests: { storage: o.redis.storageSize } },
                    },
                },
            ],
        },
    };
}

/** At most one Redis pod down by voluntary disruption: never a master and its replica together. */
export function renderPodDisruptionBudget(o: RedisManifestOptions): PodDisruptionBudgetManifest {
    return {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: metadata(o, redisObjectNames(o.name).podDisruptionBudget),
        spec: { maxUnavailable: 1, selector: { matchLabels: redisPodLabels(o.name) } },
    };
}

/**
 * Only Redis pods reach the client and bus ports, the app the client port, and pods of the configured
 * monitoring namespaces the metrics port. Namespaces are matched by the label Kubernetes itself sets
 * (kubernetes.io/metadata.name), not by pod labels, which anyone who may create a pod can set.
 */
export function renderNetworkPolicy(o: RedisManifestOptions): NetworkPolicyManifest {
    const redisPeers = [{ podSelector: { matchLabels: redisPodLabels(o.name) } }];
    const ingress: k8s.types.input.networking.v1.NetworkPolicyIngressRule[] = [
        {
            from: redisPeers,
            ports: [
                { protocol: "TCP", port: CLIENT_PORT },
                { protocol: "TCP", port: busPort() },
            ],
        },
        {
            from: [{ podSelector: { matchLabels: o.clientPodLabels } }, ...allowedClientPeers(o)],
            ports: [{ protocol: "TCP", port: CLIENT_PORT }],
        },
    ];
    if (o.redis.exporter) {
        ingress.push({
            from: o.redis.metricsNamespaces.map((namespace) => ({
                namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } },
            })),
            ports: [{ protocol: "TCP", port: METRICS_PORT }],
        });
    }
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: metadata(o, redisObjectNames(o.name).networkPolicy),
        spec: { podSelector: { matchLabels: redisPodLabels(o.name) }, policyTypes: ["Ingress"], ingress },
    };
}

/**
 * `redis:allowedClients` as NetworkPolicy peers: a namespace (by the label Kubernetes sets) and, in
 * the same peer (so both must match), the pods' labels.
 */
function allowedClientPeers(o: RedisManifestOptions): k8s.types.input.networking.v1.NetworkPolicyPeer[] {
    return o.redis.allowedClients.map((c) => ({
        namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: c.namespace } },
        ...(c.podLabels ? { podSelector: { matchLabels: { ...c.podLabels } } } : {}),
    }));
}

/** GKE Managed Prometheus scrapes what a PodMonitoring selects (it ignores prometheus.io/* annotations). */
export function renderPodMonitoring(o: RedisManifestOptions): PodMonitoringManifest {
    return {
        apiVersion: "monitoring.googleapis.com/v1",
        kind: "PodMonitoring",
        metadata: metadata(o, o.name),
        spec: {
            selector: { matchLabels: redisPodLabels(o.name) },
            endpoints: [{ port: "metrics", path: "/metrics", interval: "30s" }],
        },
    };
}

/**
 * The GKE StorageClass of the PVCs: pd-balanced, bound where the pod lands, expandable, and with
 * reclaimPolicy Retain unless the user opted out (retainOnDestroy false): a deleted PVC then leaves
 * its disk (a Released PersistentVolume) instead of deleting the data with it.
 */
export function renderRetainStorageClass(retain: boolean): StorageClassManifest {
    return {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name: GKE_RETAIN_STORAGE_CLASS, labels: { "app.kubernetes.io/name": "redis-cluster" } },
        provisioner: "pd.csi.storage.gke.io",
        parameters: { type: "pd-balanced" },
        reclaimPolicy: retain ? "Retain" : "Delete",
        volumeBindingMode: "WaitForFirstConsumer",
        allowVolumeExpansion: true,
    };
}

/** Every Redis object except the Namespace and the StorageClass, in apply order. */
export interface RedisManifests {
    readonly usersSecret: SecretManifest;
    /** The client users' own Secrets (CLIENT_SECRET_USERS), by user. */
    readonly userSecrets: Readonly<Partial<Record<AclUserName, SecretManifest>>>;
    readonly configMap: ConfigMapManifest;
    readonly headlessService: ServiceManifest;
    readonly clientService: ServiceManifest;
    readonly statefulSet: StatefulSetManifest;
    readonly podDisruptionBudget: PodDisruptionBudgetManifest;
    readonly networkPolicy: NetworkPolicyManifest;
    /** What the formation may do in the Kubernetes API (formationRbac.ts). */
    readonly formationRbac: FormationRbacManifests;
    /** When `redis:podMonitoring` is on. */
    readonly podMonitoring?: PodMonitoringManifest;
    /** With TLS: the certificates (Redis pods) and the CA (clients). */
    readonly tlsSecret?: SecretManifest;
    readonly caConfigMap?: ConfigMapManifest;
}

/** Every object; `tls` is required exactly when `o.redis.tls` is on. */
export function renderRedisManifests(o: RedisManifestOptions, passwords: UserPasswords, tls?: TlsMaterial): RedisManifests {
    if (o.redis.tls !== (tls !== undefined)) {
        throw new Error(`tls: redis.tls is ${o.redis.tls} but certificates were ${tls ? "given" : "not given"}; they go together`);
    }
    return {
        usersSecret: renderUsersSecret(o, passwords),
        userSecrets: Object.fromEntries(CLIENT_SECRET_USERS.map((u) => [u, renderUserSecret(o, u, passwords[u])])),
        configMap: renderConfigMap(o),
        headlessService: renderHeadlessService(o),
        clientService: renderClientService(o),
        statefulSet: renderStatefulSet(o, tls?.digest, passwords[EXPORTER_USER]),
        podDisruptionBudget: renderPodDisruptionBudget(o),
        networkPolicy: renderNetworkPolicy(o),
        formationRbac: renderFormationRbac({ name: o.name, namespace: o.namespace, labels: redisPodLabels(o.name) }),
        ...(o.redis.podMonitoring ? { podMonitoring: renderPodMonitoring(o) } : {}),
        ...(tls ? { tlsSecret: renderTlsSecret(o, tls), caConfigMap: renderCaConfigMap(o, tls.caPem) } : {}),
    };
}
