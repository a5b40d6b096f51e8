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
    KEYS,
    OWNED_NAMESPACES,
    PROJECT,
    QuantityError,
    Target,
    quantityBytes,
    AppServiceType,
    ReleaseChannel,
} from "./configKeys";
import { shapeProblems } from "./shape";

export {
    APP_SERVICE_TYPES,
    CONFIG_KEYS,
    DEFAULT_EXPORTER_IMAGE,
    DEFAULT_NODE_IMAGE,
    DEFAULT_REDIS_IMAGE,
    PROJECT,
    RELEASE_CHANNELS,
    TARGETS,
    quantityBytes,
} from "./configKeys";
export type { AppServiceType, ReleaseChannel, Target } from "./configKeys";
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
}

export interface RedisSettings {
    /** Shards (masters); Redis Cluster needs at least 3 for a majority. */
    readonly masters: number;
    readonly replicasPerMaster: number;
    readonly image: string;
    /** redis_exporter sidecar on port 9121 for Prometheus. */
    readonly exporter: boolean;
    readonly exporterImage: string;
    readonly nodeTimeoutMs: number;
    /** PVC size per pod (Kubernetes quantity, e.g. 1Gi). */
    readonly storageSize: string;
    /** StorageClass of the PVCs; the cluster's default class when absent. */
    readonly storageClass?: string;
    readonly resources: ContainerResources;
    /** Secret. Generated with @pulumi/random when absent. */
    readonly password?: string;
    /** Always false for now: see readWorkload for why `true` is refused. */
    readonly tls: false;
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
            if ((OWNED_NAMESPACES as readonly string[]).includes(namespace) && !(name in known)) {
                const siblings = Object.keys(known).filter((k) => k.startsWith(namespace + ":"));
                this.errors.push(`${name}: unknown key; known keys are ${siblings.join(", ")}`);
            }
        }
    }

    throwIfInvalid(): void {
        if (this.errors.length > 0) throw new ConfigError(`invalid stack configuration:\n  - ${this.errors.join("\n  - ")}`);
    }
}

function readResources(r: Reader): ContainerResources {
    const memoryRequest = r.get(KEYS.memoryRequest);
    const memoryLimit = r.get(KEYS.memoryLimit);
    try {
        if (quantityBytes(memoryRequest) > quantityBytes(memoryLimit)) {
            r.errors.push(
                `${KEYS.memoryRequest.key}: ${memoryRequest} is above ${KEYS.memoryLimit.key} ${memoryLimit}; the request must not exceed the limit`,
            );
        }
    } catch (e) {
        // An invalid quantity is already reported under its own key.
        if (!(e instanceof QuantityError)) throw e;
    }
    return {
        requests: { cpu: r.get(KEYS.cpuRequest), memory: memoryRequest },
        limits: { cpu: r.get(KEYS.cpuLimit), memory: memoryLimit },
    };
}

function readRedis(r: Reader): RedisSettings {
    const masters = r.get(KEYS.masters);
    const replicasPerMaster = r.get(KEYS.replicasPerMaster);
    // Each count is within its own bounds here; only the total can still exceed the node limit.
    for (const p of shapeProblems({ masters, replicasPerMaster })) {
        r.errors.push(`${p.field === "masters" ? KEYS.masters.key : KEYS.replicasPerMaster.key}: ${p.reason}`);
    }
    // TLS needs per-pod certificates (issuer + rotation), `tls-cluster yes` with the bus on TLS, and the
    // start script, probes, exporter, formation and app all switched to TLS. Half of that would be
    // an unencrypted cluster that claims to be encrypted, so `true` is refused rather than ignored.
    if (r.get(KEYS.tls)) {
        r.errors.push(
            `${KEYS.tls.key}: true is not supported yet (it needs per-pod certificates and TLS in the start script, probes, exporter, formation and app); use false`,
        );
    }
    return {
        masters,
        replicasPerMaster,
        image: r.get(KEYS.image),
        exporter: r.get(KEYS.exporter),
        exporterImage: r.get(KEYS.exporterImage),
        nodeTimeoutMs: r.get(KEYS.nodeTimeoutMs),
        storageSize: r.get(KEYS.storageSize),
        storageClass: r.get(KEYS.storageClass),
        resources: readResources(r),
        password: r.get(KEYS.password),
        tls: false,
    };
}

function readWorkload(r: Reader): WorkloadSettings {
    return {
        namespace: r.get(KEYS.namespace),
        redis: readRedis(r),
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
    };
}

/**
 * Turns raw stack config into validated Settings, or throws one ConfigError listing every invalid key
 * (named, with the allowed values). Called before any resource is registered.
 */
export function parseSettings(raw: RawConfig): Settings {
    const r = new Reader(raw);
    r.checkUnknownKeys(KNOWN);
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
    const workload = readWorkload(r);
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
    const workload = readWorkload(r);
    r.throwIfInvalid();
    return workload;
}

/** Reads the stack's config (plain and secret values alike) and validates it. */
export function loadSettings(): Settings {
    return parseSettings(pulumi.runtime.allConfig());
}
