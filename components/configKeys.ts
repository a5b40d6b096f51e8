/**
 * Every stack config key, declared once: its name, its default, how its text becomes a value (and
 * what is allowed when it does not), and what it means. The reader (config.ts), the unknown-key
 * check and the README's config table (`npm run docs:config`) are all derived from this table.
 * Pulumi-free and pure.
 */
import { parse as parseYaml } from "yaml";
import { DEFAULT_NODE_TIMEOUT_MS } from "./redisDefaults";
import { MAX_NODES, MAX_REPLICAS_PER_MASTER, MIN_MASTERS } from "./shape";
import { VOLUME_TO_MAXMEMORY } from "./redis/redisConf";
import { caCertificateProblem, caKeyProblem } from "./redis/tls";
import { ACL_RULES, AclUserName, PASSWORD_RULE, passwordProblem } from "./redis/acl";
import { ALLOWED_CLIENTS_HELP, AllowedClient, parseAllowedClients } from "./redis/allowedClients";
import {
    EXCLUSIONS_HELP,
    MaintenanceExclusion,
    MaintenanceWindow,
    WINDOW_HELP,
    parseMaintenanceExclusions,
    parseMaintenanceWindow,
} from "./maintenance";

/** Project name from Pulumi.yaml: the namespace of the top-level keys. */
export const PROJECT = "redis-cluster-gke";

/**
 * Images pinned by digest (the tag stays for readers; the kubelet pulls by the digest, so a re-pushed
 * tag changes nothing). Where each digest was read is recorded in README.md, "Images".
 * Redis: a current 7.2 patch (>= 7.2.11 fixes CVE-2025-49844 and CVE-2025-21605), Debian-based
 * because the start script needs sh, getent and timeout.
 */
export const DEFAULT_REDIS_IMAGE = "redis:7.2.16-bookworm@sha256:0637954999d01b7c9ce9167db2da50656e2590d3b884f1c600c5f63bb6e6773c";
/** >= v1.83.0: the first with switches that turn off the /scrape endpoint and key-value export. */
export const DEFAULT_EXPORTER_IMAGE =
    "oliver006/redis_exporter:v1.84.0@sha256:7ef8e9c26638158fa4e7ad60df8c7e53d1919986753d6c1d2d1876b6ec38d87b";
/**
 * Node 24 LTS (supported until 2028-04-30; Node 20 is end of life since 2026-04-30), by tag for readers
 * and by digest (the multi-platform image index) for the kubelet; where the digest was read: README.md,
 * "Images". The bundle targets this major.
 */
export const DEFAULT_NODE_IMAGE = "node:24.21.0-alpine3.24@sha256:ebfe2f90462722a7a4de65e91990e97fe0d401c70e0e762c5b53302f905ec1c1";

/** The Node.js major of an official `node` image reference (`node:24.21.0-alpine…`, `library/node:22`), or undefined when the tag does not say. */
export function nodeMajorOf(image: string): number | undefined {
    const m = /^(?:(?:[^/]+\/)*library\/|docker\.io\/library\/)?node:(\d+)(?:[.-]|$|@)/.exec(image);
    return m ? Number(m[1]) : undefined;
}

/** The oldest Node.js major the bundled server is built for (components/app/bundle.ts). */
export const MIN_NODE_MAJOR = nodeMajorOf(DEFAULT_NODE_IMAGE) ?? 24;

export const TARGETS = ["gke", "existing"] as const;
export type Target = (typeof TARGETS)[number];
/** The channels the policy pack's `gke-release-channel` allows by default: RAPID gets versions before they are proven. */
export const RELEASE_CHANNELS = ["REGULAR", "STABLE", "EXTENDED"] as const;
export type ReleaseChannel = (typeof RELEASE_CHANNELS)[number];
export const APP_SERVICE_TYPES = ["LoadBalancer", "ClusterIP", "NodePort"] as const;
export const ZONE_SPREADS = ["required", "preferred"] as const;
/** How the stack's kubeconfig reaches a GKE control plane. */
export const KUBECONFIG_ENDPOINTS = ["dns", "ip"] as const;
export type KubeconfigEndpoint = (typeof KUBECONFIG_ENDPOINTS)[number];
/** The StorageClass a gke stack creates for the PVCs: reclaimPolicy Retain, so a deleted PVC keeps its disk. */
export const GKE_RETAIN_STORAGE_CLASS = "redis-retain";
export type ZoneSpread = (typeof ZONE_SPREADS)[number];
/** Below this, Redis's own footprint and the fork leave too little for data. */
export const MIN_MEMORY_LIMIT = "256Mi";
export type AppServiceType = (typeof APP_SERVICE_TYPES)[number];

