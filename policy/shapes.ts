/**
 * Pure readers of the resource shapes the policies look at: which workload is Redis,
 * what its redis.conf says, which pods a selector picks. No Pulumi engine in here, so
 * every rule of thumb is unit-testable on plain objects.
 *
 * The pack is published on its own (`pulumi policy publish` uploads only this folder),
 * so nothing here imports from the program's components. Kubernetes shapes come from
 * kubernetes-models (types only); the GKE shapes are the few fields read, named exactly
 * as in @pulumi/gcp (test/policy checks those names against the real args types).
 */
import type { IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IService } from "kubernetes-models/v1/Service";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { INetworkPolicyPort } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort";
import type { INetworkPolicyPeer } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer";
import type { INetworkPolicyIngressRule } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyIngressRule";
import type { IPodTemplateSpec } from "kubernetes-models/v1/PodTemplateSpec";

export type {
    IStatefulSet,
    IDeployment,
    IConfigMap,
    IContainer,
    IPodSpec,
    IService,
    IPodDisruptionBudget,
    INetworkPolicy,
    INetworkPolicyPeer,
    INetworkPolicyPort,
    INetworkPolicyIngressRule,
};
export type LabelSelector = NonNullable<NonNullable<IPodDisruptionBudget["spec"]>["selector"]>;
export type Labels = Readonly<Record<string, string>>;

/** Pulumi type tokens of the resources the pack checks. */
export const TYPES = {
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    deployment: "kubernetes:apps/v1:Deployment",
    daemonSet: "kubernetes:apps/v1:DaemonSet",
    replicaSet: "kubernetes:apps/v1:ReplicaSet",
    job: "kubernetes:batch/v1:Job",
    cronJob: "kubernetes:batch/v1:CronJob",
    pod: "kubernetes:core/v1:Pod",
    configMap: "kubernetes:core/v1:ConfigMap",
    service: "kubernetes:core/v1:Service",
    podDisruptionBudget: "kubernetes:policy/v1:PodDisruptionBudget",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    gkeCluster: "gcp:container/cluster:Cluster",
    gkeNodePool: "gcp:container/nodePool:NodePool",
    /** Any dynamic-provider resource (see isDynamicResource); the formation is one. */
    dynamicResource: "pulumi-nodejs:dynamic:Resource",
} as const;

export const REDIS_CLIENT_PORT = 6379;
export const REDIS_BUS_PORT = REDIS_CLIENT_PORT + 10000;
/** redis_exporter's port. */
export const REDIS_METRICS_PORT = 9121;

// ---------------------------------------------------------------- workloads

/** Every workload type that runs pods, so policies about containers and pods miss none. */
export const WORKLOAD_TYPES: readonly string[] = [
    TYPES.statefulSet,
    TYPES.deployment,
    TYPES.daemonSet,
    TYPES.replicaSet,
    TYPES.job,
    TYPES.cronJob,
    TYPES.pod,
];

/** The pod template (or the Pod's own spec) of a workload's props; undefined for other types. */
export function podTemplateOf(type: string, props: Record<string, unknown>): IPodTemplateSpec | undefined {
    const spec = props.spec as Record<string, unknown> | undefined;
    switch (type) {
        case TYPES.pod:
            return { metadata: props.metadata as IPodTemplateSpec["metadata"], spec: spec as IPodTemplateSpec["spec"] };
        case TYPES.cronJob: {
            const jobSpec = (spec?.jobTemplate as { spec?: { template?: IPodTemplateSpec } } | undefined)?.spec;
            return jobSpec?.template;
        }
        default:
            return WORKLOAD_TYPES.includes(type) ? (spec?.template as IPodTemplateSpec | undefined) : undefined;
    }
}

// ---------------------------------------------------------------- images

export interface ImageRef {
    readonly repository: string;
    readonly tag?: string;
    readonly digest?: string;
}

/** Splits `registry:5000/org/name:tag@sha256:…` without mistaking a registry port for a tag. */
export function parseImage(image: string): ImageRef {
    const [nameAndTag, digest] = image.split("@", 2);
    const slash = nameAndTag.lastIndexOf("/");
    const colon = nameAndTag.lastIndexOf(":");
    if (colon > slash) {
        return { repository: nameAndTag.slice(0, colon), tag: nameAndTag.slice(colon + 1), digest };
    }
    return { repository: nameAndTag, digest };
}

