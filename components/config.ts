/**
 * Stack configuration: the one place that reads Pulumi config. `parseSettings` is pure (a map of
 * fully-qualified keys to strings in, validated typed Settings out) so every rule is unit-tested;
 * `loadSettings` is the thin shell over `pulumi.runtime.allConfig()`. Every key, with its default,
 * parser and meaning, is declared once in configKeys.ts; this file reads them and checks the rules
 * that span several keys.
 *
 * Keys live in four namespaces, so `pulumi config set` reads naturally:
 *   redis-cluster-gke:target|kubeconfig|namespace   gcp:project|region
 *   gke:*   redis:*   app:*
 */
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_NODE_TIMEOUT_MS } from "./redisDefaults";
import {
    ConfigKey,
    GKE_RETAIN_STORAGE_CLASS,
    KEYS,
    MIN_MEMORY_LIMIT,
    OWNED_NAMESPACES,
    PROJECT,
    QuantityError,
    RETIRED_KEYS,
    Target,
    quantityBytes,
    AppServiceType,
    ReleaseChannel,
    ZoneSpread,
    KubeconfigEndpoint,
} from "./configKeys";
import { shapeProblems, surgeApplies } from "./shape";
import { MaintenanceExclusion, MaintenanceWindow } from "./maintenance";
import { VOLUME_TO_MAXMEMORY, memoryPlan } from "./redis/redisConf";
import { keyMatchesCertificate } from "./redis/tls";
import { ACL_USERS, AclUserName } from "./redis/acl";
import { AllowedClient } from "./redis/allowedClients";

export {
    APP_SERVICE_TYPES,
    CONFIG_KEYS,
    DEFAULT_EXPORTER_IMAGE,
    DEFAULT_NODE_IMAGE,
    DEFAULT_REDIS_IMAGE,
    GKE_RETAIN_STORAGE_CLASS,
    PROJECT,
    RELEASE_CHANNELS,
    SECRET_CONFIG_KEYS,
    TARGETS,
    ZONE_SPREADS,
    quantityBytes,
} from "./configKeys";
export type { AppServiceType, KubeconfigEndpoint, ReleaseChannel, Target, ZoneSpread } from "./configKeys";
export { DEFAULT_NODE_TIMEOUT_MS };

/** Compute resources of one container, in Kubernetes quantity syntax. */
export interface ContainerResources {
    readonly requests: { readonly cpu: string; readonly memory: string };
    readonly limits: { readonly cpu: string; readonly memory: string };
}

export interface GkeSettings {
    /** GCP project (`gcp:project`). */
    readonly project: string;
    /** Region of the regional (multi-zone) cluster (`gcp:region`). */
    readonly region: string;
    /** Nodes per zone in the node pool; a region has three zones. */
    readonly nodesPerZone: number;
    readonly machineType: string;
    readonly releaseChannel: ReleaseChannel;
    /** Boot disk of each node, in GB. */
    readonly diskSizeGb: number;
    /** GKE deletion protection: `pulumi destroy` cannot delete the cluster while on. */
    readonly deletionProtection: boolean;
    /** Nodes without public IPs, egress through Cloud NAT. */
    readonly privateNodes: boolean;
    /** CIDRs admitted to the control plane's IP endpoint (none: no outside address; the DNS endpoint serves). */
    readonly authorizedNetworks: readonly string[];
    /** Which endpoint the stack's kubeconfig names. */
    readonly kubeconfigEndpoint: KubeconfigEndpoint;
    /** The node pool's surge upgrade: nodes added, and nodes down at once, while it upgrades. */
    readonly upgrade: { readonly maxSurge: number; readonly maxUnavailable: number };
    /** When GKE may maintain the cluster (none: any time), and when never. */
    readonly maintenanceWindow?: MaintenanceWindow;
    readonly maintenanceExclusions: readonly MaintenanceExclusion[];
}