/** A value read from config, or what to do instead ("use …"; a secret key may say more, as its value is never shown). */
export type Parsed<T> = { readonly value: T } | { readonly problem: string };

/** One config key. */
export interface ConfigKey<T> {
    /** Fully-qualified name, `namespace:key`. */
    readonly key: string;
    /** The value when the key is absent or empty. */
    readonly fallback: T;
    /** The default as the README shows it. */
    readonly defaultText: string;
    /** What the value means (README). */
    readonly meaning: string;
    /** The values allowed (README; also what an error says to use instead). */
    readonly allowed: string;
    /** Set with `pulumi config set --secret`. */
    readonly secret?: boolean;
    /** Text -> value, or what is allowed instead. */
    parse(text: string): Parsed<T>;
}

const QUANTITY = /^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
const CPU_QUANTITY = /^(\d+(\.\d+)?)(m)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** repository[:tag][@sha256:digest], lowercase repository, no spaces (what a kubelet can pull). */
const IMAGE_REFERENCE = /^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;
const IMAGE_HELP =
    "an image reference such as redis:7.2.16-bookworm@sha256:<64 hex digits> (lowercase repository, optional :tag, @sha256:digest to pin it, no spaces)";
const GCP_PROJECT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const GCP_REGION = /^[a-z]+(-[a-z]+)+[0-9]+$/;
const MACHINE_TYPE = /^[a-z0-9]+(-[a-z0-9]+)+$/;
const ROTATION_TRIGGER = /^[A-Za-z0-9._-]{1,63}$/;
const QUANTITY_HELP = "a Kubernetes quantity such as 512Mi or 1Gi";
const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
/** Shorter prefixes than this are a large part of the internet, not "my networks". */
const MIN_AUTHORIZED_PREFIX = 8;
const CPU_HELP = "a CPU quantity such as 250m or 1";

/** A comma-separated list (spaces around commas allowed) of items that all pass `accept`, or undefined. */
function listOf(text: string, accept: (item: string) => boolean): string[] | undefined {
    const items = text.split(",").map((i) => i.trim());
    return items.every((i) => i !== "" && accept(i)) ? items : undefined;
}

/** An IPv4 CIDR with a prefix of MIN_AUTHORIZED_PREFIX or longer, its address bits beyond the prefix zero. */
function isAuthorizedNetwork(cidr: string): boolean {
    const m = IPV4_CIDR.exec(cidr);
    if (!m) return false;
    const octets = m.slice(1, 5).map(Number);
    const prefix = Number(m[5]);
    if (octets.some((o) => o > 255) || prefix < MIN_AUTHORIZED_PREFIX || prefix > 32) return false;
    const address = octets.reduce((a, o) => a * 256 + o, 0);
    return address % 2 ** (32 - prefix) === 0;
}

/** Raised for a quantity that is not one; the config reader reports such values by key instead. */
export class QuantityError extends Error {}