/** A reference by sha256 digest: the registry can never serve other bits for it. */
export function hasDigest(image: string | undefined): boolean {
    return image !== undefined && /@sha256:[a-f0-9]{64}$/.test(image);
}

/** A reference that always pulls the same bits: a digest, or a tag other than `latest`. */
export function isPinnedImage(image: string | undefined): boolean {
    if (!image) return false;
    const ref = parseImage(image);
    if (ref.digest) return true;
    return ref.tag !== undefined && ref.tag !== "" && ref.tag !== "latest";
}

/** Major version from tags such as `7.2.5`, `7.2.5-alpine`, `7-bookworm`; undefined when the tag does not say. */
export function imageMajorVersion(image: string): number | undefined {
    const m = /^v?(\d+)(?:[.-]|$)/.exec(parseImage(image).tag ?? "");
    return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------- Redis workloads

/**
 * The Redis server container: whatever declares the client port 6379, or the official image (or
 * Valkey) running the server: its own entrypoint, or a command that names redis-server. A helper
 * on the same image (the failover agent: a script, no ports) is not a server.
 */
export function isRedisContainer(c: IContainer): boolean {
    if ((c.ports ?? []).some((p) => p.containerPort === REDIS_CLIENT_PORT)) return true;
    const base = c.image ? (parseImage(c.image).repository.split("/").pop() ?? "") : "";
    if (base !== "redis" && base !== "valkey") return false;
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    return argv.length === 0 || argv.some((a) => /(^|\/)(redis|valkey)-server\b/.test(a));
}

export function allContainers(spec: IPodSpec | undefined): IContainer[] {
    return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
}

export function redisContainers(spec: IPodSpec | undefined): IContainer[] {
    return (spec?.containers ?? []).filter(isRedisContainer);
}

/** A StatefulSet running Redis, or undefined for any other StatefulSet. */
export function asRedisStatefulSet(sts: IStatefulSet): { containers: IContainer[]; podLabels: Labels } | undefined {
    const containers = redisContainers(sts.spec?.template?.spec);
    if (containers.length === 0) return undefined;
    return { containers, podLabels: podLabels(sts) };
}

/** Labels the pods actually carry (the template's), falling back to the selector's matchLabels. */
export function podLabels(w: IStatefulSet | IDeployment): Labels {
    return w.spec?.template?.metadata?.labels ?? w.spec?.selector?.matchLabels ?? {};
}

/** Named container ports, so NetworkPolicy rules that say `port: client` can be resolved. */
export function namedPorts(containers: readonly IContainer[]): Map<string, number> {
    const ports = new Map<string, number>();
    for (const c of containers) for (const p of c.ports ?? []) if (p.name) ports.set(p.name, p.containerPort);
    return ports;
}

// ---------------------------------------------------------------- redis.conf

/** Directive (lower case) -> arguments of its last occurrence, the way Redis reads single-valued directives. */
export type RedisConf = ReadonlyMap<string, string>;

export function parseRedisConf(text: string): RedisConf {
    const conf = new Map<string, string>();
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (line === "" || line.startsWith("#")) continue;
        const m = /^(\S+)\s*(.*)$/.exec(line);
        if (m) conf.set(m[1].toLowerCase(), m[2].trim());
    }
    return conf;
}

const CLUSTER_CONF = /^\s*cluster-enabled\s+yes\s*$/im;

/** What a ConfigMap ships to Redis pods: the cluster redis.conf files and everything else (start scripts). */
export function redisConfigOf(cm: IConfigMap): { confs: RedisConf[]; scripts: string[] } | undefined {
    const entries = Object.entries(cm.data ?? {});
    const confs = entries.filter(([, v]) => CLUSTER_CONF.test(v));
    if (confs.length === 0) return undefined;
    return {
        confs: confs.map(([, v]) => parseRedisConf(v)),
        scripts: entries.filter(([, v]) => !CLUSTER_CONF.test(v)).map(([, v]) => v),
    };
}

/** Whether a start script writes `directive` into the runtime config (the password cannot live in a ConfigMap). */
export function scriptSetsDirective(scripts: readonly string[], directive: string): boolean {
    const written = new RegExp(`^[^#]*\\b${directive}\\b`, "m");
    return scripts.some((s) => written.test(s));
}

// ---------------------------------------------------------------- selectors

