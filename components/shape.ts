/**
 * The cluster shape: the one source of its limits, the pod count, the ports and the pods' DNS names.
 * Stack config, the formation provider and planner, the manifests and the local CLI all read these
 * facts from here. Pulumi-free, so the local tools load it without @pulumi/pulumi.
 */

/** Hash slots of every Redis Cluster. */
export const SLOT_COUNT = 16384;

/** A failover needs a majority of masters, and a majority of two is both of them. */
export const MIN_MASTERS = 3;
/** Replicas of each master. More than five only adds replication traffic and memory. */
export const MAX_REPLICAS_PER_MASTER = 5;
/**
 * Nodes of one cluster, masters and replicas together. Redis's cluster specification gives about
 * 1000 nodes as the size the gossip protocol is designed for.
 */
export const MAX_NODES = 1000;

/** Client port of every node (Redis's default); every pod listens on the same one. */
export const CLIENT_PORT = 6379;
/** The cluster bus listens at the client port plus this (Redis's fixed offset). */
export const BUS_PORT_OFFSET = 10000;
/** Kubernetes' default cluster DNS domain (kubelet --cluster-domain). */
export const DEFAULT_CLUSTER_DOMAIN = "cluster.local";

/** How many masters and how many replicas each. */
export interface ClusterShape {
    readonly masters: number;
    readonly replicasPerMaster: number;
}

/** One problem with a shape, naming the field. */
export interface ShapeProblem {
    readonly field: "masters" | "replicasPerMaster";
    readonly reason: string;
}

/** Pods (Redis nodes) of a shape: every master with its replicas. */
export function podCount(shape: ClusterShape): number {
    return shape.masters * (1 + shape.replicasPerMaster);
}

/**
 * The surge pod: one pod beyond the shape's, in the same StatefulSet at the next ordinal. It is no member
 * of the cluster at rest. A planned stop (preStop) that would leave its shard without another in-sync
 * replica first recruits it as that shard's replica, so WAIT 1 goes on confirming writes while the pod
 * is away; it leaves the cluster again once the shard has its own replica back. Only a shape with one
 * replica per master needs it (with two or more, another replica stays; with none, nothing waits). The
 * highest ordinal, so a rolling update restarts it first, while it is idle, and a PodDisruptionBudget
 * over every pod never drains it together with a member.
 */
export function surgeOrdinal(shape: ClusterShape): number {
    return podCount(shape);
}

/** Pods of the StatefulSet: the shape's, and the surge pod when there is one. */
export function statefulSetReplicas(shape: ClusterShape, surge: boolean): number {
    return podCount(shape) + (surge ? 1 : 0);
}

/** The surge pod among a StatefulSet's pods, by name; undefined without one (surge off, or its pod not listed). */
export function surgePodOf<P extends { readonly name: string }>(
    statefulSet: string,
    pods: readonly P[],
    shape: ClusterShape,
    surge: boolean,
): P | undefined {
    return surge ? pods.find((p) => p.name === podName(statefulSet, surgeOrdinal(shape))) : undefined;
}

/** Whether a shape can have a surge pod: only one replica per master leaves a shard with a single copy during a stop. */
export function surgeApplies(shape: Pick<ClusterShape, "replicasPerMaster">): boolean {
    return shape.replicasPerMaster === 1;
}

/** Largest number of masters allowed with `replicasPerMaster` replicas each. */
export function maxMasters(replicasPerMaster: number): number {
    return Math.floor(MAX_NODES / (1 + replicasPerMaster));
}

const isWhole = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/**
 * Every problem with a shape, each naming the field and the allowed values; empty when valid.
 * Pure: config, the provider's check, the planner and the local CLI all ask this.
 */
export function shapeProblems(shape: { readonly masters: unknown; readonly replicasPerMaster: unknown }): ShapeProblem[] {
    const problems: ShapeProblem[] = [];
    const { masters, replicasPerMaster } = shape;
    if (!isWhole(replicasPerMaster) || replicasPerMaster < 0 || replicasPerMaster > MAX_REPLICAS_PER_MASTER) {
        problems.push({
            field: "replicasPerMaster",
            reason: `expected a whole number from 0 to ${MAX_REPLICAS_PER_MASTER}, got ${JSON.stringify(replicasPerMaster)}`,
        });
    }
    if (!isWhole(masters) || masters < MIN_MASTERS || masters > MAX_NODES) {
        problems.push({
            field: "masters",
            reason: `expected a whole number from ${MIN_MASTERS} to ${MAX_NODES} (a majority of masters must survive a failure), got ${JSON.stringify(masters)}`,
        });
    } else if (problems.length === 0 && podCount({ masters, replicasPerMaster: replicasPerMaster as number }) > MAX_NODES) {
        problems.push({
            field: "masters",
            reason:
                `${masters} masters x (1 + ${String(replicasPerMaster)} replicas) make ${podCount({ masters, replicasPerMaster: replicasPerMaster as number })} nodes; ` +
                `a cluster has at most ${MAX_NODES}, so at most ${maxMasters(replicasPerMaster as number)} masters with ${String(replicasPerMaster)} replicas each`,
        });
    }
    return problems;
}

/** The cluster bus port of a node listening on `clientPort`. */
export function busPort(clientPort: number = CLIENT_PORT): number {
    return clientPort + BUS_PORT_OFFSET;
}

/** Where the pods of one StatefulSet live, for their DNS names. */
export interface PodNaming {
    readonly statefulSet: string;
    /** The headless Service that gives every pod its DNS name. */
    readonly headlessService: string;
    readonly namespace: string;
    /** Default DEFAULT_CLUSTER_DOMAIN. */
    readonly clusterDomain?: string;
}

/** Name of the StatefulSet's pod `ordinal`. */
export function podName(statefulSet: string, ordinal: number): string {
    return `${statefulSet}-${ordinal}`;
}

/** Ordinal of a StatefulSet pod name (`redis-4` -> 4), or undefined for another name. */
export function podOrdinal(statefulSet: string, name: string): number | undefined {
    if (!name.startsWith(`${statefulSet}-`)) return undefined;
    const rest = name.slice(statefulSet.length + 1);
    return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

/** Stable DNS name of a pod: survives restarts and IP changes (what clients and peers use). */
export function podDnsName(naming: PodNaming, pod: string): string {
    return `${pod}.${naming.headlessService}.${naming.namespace}.svc.${naming.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN}`;
}

/** `host:port` of pods by name: stable DNS names, the seeds clients and the app use. */
export function podEndpoints(naming: PodNaming, pods: readonly string[], port: number = CLIENT_PORT): string[] {
    return pods.map((pod) => `${podDnsName(naming, pod)}:${port}`);
}

/** `host:port` of every pod of a shape, by ordinal. */
export function seedEndpoints(naming: PodNaming, shape: ClusterShape, port: number = CLIENT_PORT): string[] {
    const pods = Array.from({ length: podCount(shape) }, (_, i) => podName(naming.statefulSet, i));
    return podEndpoints(naming, pods, port);
}

/** `host:port` of a Service, fully qualified so it resolves from any namespace. */
export function serviceEndpoint(
    service: string,
    namespace: string,
    port: number = CLIENT_PORT,
    clusterDomain = DEFAULT_CLUSTER_DOMAIN,
): string {
    return `${service}.${namespace}.svc.${clusterDomain}:${port}`;
}
