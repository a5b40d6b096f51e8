/**
 * Stack configuration: the one place that reads Pulumi config. `parseSettings` is pure (a map of
 * fully-qualified keys to strings in, validated typed Settings out) so every rule is unit-tested;
 * `loadSettings` is the thin shell over `pulumi.runtime.allConfig()`.
 *
 * Keys live in four namespaces, so `pulumi config set` reads naturally:
 *   redis-cluster-gke:target|kubeconfig|namespace   gcp:project|region
 *   gke:*   redis:*   app:*
 */
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { DEFAULT_NODE_TIMEOUT_MS } from "./redisDefaults";

export { DEFAULT_NODE_TIMEOUT_MS };

/** Project name from Pulumi.yaml: the namespace of the top-level keys. */
export const PROJECT = "redis-cluster-gke";

/** Images pinned by tag: Debian-based Redis because the start script needs sh and getent. */
export const DEFAULT_REDIS_IMAGE = "redis:7.2.7-bookworm";
export const DEFAULT_EXPORTER_IMAGE = "oliver006/redis_exporter:v1.66.0";
export const DEFAULT_NODE_IMAGE = "node:20.18.1-alpine3.20";

export const TARGETS = ["gke", "existing"] as const;
export type Target = (typeof TARGETS)[number];
export const RELEASE_CHANNELS = ["RAPID", "REGULAR", "STABLE"] as const;
export type ReleaseChannel = (typeof RELEASE_CHANNELS)[number];
export const APP_SERVICE_TYPES = ["LoadBalancer", "ClusterIP", "NodePort"] as const;
export type AppServiceType = (typeof APP_SERVICE_TYPES)[number];

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
    /** Always false for now: see parseSettings for why `true` is refused. */
    readonly tls: false;
}

export interface AppSettings {
    readonly replicas: number;
    readonly serviceType: AppServiceType;
    /** A ready-made image of the hit-counter; when absent the bundled server runs on `nodeImage`. */
    readonly image?: string;
    readonly nodeImage: string;
}

/** Validated stack settings. */
export interface Settings {
    readonly target: Target;
    /** Secret kubeconfig of an existing cluster; set only for target `existing`. */
    readonly kubeconfig?: string;
    /** Namespace for everything the program deploys. */
    readonly namespace: string;
    /** Set only for target `gke`. */
    readonly gke?: GkeSettings;
    readonly redis: RedisSettings;
    readonly app: AppSettings;
}

/** Fully-qualified config key (`namespace:key`) to its raw string value. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** Every key the program reads, with a one-line description (also drives the unknown-key check). */
export const CONFIG_KEYS: Readonly<Record<string, string>> = {
    [`${PROJECT}:target`]: "gke (create a GKE cluster) | existing (use `kubeconfig`); default gke",
    [`${PROJECT}:kubeconfig`]: "secret kubeconfig of an existing cluster; required for target existing",
    [`${PROJECT}:namespace`]: "Kubernetes namespace; default redis",
    "gcp:project": "GCP project; required for target gke",
    "gcp:region": "GCP region of the regional cluster; required for target gke",
    "gke:nodesPerZone": "nodes per zone (3 zones); default 1",
    "gke:machineType": "node machine type; default e2-standard-2",
    "gke:releaseChannel": "RAPID | REGULAR | STABLE; default REGULAR",
    "gke:diskSizeGb": "node boot disk in GB; default 50",
    "redis:masters": "number of shards, >= 3; default 3",
    "redis:replicasPerMaster": "replicas of each master, >= 0; default 1",
    "redis:image": `Redis image; default ${DEFAULT_REDIS_IMAGE}`,
    "redis:exporter": "true | false: redis_exporter sidecar; default true",
    "redis:exporterImage": `exporter image; default ${DEFAULT_EXPORTER_IMAGE}`,
    "redis:nodeTimeoutMs": `cluster-node-timeout in ms; default ${DEFAULT_NODE_TIMEOUT_MS}`,
    "redis:storageSize": "PVC size per pod; default 1Gi",
    "redis:storageClass": "StorageClass of the PVCs; default: the cluster's default class",
    "redis:cpuRequest": "default 100m",
    "redis:cpuLimit": "default 1",
    "redis:memoryRequest": "default 256Mi",
    "redis:memoryLimit": "default 512Mi (maxmemory is 75% of it)",
    "redis:password": "secret; generated when absent",
    "redis:tls": "false (true is not supported yet)",
    "app:replicas": "hit-counter replicas; default 2",
    "app:serviceType": "LoadBalancer | ClusterIP | NodePort; default LoadBalancer",
    "app:image": "ready-made hit-counter image; default: bundled server on the Node.js image",
    "app:nodeImage": `Node.js image running the bundled server; default ${DEFAULT_NODE_IMAGE}`,
};