const SUFFIX_BYTES: Readonly<Record<string, number>> = {
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
    if (!m) throw new QuantityError(`not a Kubernetes quantity: ${JSON.stringify(quantity)}`);
    return Math.floor(Number(m[1]) * SUFFIX_BYTES[m[3] ?? ""]);
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

// --- value kinds -------------------------------------------------------------------------------

type Kind<T> = Pick<ConfigKey<T>, "fallback" | "defaultText" | "allowed" | "parse">;

/** A kind whose values are those `accept` returns a value for; anything else is told to use `allowed`. */
function kind<T>(fallback: T, defaultText: string, allowed: string, accept: (text: string) => T | undefined): Kind<T> {
    return {
        fallback,
        defaultText,
        allowed,
        parse: (t) => {
            const value = accept(t);
            return value === undefined ? { problem: `use ${allowed}` } : { value };
        },
    };
}

function wholeNumber(fallback: number, min: number, max: number): Kind<number> {
    const accept = (t: string) => (/^-?\d+$/.test(t.trim()) && Number(t) >= min && Number(t) <= max ? Number(t) : undefined);
    return kind(fallback, String(fallback), `a whole number from ${min} to ${max}`, accept);
}

function flag(fallback: boolean): Kind<boolean> {
    return kind(fallback, String(fallback), "true or false", (t) => (t === "true" || t === "false" ? t === "true" : undefined));
}

function oneOf<T extends string>(values: readonly T[], fallback: T): Kind<T> {
    return kind(fallback, fallback, `one of ${values.join(", ")}`, (t) => values.find((v) => v === t));
}

/** Comma-separated items, each accepted by `accept`; `example` is what the error suggests. */
function list(
    fallback: readonly string[],
    defaultText: string,
    allowed: string,
    example: string,
    accept: (item: string) => boolean,
): Kind<readonly string[]> {
    return {
        fallback,
        defaultText,
        allowed,
        parse: (t) => {
            const items = listOf(t, accept);
            return items ? { value: items } : { problem: `use ${allowed}, such as ${example}` };
        },
    };
}

function matching(pattern: RegExp, allowed: string, fallback: string): Kind<string>;
function matching(pattern: RegExp, allowed: string, fallback: undefined, defaultText: string): Kind<string | undefined>;
function matching(pattern: RegExp, allowed: string, fallback: string | undefined, defaultText?: string): Kind<string | undefined> {
    return kind<string | undefined>(fallback, defaultText ?? String(fallback), allowed, (t) => (pattern.test(t) ? t : undefined));
}

function key<T>(
    name: string,
    kind: Kind<T>,
    meaning: string,
    extra: Partial<Pick<ConfigKey<T>, "secret" | "defaultText">> = {},
): ConfigKey<T> {
    return { key: name, ...kind, meaning, ...extra };
}

/** `redis:<user>Password`: a user's password, generated when absent. */
function userPassword(user: AclUserName): ConfigKey<string | undefined> {
    return key(
        `redis:${user}Password`,
        {
            fallback: undefined as string | undefined,
            defaultText: "generated (@pulumi/random, 32 characters)",
            allowed: PASSWORD_RULE,
            parse: (t) => {
                const problem = passwordProblem(t);
                return problem ? { problem } : { value: t };
            },
        },
        `password of the ACL user \`${user}\` (${ACL_RULES[user].purpose}); changing it rotates it (see Security)`,
        { secret: true },
    );
}

// --- the keys ----------------------------------------------------------------------------------

/** Every key the program reads, in the order the README lists them. */
export const KEYS = {
    target: key(`${PROJECT}:target`, oneOf(TARGETS, "gke"), "`gke` creates a GKE cluster; `existing` deploys with `kubeconfig`"),
    kubeconfig: key(
        `${PROJECT}:kubeconfig`,
        {
            fallback: undefined as string | undefined,
            defaultText: "—",
            allowed: "kubeconfig YAML or JSON (kind Config)",
            parse: (t) =>
                looksLikeKubeconfig(t)
                    ? { value: t }
                    : {
                          problem:
                              "not a kubeconfig; expected its YAML (or JSON) content, kind Config with clusters, contexts and users, not a path to it, e.g. the output of `kubectl config view --raw --minify`",
                      },
        },
        "kubeconfig content (not a path) of the existing cluster; required for target `existing`",
        { secret: true },
    ),
    namespace: key(
        `${PROJECT}:namespace`,
        matching(DNS_LABEL, "a DNS label (lowercase letters, digits, '-')", "redis"),
        "namespace created for everything; changing it starts a new, empty cluster (the old namespace is kept, see retainOnDestroy)",
    ),
    retainOnDestroy: key(
        `${PROJECT}:retainOnDestroy`,
        flag(true),
        "`true` keeps the namespace (PVCs, Secret, data) and the Retain StorageClass in the cluster when `pulumi destroy` runs or the namespace changes; `false` lets Pulumi delete them (see Operations)",
    ),
    postDeployCheck: key(
        `${PROJECT}:postDeployCheck`,
        flag(true),
        "after an update that changes the shape, an image or the app, `redis-cli --cluster check` in a Redis pod and two GET / of the app, through kubectl on the machine running Pulumi; a failure fails the update (see Day 2); `false` skips it",
    ),
    project: key(
        "gcp:project",
        matching(GCP_PROJECT, "a GCP project ID: 6-30 lowercase letters, digits or '-', starting with a letter", undefined, "—"),
        "GCP project; required for target `gke`",
    ),
    region: key(
        "gcp:region",
        matching(GCP_REGION, "a GCP region such as europe-west1 or us-central1 (a region, not a zone)", undefined, "—"),
        "GCP region of the regional cluster; required for target `gke`",
    ),
    nodesPerZone: key("gke:nodesPerZone", wholeNumber(1, 1, 100), "nodes per zone (× 3 zones)"),
    machineType: key(
        "gke:machineType",
        matching(MACHINE_TYPE, "a Compute Engine machine type such as e2-standard-2", "e2-standard-2"),
        "node machine type",
    ),
    releaseChannel: key(
        "gke:releaseChannel",
        oneOf(RELEASE_CHANNELS, "REGULAR"),
        "GKE release channel; the policy pack's `gke-release-channel` allows the same ones",
    ),
    diskSizeGb: key("gke:diskSizeGb", wholeNumber(50, 10, 65536), "node boot disk in GB"),
    deletionProtection: key(
        "gke:deletionProtection",
        flag(true),
        "GKE deletion protection: while `true`, `pulumi destroy` (or a replace) cannot delete the cluster and its disks",
    ),
    privateNodes: key("gke:privateNodes", flag(true), "nodes without public IPs; they reach the internet (image pulls) through Cloud NAT"),
    authorizedNetworks: key(
        "gke:authorizedNetworks",
        list(
            [],
            "none",
            `IPv4 CIDRs separated by commas, each /${MIN_AUTHORIZED_PREFIX} or longer with no host bits set`,
            "203.0.113.0/24,198.51.100.7/32",
            isAuthorizedNetwork,
        ),
        "networks admitted to the control plane's IP endpoint; with none, it admits no outside address and Pulumi and kubectl use the IAM-checked DNS endpoint",
    ),
    kubeconfigEndpoint: key(
        "gke:kubeconfigEndpoint",
        oneOf(KUBECONFIG_ENDPOINTS, "dns"),
        "endpoint of the stack's kubeconfig: `dns` (IAM-checked, reachable from anywhere) or `ip` (needs the network Pulumi runs from in `gke:authorizedNetworks`; for stacks created before the DNS endpoint, see Upgrading)",
    ),
    upgradeMaxSurge: key(
        "gke:upgradeMaxSurge",
        wholeNumber(1, 0, 100),
        "nodes a node-pool upgrade may add beyond the pool's size (surge): each old node is drained once a new one is up, so its pods, a master's after its handover, have somewhere to start at once",
    ),
    upgradeMaxUnavailable: key(
        "gke:upgradeMaxUnavailable",
        wholeNumber(0, 0, 100),
        "nodes of the pool an upgrade may take down at once without a replacement; above 0 a drained Redis pod may wait for a node, its shard without a replica meanwhile (with upgradeMaxSurge, at least one of the two above 0)",
    ),
    maintenanceWindow: key(
        "gke:maintenanceWindow",
        {
            fallback: undefined as MaintenanceWindow | undefined,
            defaultText: "none (GKE maintains at any time)",
            allowed: WINDOW_HELP,
            parse: parseMaintenanceWindow,
        },
        "when GKE may upgrade the control plane and drain nodes (UTC); a recurring window of the cluster's maintenancePolicy",
    ),
    maintenanceExclusions: key(
        "gke:maintenanceExclusions",
        {
            fallback: [] as readonly MaintenanceExclusion[],
            defaultText: "none",
            allowed: EXCLUSIONS_HELP,
            parse: parseMaintenanceExclusions,
        },
        "periods in which GKE upgrades nothing (a sale, a freeze); needs `gke:maintenanceWindow`",
    ),
    masters: key(
        "redis:masters",
        wholeNumber(3, MIN_MASTERS, MAX_NODES),
        `shards; at most ${MAX_NODES} nodes in all; growing it scales out, shrinking it drains the shards that go first (see Day 2)`,
    ),
    replicasPerMaster: key(
        "redis:replicasPerMaster",
        wholeNumber(1, 0, MAX_REPLICAS_PER_MASTER),
        "replicas of each master; shrinking it removes the highest pods after any master among them has handed over (see Day 2)",
    ),
    image: key(
        "redis:image",
        matching(IMAGE_REFERENCE, IMAGE_HELP, DEFAULT_REDIS_IMAGE),
        "Redis image, pinned by digest; Debian-based because the start script uses `getent` and `timeout`",
    ),
    exporter: key(
        "redis:exporter",
        flag(true),
        "redis_exporter sidecar on port 9121 (its /scrape endpoint and key-value export switched off)",
    ),
    exporterImage: key(
        "redis:exporterImage",
        matching(IMAGE_REFERENCE, IMAGE_HELP, DEFAULT_EXPORTER_IMAGE),
        "exporter image; v1.83.0 or later (older ones refuse the flags that switch off /scrape)",
    ),
    metricsNamespaces: key(
        "redis:metricsNamespaces",
        list(
            ["gmp-system"],
            "gmp-system",
            "namespace names (DNS labels) separated by commas",
            "gmp-system,monitoring",
            (n) => DNS_LABEL.test(n) && n.length <= 63,
        ),
        "the only namespaces whose pods may scrape port 9121 (gmp-system: GKE Managed Prometheus)",
    ),
    podMonitoring: key(
        "redis:podMonitoring",
        {
            fallback: undefined as boolean | undefined,
            defaultText: "`true` on target gke, `false` on existing",
            allowed: "true or false",
            parse: (t) => (t === "true" || t === "false" ? { value: t === "true" } : { problem: "use true or false" }),
        },
        "a GKE Managed Prometheus PodMonitoring for the exporter (GMP ignores `prometheus.io/*` annotations); needs its CRD",
    ),
    nodeTimeoutMs: key(
        "redis:nodeTimeoutMs",
        wholeNumber(DEFAULT_NODE_TIMEOUT_MS, 500, 120000),
        '`cluster-node-timeout` in ms (see "Failover" for the trade-off)',
    ),
    handover: key(
        "redis:handover",
        flag(true),
        "a master being stopped (drain, eviction, deletion, rolling update) first hands its slots to its in-sync replica (preStop `handover.sh`); `false`: Redis stops at once and its replica takes over after a failover",
    ),
    takeover: key(
        "redis:takeover",
        flag(true),
        "a failover-agent container in each Redis pod makes an in-sync replica take over at once when its master crashed (its address refuses connections, or it restarted) instead of waiting for `nodeTimeoutMs`, and runs the election the moment Redis flags a frozen or cut-off master FAIL (the held election); `false`: Redis's own failure detection and election only",
    ),
    surgeReplica: key(
        "redis:surgeReplica",
        {
            fallback: undefined as boolean | undefined,
            defaultText: "`true` with `redis:replicasPerMaster` 1, else `false`",
            allowed: "true or false (true only with redis:replicasPerMaster 1)",
            parse: (t) => (t === "true" || t === "false" ? { value: t === "true" } : { problem: "use true or false" }),
        },
        "one more pod in the StatefulSet (the surge pod, the highest ordinal), no cluster member at rest: a pod being stopped whose shard would be left with one copy first recruits it as that shard's replica, so `WAIT 1` goes on confirming writes through a rolling restart or a drain; `false`: no extra pod, and a shard has one copy while either of its pods is away",
    ),
    storageSize: key(
        "redis:storageSize",
        matching(
            QUANTITY,
            `${QUANTITY_HELP}, at least ${VOLUME_TO_MAXMEMORY} x maxmemory`,
            undefined,
            `${VOLUME_TO_MAXMEMORY} x maxmemory in whole Gi (1Gi)`,
        ),
        "PVC size per pod; smaller than 4 x maxmemory is refused (AOF, its rewrite and a sync file)",
    ),
    storageClass: key(
        "redis:storageClass",
        matching(
            DNS_SUBDOMAIN,
            "the name of a StorageClass (lowercase letters, digits, '-', '.'), or leave it unset",
            undefined,
            `gke: \`${GKE_RETAIN_STORAGE_CLASS}\` (created); existing: cluster default`,
        ),
        `StorageClass of the PVCs; on gke the stack creates \`${GKE_RETAIN_STORAGE_CLASS}\` (pd-balanced, reclaimPolicy Retain)`,
    ),
    zoneSpread: key(
        "redis:zoneSpread",
        oneOf(ZONE_SPREADS, "required"),
        "`required`: pods never pile into fewer than `minZones` zones (a pod waits instead); `preferred`: best effort, for clusters without zone labels (kind)",
    ),
    minZones: key(
        "redis:minZones",
        wholeNumber(3, 1, 10),
        "zones the pods spread over when zoneSpread is required (the constraint's minDomains)",
    ),
    cpuRequest: key("redis:cpuRequest", matching(CPU_QUANTITY, CPU_HELP, "100m"), "CPU request of each Redis container"),
    cpuLimit: key("redis:cpuLimit", matching(CPU_QUANTITY, CPU_HELP, "1"), "CPU limit of each Redis container"),
    memoryLimit: key(
        "redis:memoryLimit",
        matching(QUANTITY, `${QUANTITY_HELP}, at least ${MIN_MEMORY_LIMIT}`, "512Mi"),
        "memory of each Redis container, request = limit; `maxmemory` = 1/2 of it, the rest is for the fork and buffers (see Memory and disk)",
    ),
    adminPassword: userPassword("admin"),
    replicationPassword: userPassword("replication"),
    hitcounterPassword: userPassword("hitcounter"),
    clientPassword: userPassword("client"),
    exporterPassword: userPassword("exporter"),
    passwordRotation: key(
        "redis:passwordRotation",
        matching(ROTATION_TRIGGER, "up to 63 letters, digits, '.', '_' or '-' (e.g. a date: 2026-12-01)", undefined, "—"),
        "rotation trigger: a new value gives every generated password a new value; `pulumi up` then rotates them without refusing a client (see Security, Password rotation)",
    ),
    allowedClients: key(
        "redis:allowedClients",
        {
            fallback: [] as readonly AllowedClient[],
            defaultText: "none (only the hit counter)",
            allowed: ALLOWED_CLIENTS_HELP,
            parse: (t) => {
                const parsed = parseAllowedClients(t);
                return "problem" in parsed ? { problem: `${parsed.problem}; use ${ALLOWED_CLIENTS_HELP}` } : parsed;
            },
        },
        "other applications admitted to the client port by the NetworkPolicy; they connect as the `client` user (stack output `redisClientAccess`)",
    ),
    tls: key(
        "redis:tls",
        flag(true),
        "TLS on every link: clients, replication and the cluster bus (`tls-port` with the plain port off, `tls-cluster`, `tls-replication`); `false` only for clients that cannot speak TLS, and the policy pack's `redis-tls` then needs its advisory switch (see Security)",
    ),
    tlsCaCertificate: key(
        "redis:tlsCaCertificate",
        {
            fallback: undefined as string | undefined,
            defaultText: "the stack's own CA (@pulumi/tls, ECDSA P-256, 10 years)",
            allowed: "one PEM root CA certificate (CA:TRUE, valid now and for the next year), with redis:tlsCaKey",
            parse: (t) => {
                const problem = caCertificateProblem(t);
                return problem ? { problem } : { value: t };
            },
        },
        "a CA of yours that signs the server certificate instead of the stack's own; clients then trust that CA",
        { secret: true },
    ),
    tlsCaKey: key(
        "redis:tlsCaKey",
        {
            fallback: undefined as string | undefined,
            defaultText: "—",
            allowed: "the PEM private key (RSA, ECDSA or Ed25519, no passphrase) of redis:tlsCaCertificate",
            parse: (t) => {
                const problem = caKeyProblem(t);
                return problem ? { problem } : { value: t };
            },
        },
        "private key of redis:tlsCaCertificate (set both or neither)",
        { secret: true },
    ),
    appReplicas: key("app:replicas", wholeNumber(2, 0, 100), "hit-counter replicas"),
    serviceType: key("app:serviceType", oneOf(APP_SERVICE_TYPES, "LoadBalancer"), "type of the hit counter's Service"),
    nodeImage: key<string>(
        "app:nodeImage",
        {
            fallback: DEFAULT_NODE_IMAGE,
            defaultText: DEFAULT_NODE_IMAGE,
            allowed: `${IMAGE_HELP}; an official node image must be Node.js ${MIN_NODE_MAJOR} or newer`,
            parse: (t) => {
                if (!IMAGE_REFERENCE.test(t)) return { problem: `use ${IMAGE_HELP}` };
                const major = nodeMajorOf(t);
                if (major !== undefined && major < MIN_NODE_MAJOR) {
                    return {
                        problem: `Node.js ${major} is older than the bundled server's target node${MIN_NODE_MAJOR} (Node 20 is end of life since 2026-04-30); use Node.js ${MIN_NODE_MAJOR} or newer, e.g. ${DEFAULT_NODE_IMAGE}`,
                    };
                }
                return { value: t };
            },
        },
        "Node.js image that runs the bundled server from a ConfigMap; pinned by digest",
    ),
    appImage: key(
        "app:image",
        matching(IMAGE_REFERENCE, IMAGE_HELP, undefined, "—"),
        "a ready-made image of the server instead of the bundle",
    ),
} as const;

/** Every key the program reads. */
export const ALL_KEYS: readonly ConfigKey<unknown>[] = Object.values(KEYS);

/** Fully-qualified key -> its meaning (also drives the unknown-key check). */
export const CONFIG_KEYS: Readonly<Record<string, string>> = Object.fromEntries(ALL_KEYS.map((k) => [k.key, k.meaning]));

/** Keys this program read once and refuses now, with what to do instead. */
export const RETIRED_KEYS: Readonly<Record<string, string>> = {
    "redis:password":
        "no longer read: every client has its own ACL user now (the `default` user is off); set the user's own key instead (redis:adminPassword, redis:replicationPassword, redis:hitcounterPassword, redis:clientPassword, redis:exporterPassword) and remove this one (pulumi config rm redis:password)",
    "redis:memoryRequest":
        "no longer read: the memory request always equals redis:memoryLimit (a Redis pod above its request is the first one evicted or OOM-killed on a busy node); remove the key (pulumi config rm redis:memoryRequest)",
};

/** Keys that must be set with `pulumi config set --secret`. */
export const SECRET_CONFIG_KEYS: ReadonlySet<string> = new Set(ALL_KEYS.filter((k) => k.secret).map((k) => k.key));

/** Namespaces this program owns: unknown keys in them are typos and are refused. */
export const OWNED_NAMESPACES = [PROJECT, "gke", "redis", "app"] as const;

/** The README's config reference table (Markdown), generated from KEYS. */
export function configReferenceTable(): string {
    // A default that is a value is code; one that is absent or computed is prose.
    const absent = (v: unknown) => v === undefined || (Array.isArray(v) && v.length === 0);
    const shown = (k: ConfigKey<unknown>) => (absent(k.fallback) ? k.defaultText : `\`${k.defaultText}\``);
    const cell = (text: string) => text.replace(/\|/g, "\\|");
    const rows = ALL_KEYS.map((k) => `| \`${k.key}\` | ${shown(k)} | ${cell(k.allowed)} | ${k.secret ? "secret; " : ""}${k.meaning} |`);
    return ["| Key | Default | Allowed | Meaning |", "|---|---|---|---|", ...rows].join("\n");
}