export interface RedisSettings {
    /** Shards (masters); Redis Cluster needs at least 3 for a majority. */
    readonly masters: number;
    readonly replicasPerMaster: number;
    readonly image: string;
    /** redis_exporter sidecar on port 9121 for Prometheus. */
    readonly exporter: boolean;
    readonly exporterImage: string;
    /** The only namespaces whose pods may reach port 9121. */
    readonly metricsNamespaces: readonly string[];
    /** A GKE Managed Prometheus PodMonitoring for the exporter. */
    readonly podMonitoring: boolean;
    readonly nodeTimeoutMs: number;
    /** A stopping master hands its slots to an in-sync replica first (preStop handover.sh). */
    readonly handover: boolean;
    /** A failover-agent container per pod: an in-sync replica takes over a crashed master at once. */
    readonly takeover: boolean;
    /** The surge pod (shape.ts surgeOrdinal): one pod beyond the shape that keeps a stopping pod's shard at two copies. */
    readonly surgeReplica: boolean;
    /** PVC size per pod (Kubernetes quantity, e.g. 1Gi); at least VOLUME_TO_MAXMEMORY x maxmemory. */
    readonly storageSize: string;
    /** StorageClass of the PVCs; the cluster's default class when absent. */
    readonly storageClass?: string;
    /** Memory request = limit; maxmemory and the buffers follow from it (redisConf.ts memoryPlan). */
    readonly resources: ContainerResources;
    /** `required`: a hard zone constraint with `minZones` as minDomains; `preferred`: best effort. */
    readonly zoneSpread: ZoneSpread;
    readonly minZones: number;
    /** Each ACL user's password given in config (secret); a user left out gets a generated one (@pulumi/random). */
    readonly passwords: Readonly<Partial<Record<AclUserName, string>>>;
    /** A new value regenerates every generated password (the rotation trigger). */
    readonly passwordRotation?: string;
    /** Other applications admitted to the client port (NetworkPolicy); they connect as the `client` user. */
    readonly allowedClients: readonly AllowedClient[];
    /** TLS on every link (client, replication, cluster bus); see components/redis/tls.ts. */
    readonly tls: boolean;
    /** A CA of the user's that signs the server certificate (secret); absent: the stack makes its own. */
    readonly tlsCa?: UserCa;
}

/** A CA given in stack config, validated (components/redis/tls.ts). Both values are secrets. */
export interface UserCa {
    readonly certificatePem: string;
    readonly keyPem: string;
}

export interface AppSettings {
    readonly replicas: number;
    readonly serviceType: AppServiceType;
    /** A ready-made image of the hit-counter; when absent the bundled server runs on `nodeImage`. */
    readonly image?: string;
    readonly nodeImage: string;
}

/** What runs inside Kubernetes, whatever the target: namespace, Redis and app settings. */
export interface WorkloadSettings {
    /** Namespace for everything the program deploys. */
    readonly namespace: string;
    /** Keep the namespace (and the data in it) when the stack deletes it; see `redis-cluster-gke:retainOnDestroy`. */
    readonly retainOnDestroy: boolean;
    /** The stack creates GKE_RETAIN_STORAGE_CLASS (target gke, no `redis:storageClass` given) and the PVCs use it. */
    readonly createRetainStorageClass: boolean;
    /** Run the post-deploy check (components/postDeployCheck.ts) after the formation and the app. */
    readonly postDeployCheck: boolean;
    readonly redis: RedisSettings;
    readonly app: AppSettings;
}

/** Target `gke`: the program creates the cluster. */
export interface GkeTargetSettings extends WorkloadSettings {
    readonly target: "gke";
    readonly gke: GkeSettings;
}

/** Target `existing`: the program deploys into the cluster of a secret kubeconfig. */
export interface ExistingTargetSettings extends WorkloadSettings {
    readonly target: "existing";
    readonly kubeconfig: string;
}