/** Namespaces this program owns: unknown keys in them are typos and are refused. */
const OWNED_NAMESPACES = [PROJECT, "gke", "redis", "app"];

/** Raised for invalid stack config; the message names the key and what is allowed. */
export class ConfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ConfigError";
    }
}

const QUANTITY = /^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
const CPU_QUANTITY = /^(\d+(\.\d+)?)(m)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** repository[:tag][@sha256:digest], lowercase repository, no spaces (what a kubelet can pull). */
const IMAGE_REFERENCE = /^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;
const IMAGE_HELP = "an image reference such as redis:7.2.7-bookworm (lowercase repository, optional :tag or @sha256:digest, no spaces)";
const GCP_PROJECT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const GCP_REGION = /^[a-z]+(-[a-z]+)+[0-9]+$/;
const MACHINE_TYPE = /^[a-z0-9]+(-[a-z0-9]+)+$/;
const BINARY_SUFFIX: Readonly<Record<string, number>> = {
    "": 1,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
};

/** Bytes of a Kubernetes memory/storage quantity such as `512Mi` or `1G`. */
export function quantityBytes(quantity: string): number {
    const m = QUANTITY.exec(quantity);
    if (!m) throw new ConfigError(`not a Kubernetes quantity: ${JSON.stringify(quantity)}`);
    return Math.floor(Number(m[1]) * BINARY_SUFFIX[m[3] ?? ""]);
}

/** Reads keys of one raw map, collecting every problem so one run reports them all. */
class Reader {
    readonly errors: string[] = [];
    constructor(private readonly raw: RawConfig) {}

    string(key: string, fallback: string): string;
    string(key: string): string | undefined;
    string(key: string, fallback?: string): string | undefined {
        const v = this.raw[key];
        return v === undefined || v === "" ? fallback : v;
    }

    int(key: string, fallback: number, min: number, max: number): number {
        const v = this.string(key);
        if (v === undefined) return fallback;
        if (!/^-?\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) {
            this.errors.push(`${key}: ${JSON.stringify(v)} is not allowed; use a whole number from ${min} to ${max}`);
            return fallback;
        }
        return Number(v);
    }

    bool(key: string, fallback: boolean): boolean {
        const v = this.string(key);
        if (v === undefined) return fallback;
        if (v !== "true" && v !== "false") {
            this.errors.push(`${key}: ${JSON.stringify(v)} is not allowed; use true or false`);
            return fallback;
        }
        return v === "true";
    }

    oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
        const v = this.string(key);
        if (v === undefined) return fallback;
        if (!(allowed as readonly string[]).includes(v)) {
            this.errors.push(`${key}: ${JSON.stringify(v)} is not allowed; use one of ${allowed.join(", ")}`);
            return fallback;
        }
        return v as T;
    }

    matching(key: string, pattern: RegExp, fallback: string, allowed: string): string {
        const v = this.string(key, fallback);
        if (!pattern.test(v)) this.errors.push(`${key}: ${JSON.stringify(v)} is not allowed; use ${allowed}`);
        return v;
    }

    optionalMatching(key: string, pattern: RegExp, allowed: string): string | undefined {
        const v = this.string(key);
        if (v !== undefined && !pattern.test(v)) this.errors.push(`${key}: ${JSON.stringify(v)} is not allowed; use ${allowed}`);
        return v;
    }

    required(key: string, why: string): string {
        const v = this.string(key);
        if (v === undefined) {
            this.errors.push(`${key}: required ${why}`);
            return "";
        }
        return v;
    }

    requiredMatching(key: string, why: string, pattern: RegExp, allowed: string): string {
        const v = this.required(key, why);
        if (v !== "" && !pattern.test(v)) this.errors.push(`${key}: ${JSON.stringify(v)} is not allowed; use ${allowed}`);
        return v;
    }
}