/** Kubernetes label-selector semantics (matchLabels AND matchExpressions); an empty selector selects everything. */
export function selectorMatches(selector: LabelSelector | undefined, labels: Labels): boolean {
    if (!selector) return false;
    for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
    for (const e of selector.matchExpressions ?? []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        const values = e.values ?? [];
        switch (e.operator) {
            case "In":
                if (!has || !values.includes(labels[e.key])) return false;
                break;
            case "NotIn":
                if (has && values.includes(labels[e.key])) return false;
                break;
            case "Exists":
                if (!has) return false;
                break;
            case "DoesNotExist":
                if (has) return false;
                break;
            default:
                return false;
        }
    }
    return true;
}

/** A Service selector is a plain map; no selector (or an empty one) selects no pods. */
export function serviceSelects(selector: Labels | undefined, labels: Labels): boolean {
    const entries = Object.entries(selector ?? {});
    return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Namespaces compare equal when either is left to the provider's default. */
export function sameNamespace(a: string | undefined, b: string | undefined): boolean {
    return a === undefined || b === undefined || a === b;
}

/** Whether a NetworkPolicy port list lets TCP `port` through (no list means every port). */
export function portsAllow(ports: readonly INetworkPolicyPort[] | undefined, port: number, named: ReadonlyMap<string, number>): boolean {
    if (!ports || ports.length === 0) return true;
    return ports.some((p) => {
        if ((p.protocol ?? "TCP") !== "TCP") return false;
        if (p.port === undefined) return true;
        const start = typeof p.port === "number" ? p.port : (named.get(p.port) ?? Number(p.port));
        return p.endPort !== undefined ? port >= start && port <= p.endPort : port === start;
    });
}

// ---------------------------------------------------------------- who a NetworkPolicy rule admits

/** Kubernetes labels every namespace with its name: the one namespace label nobody can fake. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/**
 * A selector that picks (nearly) everything: empty, or built only of exclusions (NotIn,
 * DoesNotExist) or of `Exists` on the namespace-name label that every namespace carries.
 */
export function selectsEverything(selector: LabelSelector | undefined): boolean {
    if (!selector) return false;
    if (Object.keys(selector.matchLabels ?? {}).length > 0) return false;
    return (selector.matchExpressions ?? []).every(
        (e) => e.operator === "NotIn" || e.operator === "DoesNotExist" || (e.operator === "Exists" && e.key === NAMESPACE_NAME_LABEL),
    );
}

/**
 * A peer anyone can be, or become: a namespaceSelector over every namespace (with or without pod
 * labels, which whoever may create a pod can set), a podSelector over every pod of the namespace,
 * or no selector at all. ipBlocks are judged together (see openAddressRanges).
 */
export function isOpenPeer(peer: INetworkPolicyPeer): boolean {
    if (peer.ipBlock) return false;
    if (peer.namespaceSelector) return selectsEverything(peer.namespaceSelector);
    if (peer.podSelector) return selectsEverything(peer.podSelector);
    return true;
}

/** IPv4 addresses of a CIDR (0 for IPv6 or malformed), IPv6 prefixes shorter than /64 count as open. */
function ipv4Size(cidr: string): number {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
    return m ? 2 ** (32 - Number(m[2])) : 0;
}

/** Blocks whose union (minus their excepts) spans a /8 or more: a large part of the internet, or every pod. */
export const OPEN_IPV4_ADDRESSES = 2 ** 24;

/**
 * Whether the ipBlocks of these peers together admit a large range: `0.0.0.0/0`, `::/0`,
 * `0.0.0.0/1` + `128.0.0.0/1`, or any IPv4 union of a /8 or more (excepts subtracted).
 */
export function ipBlocksAreOpen(peers: readonly INetworkPolicyPeer[]): boolean {
    let ipv4 = 0;
    for (const { ipBlock } of peers) {
        if (!ipBlock) continue;
        if (ipBlock.cidr.includes(":")) {
            const prefix = Number(ipBlock.cidr.split("/")[1]);
            if (!(prefix >= 64)) return true;
            continue;
        }
        ipv4 += ipv4Size(ipBlock.cidr) - (ipBlock.except ?? []).reduce((sum, e) => sum + ipv4Size(e), 0);
    }
    return ipv4 >= OPEN_IPV4_ADDRESSES;
}

/** Whether rules (taken together) admit anyone: no peers, an open peer, or open address ranges. */
export function rulesAreOpen(rules: readonly { readonly peers?: readonly INetworkPolicyPeer[] }[]): boolean {
    if (rules.some((r) => r.peers === undefined || r.peers.length === 0 || r.peers.some(isOpenPeer))) return true;
    return ipBlocksAreOpen(rules.flatMap((r) => r.peers ?? []));
}

/** Pods a PDB lets go at once, for `replicas` pods (Kubernetes rounds percentages up). */
export function pdbAllowedDisruptions(pdb: IPodDisruptionBudget, replicas: number): number {
    const toCount = (v: string | number) =>
        typeof v === "number" ? v : v.endsWith("%") ? Math.ceil((Number(v.slice(0, -1)) / 100) * replicas) : Number(v);
    const spec = pdb.spec ?? {};
    if (spec.maxUnavailable !== undefined) return toCount(spec.maxUnavailable);
    if (spec.minAvailable !== undefined) return Math.max(0, replicas - toCount(spec.minAvailable));
    // Neither set: Kubernetes treats it as minAvailable 1.
    return Math.max(0, replicas - 1);
}

// ---------------------------------------------------------------- GKE

/** The fields of gcp.container.Cluster the pack reads (names as in @pulumi/gcp ClusterArgs). */
export interface GkeClusterProps {
    readonly location?: string;
    readonly nodeLocations?: readonly string[];
    readonly enableAutopilot?: boolean;
    readonly enableLegacyAbac?: boolean;
    readonly removeDefaultNodePool?: boolean;
    readonly releaseChannel?: { readonly channel?: string };
    readonly workloadIdentityConfig?: { readonly workloadPool?: string };
    readonly nodeConfig?: GkeNodeConfig;
    readonly privateClusterConfig?: { readonly enablePrivateEndpoint?: boolean };
    readonly masterAuthorizedNetworksConfig?: {
        readonly cidrBlocks?: readonly { readonly cidrBlock: string }[];
        readonly gcpPublicCidrsAccessEnabled?: boolean;
    };
    readonly controlPlaneEndpointsConfig?: { readonly ipEndpointsConfig?: { readonly enabled?: boolean } };
}

/** The fields of gcp.container.NodePool the pack reads (names as in @pulumi/gcp NodePoolArgs). */
export interface GkeNodePoolProps {
    readonly location?: string;
    readonly nodeLocations?: readonly string[];
    readonly management?: { readonly autoRepair?: boolean; readonly autoUpgrade?: boolean };
    readonly nodeConfig?: GkeNodeConfig;
    readonly upgradeSettings?: { readonly strategy?: string; readonly maxSurge?: number; readonly maxUnavailable?: number };
}

export interface GkeNodeConfig {
    readonly serviceAccount?: string;
    readonly workloadMetadataConfig?: { readonly mode?: string };
}

/** `us-central1` is a region; `us-central1-a` is a zone. */
export function isGcpRegion(location: string | undefined): boolean {
    return location !== undefined && /^[a-z]+-[a-z]+\d+$/.test(location);
}

/** The Compute Engine default service account (project editor by default) or the literal "default". */
export function isDefaultComputeServiceAccount(sa: string | undefined): boolean {
    return sa === undefined || sa === "" || sa === "default" || /-compute@developer\.gserviceaccount\.com$/.test(sa);
}

// ---------------------------------------------------------------- formation

/**
 * The formation resource (components/formation/provider.ts) as the pack sees it:
 * inputs, plus outputs once the engine has them. It is a dynamic resource, so its
 * type token is shared; these fields are what identifies it.
 */
export interface FormationProps {
    readonly namespace?: string;
    readonly statefulSetName?: string;
    readonly masters?: number;
    readonly replicasPerMaster?: number;
    /** The StatefulSet runs the surge pod beyond the members (issue 15); absent: it does not. */
    readonly surgeReplica?: boolean;
    readonly placementOk?: boolean;
    readonly placementWarnings?: readonly string[];
}

/** Dynamic-provider resources: `pulumi-nodejs:dynamic:Resource`, or `pulumi-nodejs:dynamic/<module>:<Type>` when named. */
export function isDynamicResource(type: string): boolean {
    return type === TYPES.dynamicResource || type.startsWith("pulumi-nodejs:dynamic/");
}

export function isFormation(type: string, props: Record<string, unknown>): boolean {
    // A named dynamic type says what it is (the scale-in drain has the same inputs); an unnamed one is judged by its props.
    if (type.startsWith("pulumi-nodejs:dynamic/")) return type.endsWith(":RedisClusterFormation");
    return type === TYPES.dynamicResource && "statefulSetName" in props && "masters" in props && !("drained" in props);
}