/** Validated stack settings, by target. */
export type Settings = GkeTargetSettings | ExistingTargetSettings;

/** Fully-qualified config key (`namespace:key`) to its raw string value. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** Raised for invalid stack config; the message names the key and what is allowed. */
export class ConfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ConfigError";
    }
}

/** Reads keys of one raw map, collecting every problem so one run reports them all. */
class Reader {
    readonly errors: string[] = [];
    constructor(private readonly raw: RawConfig) {}

    /**
     * Keys declared secret must have been set with --secret (the engine lists those in
     * `secretKeys`); set in plain text they sit unencrypted in Pulumi.<stack>.yaml and the state.
     */
    checkSecrets(known: Readonly<Record<string, ConfigKey<unknown>>>, secretKeys: ReadonlySet<string>): void {
        for (const [name, k] of Object.entries(known)) {
            if (k.secret && this.has(k) && !secretKeys.has(name)) {
                this.errors.push(
                    `${name}: set in plain text, so it is stored unencrypted in Pulumi.<stack>.yaml; make it a secret (the value is not shown): pulumi config set --secret ${name} "$(pulumi config get ${name})"`,
                );
            }
        }
    }

    /** Whether the key has a (non-empty) value. */
    has(k: ConfigKey<unknown>): boolean {
        const v = this.raw[k.key];
        return v !== undefined && v !== "";
    }

    /** The key's value, or its default when absent or not allowed (the problem is recorded). */
    get<T>(k: ConfigKey<T>): T {
        const text = this.raw[k.key];
        if (text === undefined || text === "") return k.fallback;
        const parsed = k.parse(text);
        if ("value" in parsed) return parsed.value;
        // Secret values are never echoed in an error.
        this.errors.push(
            k.secret
                ? `${k.key}: ${parsed.problem} (the value is not shown)`
                : `${k.key}: ${JSON.stringify(text)} is not allowed; ${parsed.problem}`,
        );
        return k.fallback;
    }

    /** The key's value; absent, it is reported as required `why`. */
    required<T>(k: ConfigKey<T | undefined>, why: string): T | undefined {
        if (!this.has(k)) this.errors.push(`${k.key}: required ${why}`);
        return this.get(k);
    }

    /** Unknown keys in this program's own namespaces are typos: refuse them rather than ignore them. */
    checkUnknownKeys(known: Readonly<Record<string, unknown>>): void {
        for (const name of Object.keys(this.raw)) {
            const namespace = name.split(":")[0];
            if (name in RETIRED_KEYS) {
                this.errors.push(`${name}: ${RETIRED_KEYS[name]}`);
            } else if ((OWNED_NAMESPACES as readonly string[]).includes(namespace) && !(name in known)) {
                const siblings = Object.keys(known).filter((k) => k.startsWith(namespace + ":"));
                this.errors.push(`${name}: unknown key; known keys are ${siblings.join(", ")}`);
            }
        }
    }

    throwIfInvalid(): void {
        if (this.errors.length > 0) throw new ConfigError(`invalid stack configuration:\n  - ${this.errors.join("\n  - ")}`);
    }
}

/** Bytes of a quantity, or undefined when it is not one (already reported under its own key). */
function bytesOf(quantity: string): number | undefined {
    try {
        return quantityBytes(quantity);
    } catch (e) {
        if (e instanceof QuantityError) return undefined;
        throw e;
    }
}

const GI = 2 ** 30;

/**
 * The container's memory (request = limit, so the pod is never the first evicted or OOM-killed for
 * being above its request) and the volume, sized from maxmemory (redisConf.ts memoryPlan).
 */