/** A kubeconfig is a YAML/JSON mapping of kind Config (or with a `clusters` list); a path or a token is a mistake. */
function looksLikeKubeconfig(text: string): boolean {
    try {
        const doc: unknown = parseYaml(text);
        if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return false;
        const k = doc as { kind?: unknown; clusters?: unknown };
        return k.kind === "Config" || Array.isArray(k.clusters);
    } catch {
        return false;
    }
}

/** Unknown keys in this program's own namespaces are typos: refuse them rather than ignore them. */
function checkUnknownKeys(r: Reader, raw: RawConfig): void {
    for (const key of Object.keys(raw)) {
        const namespace = key.split(":")[0];
        if (OWNED_NAMESPACES.includes(namespace) && !(key in CONFIG_KEYS)) {
            r.errors.push(
                `${key}: unknown key; known keys are ${Object.keys(CONFIG_KEYS)
                    .filter((k) => k.startsWith(namespace + ":"))
                    .join(", ")}`,
            );
        }
    }
}

/** What runs inside Kubernetes, whatever the target: namespace, Redis and app settings. */
export type WorkloadSettings = Pick<Settings, "namespace" | "redis" | "app">;

function readWorkload(r: Reader): WorkloadSettings {
    const namespace = r.matching(`${PROJECT}:namespace`, DNS_LABEL, "redis", "a DNS label (lowercase letters, digits, '-')");
    const quantityHelp = "a Kubernetes quantity such as 512Mi or 1Gi";
    const cpuHelp = "a CPU quantity such as 250m or 1";
    const memoryRequest = r.matching("redis:memoryRequest", QUANTITY, "256Mi", quantityHelp);
    const memoryLimit = r.matching("redis:memoryLimit", QUANTITY, "512Mi", quantityHelp);
    if (QUANTITY.test(memoryRequest) && QUANTITY.test(memoryLimit) && quantityBytes(memoryRequest) > quantityBytes(memoryLimit)) {
        r.errors.push(
            `redis:memoryRequest: ${memoryRequest} is above redis:memoryLimit ${memoryLimit}; the request must not exceed the limit`,
        );
    }
    const password = r.string("redis:password");
    if (password !== undefined && !/^[\x21-\x7e]{16,}$/.test(password)) {
        r.errors.push("redis:password: use at least 16 printable ASCII characters without spaces (the value is not shown)");
    }
    // TLS needs per-pod certificates (issuer + rotation), `tls-cluster yes` with the bus on TLS, and the
    // start script, probes, exporter, formation and app all switched to TLS. Half of that would be
    // an unencrypted cluster that claims to be encrypted, so `true` is refused rather than ignored.
    if (r.bool("redis:tls", false)) {
        r.errors.push(
            "redis:tls: true is not supported yet (it needs per-pod certificates and TLS in the start script, probes, exporter, formation and app); use false",
        );
    }
    const redis: RedisSettings = {
        masters: r.int("redis:masters", 3, 3, 1000),
        replicasPerMaster: r.int("redis:replicasPerMaster", 1, 0, 5),
        image: r.matching("redis:image", IMAGE_REFERENCE, DEFAULT_REDIS_IMAGE, IMAGE_HELP),
        exporter: r.bool("redis:exporter", true),
        exporterImage: r.matching("redis:exporterImage", IMAGE_REFERENCE, DEFAULT_EXPORTER_IMAGE, IMAGE_HELP),
        nodeTimeoutMs: r.int("redis:nodeTimeoutMs", DEFAULT_NODE_TIMEOUT_MS, 500, 120000),
        storageSize: r.matching("redis:storageSize", QUANTITY, "1Gi", quantityHelp),
        storageClass: r.optionalMatching(
            "redis:storageClass",
            DNS_SUBDOMAIN,
            "the name of a StorageClass (lowercase letters, digits, '-', '.'), or leave it unset for the default class",
        ),
        resources: {
            requests: { cpu: r.matching("redis:cpuRequest", CPU_QUANTITY, "100m", cpuHelp), memory: memoryRequest },
            limits: { cpu: r.matching("redis:cpuLimit", CPU_QUANTITY, "1", cpuHelp), memory: memoryLimit },
        },
        password,
        tls: false,
    };
    const app: AppSettings = {
        replicas: r.int("app:replicas", 2, 0, 100),
        serviceType: r.oneOf("app:serviceType", APP_SERVICE_TYPES, "LoadBalancer"),
        image: r.optionalMatching("app:image", IMAGE_REFERENCE, IMAGE_HELP),
        nodeImage: r.matching("app:nodeImage", IMAGE_REFERENCE, DEFAULT_NODE_IMAGE, IMAGE_HELP),
    };
    return { namespace, redis, app };
}