function readMemoryAndStorage(r: Reader, replicasPerMaster: number): { resources: ContainerResources; storageSize: string } {
    const memoryLimit = r.get(KEYS.memoryLimit);
    const limitBytes = bytesOf(memoryLimit);
    if (limitBytes !== undefined && limitBytes < (bytesOf(MIN_MEMORY_LIMIT) ?? 0)) {
        r.errors.push(
            `${KEYS.memoryLimit.key}: ${memoryLimit} is below ${MIN_MEMORY_LIMIT}; Redis gets half of the limit for data, the rest is for the fork and buffers`,
        );
    }
    const plan = memoryPlan(limitBytes ?? bytesOf(KEYS.memoryLimit.fallback) ?? 0, replicasPerMaster);
    const minimumGi = `${Math.ceil(plan.minVolumeBytes / GI)}Gi`;
    const storageSize = r.get(KEYS.storageSize) ?? minimumGi;
    const storageBytes = bytesOf(storageSize);
    if (limitBytes !== undefined && storageBytes !== undefined && storageBytes < plan.minVolumeBytes) {
        r.errors.push(
            `${KEYS.storageSize.key}: ${storageSize} is below ${VOLUME_TO_MAXMEMORY} x maxmemory (${minimumGi} for ${KEYS.memoryLimit.key} ${memoryLimit}): ` +
                `the AOF, its rewrite and a replica's sync file would fill it and Redis would refuse writes; use at least ${minimumGi} or a smaller memory limit`,
        );
    }
    return {
        resources: {
            requests: { cpu: r.get(KEYS.cpuRequest), memory: memoryLimit },
            limits: { cpu: r.get(KEYS.cpuLimit), memory: memoryLimit },
        },
        storageSize,
    };
}

/** What the exporter needs; `podMonitoring` undefined takes the target's default. */
function readMetrics(
    r: Reader,
    exporter: boolean,
    podMonitoringDefault: boolean,
): Pick<RedisSettings, "metricsNamespaces" | "podMonitoring"> {
    const podMonitoring = r.get(KEYS.podMonitoring);
    if (podMonitoring === true && !exporter) {
        r.errors.push(
            `${KEYS.podMonitoring.key}: true needs ${KEYS.exporter.key} true (the PodMonitoring scrapes the exporter); set it to false`,
        );
    }
    return { metricsNamespaces: r.get(KEYS.metricsNamespaces), podMonitoring: exporter && (podMonitoring ?? podMonitoringDefault) };
}

function readRedis(r: Reader, target: Target | undefined): RedisSettings {
    const masters = r.get(KEYS.masters);
    const replicasPerMaster = r.get(KEYS.replicasPerMaster);
    // Each count is within its own bounds here; only the total can still exceed the node limit.
    for (const p of shapeProblems({ masters, replicasPerMaster })) {
        r.errors.push(`${p.field === "masters" ? KEYS.masters.key : KEYS.replicasPerMaster.key}: ${p.reason}`);
    }
    const tls = r.get(KEYS.tls);
    const exporter = r.get(KEYS.exporter);
    const { resources, storageSize } = readMemoryAndStorage(r, replicasPerMaster);
    return {
        masters,
        replicasPerMaster,
        image: r.get(KEYS.image),
        exporter,
        exporterImage: r.get(KEYS.exporterImage),
        ...readMetrics(r, exporter, target === "gke"),
        nodeTimeoutMs: r.get(KEYS.nodeTimeoutMs),
        handover: r.get(KEYS.handover),
        takeover: r.get(KEYS.takeover),
        surgeReplica: surgeApplies({ replicasPerMaster }),
        storageSize,
        storageClass: r.get(KEYS.storageClass) ?? (target === "gke" ? GKE_RETAIN_STORAGE_CLASS : undefined),
        resources,
        zoneSpread: r.get(KEYS.zoneSpread),
        minZones: r.get(KEYS.minZones),
        passwords: readPasswords(r),
        passwordRotation: r.get(KEYS.passwordRotation),
        allowedClients: r.get(KEYS.allowedClients),
        tls,
        tlsCa: readUserCa(r, tls),
    };
}

/** The passwords given in config, by user (a user without one gets a generated password). */
function readPasswords(r: Reader): Partial<Record<AclUserName, string>> {
    const given: Partial<Record<AclUserName, string>> = {};
    for (const user of ACL_USERS) {
        const value = r.get(KEYS[`${user}Password`]);
        if (value !== undefined) given[user] = value;
    }
    return given;
}

/** `redis:tlsCaCertificate` and `redis:tlsCaKey`: both or neither, only with TLS, and the key must be the certificate's. */
function readUserCa(r: Reader, tls: boolean): UserCa | undefined {
    const certificatePem = r.get(KEYS.tlsCaCertificate);
    const keyPem = r.get(KEYS.tlsCaKey);
    const given = [KEYS.tlsCaCertificate, KEYS.tlsCaKey].filter((k) => r.has(k)).map((k) => k.key);
    if (given.length === 0) return undefined;
    if (!tls) {
        for (const key of given) r.errors.push(`${key}: only used with ${KEYS.tls.key} true; remove it or set ${KEYS.tls.key} true`);
        return undefined;
    }
    if (given.length === 1) {
        const missing = given[0] === KEYS.tlsCaKey.key ? KEYS.tlsCaCertificate.key : KEYS.tlsCaKey.key;
        r.errors.push(`${given[0]}: needs ${missing} too (set both, with --secret, or neither)`);
        return undefined;
    }
    if (certificatePem === undefined || keyPem === undefined) return undefined; // each already reported under its key
    if (!keyMatchesCertificate(certificatePem, keyPem)) {
        r.errors.push(
            `${KEYS.tlsCaKey.key}: not the private key of ${KEYS.tlsCaCertificate.key} (the certificate's public key does not match it; the values are not shown)`,
        );
        return undefined;
    }
    return { certificatePem, keyPem };
}

/** `target` is undefined when only the in-cluster objects are rendered (no target, no cloud defaults). */
function readWorkload(r: Reader, target: Target | undefined): WorkloadSettings {
    return {
        namespace: r.get(KEYS.namespace),
        retainOnDestroy: r.get(KEYS.retainOnDestroy),
        createRetainStorageClass: target === "gke" && !r.has(KEYS.storageClass),
        postDeployCheck: r.get(KEYS.postDeployCheck),
        redis: readRedis(r, target),
        app: {
            replicas: r.get(KEYS.appReplicas),
            serviceType: r.get(KEYS.serviceType),
            image: r.get(KEYS.appImage),
            nodeImage: r.get(KEYS.nodeImage),
        },
    };
}

const KNOWN = Object.fromEntries(Object.values(KEYS).map((k) => [k.key, k]));

function readGke(r: Reader): GkeSettings {
    return {
        project: r.required(KEYS.project, "for target gke (pulumi config set gcp:project <id>)") ?? "",
        region: r.required(KEYS.region, "for target gke (pulumi config set gcp:region europe-west1)") ?? "",
        nodesPerZone: r.get(KEYS.nodesPerZone),
        machineType: r.get(KEYS.machineType),
        releaseChannel: r.get(KEYS.releaseChannel),
        diskSizeGb: r.get(KEYS.diskSizeGb),
        deletionProtection: r.get(KEYS.deletionProtection),
        privateNodes: r.get(KEYS.privateNodes),
        authorizedNetworks: r.get(KEYS.authorizedNetworks),
        kubeconfigEndpoint: readKubeconfigEndpoint(r),
        ...readMaintenance(r),
    };
}