function throwIfInvalid(r: Reader): void {
    if (r.errors.length > 0) {
        throw new ConfigError(`invalid stack configuration:\n  - ${r.errors.join("\n  - ")}`);
    }
}

/**
 * Turns raw stack config into validated Settings, or throws one ConfigError listing every invalid key
 * (named, with the allowed values). Called before any resource is registered.
 */
export function parseSettings(raw: RawConfig): Settings {
    const r = new Reader(raw);
    checkUnknownKeys(r, raw);
    const target = r.oneOf(`${PROJECT}:target`, TARGETS, "gke");
    const kubeconfig = r.string(`${PROJECT}:kubeconfig`);
    if (kubeconfig !== undefined && !looksLikeKubeconfig(kubeconfig)) {
        r.errors.push(
            `${PROJECT}:kubeconfig: not a kubeconfig; expected its YAML (or JSON) content, kind Config with clusters, contexts and users, not a path to it, e.g. the output of \`kubectl config view --raw --minify\` (the value is not shown)`,
        );
    }
    if (target === "existing" && kubeconfig === undefined) {
        r.errors.push(
            `${PROJECT}:kubeconfig: required for target existing (pulumi config set --secret ${PROJECT}:kubeconfig "$(cat kubeconfig.yaml)")`,
        );
    }
    if (target === "gke" && kubeconfig !== undefined) {
        r.errors.push(
            `${PROJECT}:kubeconfig: only used with target existing; target gke builds its own kubeconfig (remove the key or set target existing)`,
        );
    }
    const gke: GkeSettings | undefined =
        target === "gke"
            ? {
                  project: r.requiredMatching(
                      "gcp:project",
                      "for target gke (pulumi config set gcp:project <id>)",
                      GCP_PROJECT,
                      "a GCP project ID: 6-30 lowercase letters, digits or '-', starting with a letter",
                  ),
                  region: r.requiredMatching(
                      "gcp:region",
                      "for target gke (pulumi config set gcp:region europe-west1)",
                      GCP_REGION,
                      "a GCP region such as europe-west1 or us-central1 (a region, not a zone)",
                  ),
                  nodesPerZone: r.int("gke:nodesPerZone", 1, 1, 100),
                  machineType: r.matching(
                      "gke:machineType",
                      MACHINE_TYPE,
                      "e2-standard-2",
                      "a Compute Engine machine type such as e2-standard-2",
                  ),
                  releaseChannel: r.oneOf("gke:releaseChannel", RELEASE_CHANNELS, "REGULAR"),
                  diskSizeGb: r.int("gke:diskSizeGb", 50, 10, 65536),
              }
            : undefined;
    const workload = readWorkload(r);
    throwIfInvalid(r);
    return { target, kubeconfig: target === "existing" ? kubeconfig : undefined, gke, ...workload };
}

/**
 * Only the in-cluster part (namespace, Redis, app), for rendering YAML without a target: target,
 * kubeconfig and GCP keys are ignored; everything else is validated exactly as by parseSettings.
 */
export function parseWorkloadSettings(raw: RawConfig): WorkloadSettings {
    const r = new Reader(raw);
    checkUnknownKeys(r, raw);
    const workload = readWorkload(r);
    throwIfInvalid(r);
    return workload;
}

/** Reads the stack's config (plain and secret values alike) and validates it. */
export function loadSettings(): Settings {
    return parseSettings(pulumi.runtime.allConfig());
}

/** Number of Redis pods: every master with its replicas. */
export function redisPodCount(redis: Pick<RedisSettings, "masters" | "replicasPerMaster">): number {
    return redis.masters * (1 + redis.replicasPerMaster);
}