/** GKE refuses a surge upgrade that adds no node and takes none down, and exclusions without a window. */
function readMaintenance(r: Reader): Pick<GkeSettings, "upgrade" | "maintenanceWindow" | "maintenanceExclusions"> {
    const upgrade = { maxSurge: r.get(KEYS.upgradeMaxSurge), maxUnavailable: r.get(KEYS.upgradeMaxUnavailable) };
    if (upgrade.maxSurge === 0 && upgrade.maxUnavailable === 0) {
        r.errors.push(
            `${KEYS.upgradeMaxSurge.key}: 0 with ${KEYS.upgradeMaxUnavailable.key} 0 (both 0) would upgrade no node; set ${KEYS.upgradeMaxSurge.key} to 1 (a new node first) or more`,
        );
    }
    const maintenanceWindow = r.get(KEYS.maintenanceWindow);
    const maintenanceExclusions = r.get(KEYS.maintenanceExclusions);
    if (maintenanceExclusions.length > 0 && !maintenanceWindow) {
        r.errors.push(
            `${KEYS.maintenanceExclusions.key}: GKE takes exclusions only with a maintenance window; set ${KEYS.maintenanceWindow.key} too (e.g. "SA,SU 01:00-07:00")`,
        );
    }
    return { upgrade, maintenanceWindow, maintenanceExclusions };
}

/** The IP endpoint is reachable only from the authorized networks, so it needs some. */
function readKubeconfigEndpoint(r: Reader): KubeconfigEndpoint {
    const endpoint = r.get(KEYS.kubeconfigEndpoint);
    if (endpoint === "ip" && r.get(KEYS.authorizedNetworks).length === 0) {
        r.errors.push(
            `${KEYS.kubeconfigEndpoint.key}: ip needs ${KEYS.authorizedNetworks.key} (the IP endpoint admits no outside address without it); list the network Pulumi runs from, or use dns`,
        );
    }
    return endpoint;
}

/**
 * Turns raw stack config into validated Settings, or throws one ConfigError listing every invalid key
 * (named, with the allowed values). Called before any resource is registered. `secretKeys` are the
 * keys the engine says were set with --secret; a key declared secret must be among them.
 */
export function parseSettings(raw: RawConfig, secretKeys: ReadonlySet<string>): Settings {
    const r = new Reader(raw);
    r.checkUnknownKeys(KNOWN);
    r.checkSecrets(KNOWN, secretKeys);
    const target: Target = r.get(KEYS.target);
    const kubeconfig = r.get(KEYS.kubeconfig);
    if (target === "existing" && !r.has(KEYS.kubeconfig)) {
        r.errors.push(
            `${KEYS.kubeconfig.key}: required for target existing (pulumi config set --secret ${PROJECT}:kubeconfig "$(cat kubeconfig.yaml)")`,
        );
    }
    if (target === "gke" && r.has(KEYS.kubeconfig)) {
        r.errors.push(
            `${KEYS.kubeconfig.key}: only used with target existing; target gke builds its own kubeconfig (remove the key or set target existing)`,
        );
    }
    const gke = target === "gke" ? readGke(r) : undefined;
    const workload = readWorkload(r, target);
    r.throwIfInvalid();
    return gke ? { target: "gke", gke, ...workload } : { target: "existing", kubeconfig: kubeconfig ?? "", ...workload };
}

/**
 * Only the in-cluster part (namespace, Redis, app), for rendering YAML without a target: target,
 * kubeconfig and GCP keys are ignored; everything else is validated exactly as by parseSettings.
 */
export function parseWorkloadSettings(raw: RawConfig): WorkloadSettings {
    const r = new Reader(raw);
    r.checkUnknownKeys(KNOWN);
    const workload = readWorkload(r, undefined);
    r.throwIfInvalid();
    return workload;
}

/**
 * The keys of `config` that were set with --secret. The engine passes their names in the
 * PULUMI_CONFIG_SECRET_KEYS config entry; @pulumi/pulumi reads it in isConfigSecret, which its
 * typings do not export.
 */
function engineSecretKeys(config: RawConfig): ReadonlySet<string> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };
    return new Set(Object.keys(config).filter((k) => isConfigSecret(k)));
}

/** Reads the stack's config (plain and secret values alike) and validates it. */
export function loadSettings(): Settings {
    const config = pulumi.runtime.allConfig();
    return parseSettings(config, engineSecretKeys(config));
}
