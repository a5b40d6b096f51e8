/**
 * The Redis pods of one StatefulSet, over the Kubernetes API: what the formation and drain providers
 * do with them — wait for them, read the live cluster, form or converge it, drain the pods a scale-in
 * removes — and the outputs a live read turns into. Pulumi-free (the providers log through `log`).
 */
import * as shape from "../shape";
import { FORMATION_DEFAULTS } from "./defaults";
import { DriftItem } from "./drift";
import { FormNode, form } from "./form";
import { LiveReport, liveReport, liveRequest, liveShape, readLiveCluster } from "./live";
import { KubernetesTransport, RedisPod } from "./kubernetesTransport";
import { drainLeaving } from "./scaleIn";
import { withoutSurge } from "./surge";
import { WaitOptions, waitFor } from "./wait";

/** What the providers know of the pods: where they are, how to reach Redis in them, the shape. */
export interface PodClusterInputs {
    readonly kubeconfig: string;
    readonly namespace: string;
    readonly statefulSetName: string;
    readonly containerName: string;
    readonly masters: number;
    readonly replicasPerMaster: number;
    /** Headless Service of the StatefulSet: seeds become stable pod DNS names instead of pod IPs. */
    readonly headlessServiceName?: string;
    readonly port?: number;
    /** How long to wait for the pods to be Ready, and for each formation step (ms). */
    readonly timeoutMs?: number;
    /**
     * The StatefulSet runs the surge pod (shape.ts surgeOrdinal) besides the shape's: never a member, never
     * forgotten, never drained out of existence. Absent: false, every pod beyond the shape is leaving.
     */
    readonly surgeReplica?: boolean;
}

/** A member of the shard map in the outputs: the pod, its Redis node id and address, where it runs. */
export interface MemberOutput {
    readonly pod: string;
    readonly id: string;
    readonly address: string;
    readonly k8sNode?: string;
    readonly zone?: string;
}

/** A shard in the outputs: the master and its replicas, with where they run. */
export interface ShardOutput {
    readonly master: MemberOutput;
    readonly slots: readonly (readonly [number, number])[];
    readonly replicas: readonly MemberOutput[];
}

/** What a live read reports, as the formation's outputs carry it. */
export interface LiveOutputs {
    readonly seeds: string[];
    readonly shards: ShardOutput[];
    readonly placementOk: boolean;
    readonly placementWarnings: string[];
    readonly clusterState: string;
    /** What differs from the requested shape or a healthy cluster (refresh, or the end of an update). */
    readonly drift: DriftItem[];
    /** The plan the next update would run to converge, line by line; empty when there is nothing to do. */
    readonly converge: string[];
}

export const clientPort = (inputs: Pick<PodClusterInputs, "port">) => inputs.port ?? shape.CLIENT_PORT;

export function openPods(inputs: PodClusterInputs): KubernetesTransport {
    return new KubernetesTransport({
        kubeconfig: inputs.kubeconfig,
        namespace: inputs.namespace,
        container: inputs.containerName,
        port: clientPort(inputs),
    });
}

/** Seed endpoints: stable pod DNS names when the headless Service is known, else pod IPs. Pure. */
export function formationSeeds(
    pods: readonly string[],
    inputs: Pick<PodClusterInputs, "namespace" | "statefulSetName" | "headlessServiceName" | "port">,
    ipOf: (pod: string) => string,
): string[] {
    const port = clientPort(inputs);
    if (!inputs.headlessServiceName) return pods.map((pod) => `${ipOf(pod)}:${port}`);
    const naming = { statefulSet: inputs.statefulSetName, headlessService: inputs.headlessServiceName, namespace: inputs.namespace };
    return shape.podEndpoints(naming, pods, port);
}

/** Which of the first `expected` pods are not usable yet, or undefined when all are. Pure. */
export function podsPending(pods: readonly RedisPod[], statefulSetName: string, expected: number): string | undefined {
    const byName = new Map(pods.map((p) => [p.name, p]));
    const missing: string[] = [];
    for (let i = 0; i < expected; i++) {
        const name = shape.podName(statefulSetName, i);
        const p = byName.get(name);
        if (!p) missing.push(`${name} does not exist`);
        else if (!p.ip) missing.push(`${name} has no IP`);
        else if (!p.ready) missing.push(`${name} is not Ready`);
    }
    return missing.length ? missing.join("; ") : undefined;
}

const ordinalOf = (inputs: Pick<PodClusterInputs, "statefulSetName">, pod: string) =>
    shape.podOrdinal(inputs.statefulSetName, pod) ?? Number.MAX_SAFE_INTEGER;

/**
 * The surge pod as the engine reaches it, when the inputs have one and its pod has an IP (a pod without
 * one is in no cluster). Pure.
 */
export function surgeTarget(
    inputs: Pick<PodClusterInputs, "statefulSetName" | "surgeReplica" | "port"> & shape.ClusterShape,
    pods: readonly RedisPod[],
): FormNode | undefined {
    const pod = shape.surgePodOf(inputs.statefulSetName, pods, inputs, inputs.surgeReplica ?? false);
    return pod?.ip ? formNodeOf(pod, clientPort(inputs)) : undefined;
}

/** The shape (and surge) the pods had before this update, when the drain knows it. */
export type PreviousShape = shape.ClusterShape & Pick<PodClusterInputs, "surgeReplica">;

/**
 * The pods a scale-in drains: every pod beyond the new shape when some pod is beyond the new surge
 * ordinal too; and the pod at the new surge ordinal whenever it was a member of the previous shape
 * (3x2 -> 4x1: redis-8 leaves no other pod beyond it). That pod stays as the surge pod: `release` names
 * it, to be taken out of the cluster once drained. Otherwise the pod at the surge ordinal is the idle
 * (or recruited) surge, and never leaves. Pure.
 */
export function leavingPods<P extends { readonly name: string }>(
    inputs: Pick<PodClusterInputs, "statefulSetName" | "surgeReplica"> & shape.ClusterShape,
    pods: readonly P[],
    previous?: PreviousShape,
): { leaving: P[]; release?: P } {
    const expected = shape.podCount(inputs);
    const ordinal = (p: P) => ordinalOf(inputs, p.name);
    const atSurge = shape.surgePodOf(inputs.statefulSetName, pods, inputs, inputs.surgeReplica ?? false);
    const shrinks = pods.some((p) => ordinal(p) >= shape.statefulSetReplicas(inputs, inputs.surgeReplica ?? false));
    const wasMember = atSurge !== undefined && previous !== undefined && ordinal(atSurge) < shape.podCount(previous);
    if (!shrinks && !wasMember) return { leaving: [] };
    return { leaving: pods.filter((p) => ordinal(p) >= expected), ...(atSurge ? { release: atSurge } : {}) };
}

/** A pod as the engine takes it. */
export const formNodeOf = (p: RedisPod, port: number): FormNode => ({
    address: `${p.ip}:${port}`,
    target: p.name,
    k8sNode: p.k8sNode,
    zone: p.zone,
});

function waitOptions(inputs: PodClusterInputs, log: (line: string) => void): WaitOptions {
    return { timeoutMs: inputs.timeoutMs ?? FORMATION_DEFAULTS.providerTimeoutMs, pollMs: FORMATION_DEFAULTS.podPollMs, progress: log };
}

/** Waits until the first `count` pods are Ready; returns them (ordinal order). */
async function readyPods(
    t: KubernetesTransport,
    inputs: PodClusterInputs,
    count: number,
    log: (line: string) => void,
): Promise<RedisPod[]> {
    let pods: RedisPod[] = [];
    await waitFor(
        `${count} Ready pods of StatefulSet ${inputs.namespace}/${inputs.statefulSetName}`,
        async () => podsPending((pods = await t.listPods(inputs.statefulSetName)), inputs.statefulSetName, count),
        waitOptions(inputs, log),
    );
    return pods.filter((p) => ordinalOf(inputs, p.name) < count);
}

/** The engine's options for these inputs. */
function engineOptions(inputs: PodClusterInputs, t: KubernetesTransport, log: (line: string) => void) {
    return {
        masters: inputs.masters,
        replicasPerMaster: inputs.replicasPerMaster,
        transport: t,
        log,
        timeoutMs: Math.min(inputs.timeoutMs ?? FORMATION_DEFAULTS.providerTimeoutMs, FORMATION_DEFAULTS.providerStepTimeoutMs),
        pollMs: FORMATION_DEFAULTS.execPollMs,
    };
}

/**
 * The formation's create/update body: waits for the pods of the shape, and for the pods a scale-in
 * removed to be gone (the nodes forget only nodes that are dead), forms or converges, then reads the
 * live cluster for the outputs.
 */
export async function formInPods(inputs: PodClusterInputs, log: (line: string) => void): Promise<LiveOutputs> {
    const expected = shape.podCount(inputs);
    const t = openPods(inputs);
    try {
        const pods = await readyPods(t, inputs, expected, log);
        // The surge pod stays: the StatefulSet keeps one pod beyond the shape.
        const kept = shape.statefulSetReplicas(inputs, inputs.surgeReplica ?? false);
        await waitFor(
            `the pods a scale-in removed to be gone`,
            async () => {
                const left = (await t.podNames(inputs.statefulSetName)).filter((n) => ordinalOf(inputs, n) >= kept);
                return left.length ? `${left.join(", ")} still exist` : undefined;
            },
            waitOptions(inputs, log),
        );
        const surge = surgeTarget(inputs, await t.listPods(inputs.statefulSetName));
        await form({
            ...engineOptions(inputs, t, log),
            nodes: pods.map((p) => formNodeOf(p, clientPort(inputs))),
            ...(surge ? { surge } : {}),
        });
        return await readInPods(inputs, t);
    } finally {
        await t.close();
    }
}

/**
 * The scale-in drain's body: the pods beyond the new shape, if any, are drained before the StatefulSet
 * removes them. Every current pod must be Ready first. Returns the drained pods (none: nothing leaves).
 */
export async function drainInPods(inputs: PodClusterInputs, log: (line: string) => void, previous?: PreviousShape): Promise<string[]> {
    const expected = shape.podCount(inputs);
    const t = openPods(inputs);
    try {
        const current = await t.listPods(inputs.statefulSetName);
        const { leaving, release } = leavingPods(inputs, current, previous);
        if (leaving.length === 0) {
            log(
                `scale-in drain: no pod of ${inputs.namespace}/${inputs.statefulSetName} leaves (${current.length} pods, ${expected} wanted)`,
            );
            return [];
        }
        const count = Math.max(...current.map((p) => ordinalOf(inputs, p.name))) + 1;
        const pods = await readyPods(t, inputs, count, log);
        const port = clientPort(inputs);
        await drainLeaving({
            ...engineOptions(inputs, t, log),
            nodes: pods.map((p) => formNodeOf(p, port)),
            leaving: pods.filter((p) => ordinalOf(inputs, p.name) >= expected).map((p) => `${p.ip}:${port}`),
            ...(release ? { release: formNodeOf(pods.find((p) => p.name === release.name) ?? release, port).address } : {}),
        });
        return leaving.map((p) => p.name);
    } finally {
        await t.close();
    }
}

/**
 * A live read of the pods of the shape (refresh, or after an update): every pod that can be read, the
 * others reported as unreachable; nothing is changed.
 */
export async function readInPods(
    inputs: Omit<PodClusterInputs, "masters" | "replicasPerMaster"> & Partial<shape.ClusterShape>,
    t: KubernetesTransport = openPods({ ...inputs, masters: 0, replicasPerMaster: 0 }),
): Promise<LiveOutputs & shape.ClusterShape> {
    const port = clientPort(inputs);
    const known = Number.isInteger(inputs.masters) && Number.isInteger(inputs.replicasPerMaster);
    const listed = await t.listPods(inputs.statefulSetName);
    // Without a requested shape (a `get` by id) every pod counts, and the live cluster's shape is taken.
    // The surge pod is the highest then.
    const expected = known ? shape.podCount(inputs as shape.ClusterShape) : listed.length - (inputs.surgeReplica && listed.length ? 1 : 0);
    const pods = listed.filter((p) => ordinalOf(inputs, p.name) < expected);
    const usable = pods.filter((p) => p.ip);
    const surge = inputs.surgeReplica ? listed.find((p) => p.name === shape.podName(inputs.statefulSetName, expected)) : undefined;
    const live = await readLiveCluster(
        t,
        usable.map((p) => formNodeOf(p, port)),
        surge?.ip ? formNodeOf(surge, port) : undefined,
    );
    const { masters, replicasPerMaster } = known ? (inputs as shape.ClusterShape) : liveShape(withoutSurge(live.views, live.surge));
    const missing = Array.from({ length: expected }, (_, i) => shape.podName(inputs.statefulSetName, i))
        .filter((name) => !usable.some((p) => p.name === name))
        .map((name) => ({ address: name, error: pods.some((p) => p.name === name) ? "the pod has no IP" : "the pod does not exist" }));
    const nodes = usable.map((p) => formNodeOf(p, port));
    const podOf = (address: string) => usable.find((p) => `${p.ip}:${port}` === address)?.name ?? address;
    const report = liveReport(
        { ...live, unreachable: [...live.unreachable, ...missing] },
        liveRequest(nodes, masters, replicasPerMaster),
        (a) => (podOf(a) === a ? a : `${podOf(a)} (${a})`),
    );
    return { masters, replicasPerMaster, ...liveOutputs(inputs, report, usable) };
}

/** The outputs of a live report: shards named by pod with node ids, seeds as stable DNS names. Pure. */
export function liveOutputs(
    inputs: Pick<PodClusterInputs, "namespace" | "statefulSetName" | "headlessServiceName" | "port">,
    report: LiveReport,
    pods: readonly RedisPod[],
): LiveOutputs {
    const port = clientPort(inputs);
    const podOf = new Map(pods.map((p) => [`${p.ip}:${port}`, p]));
    const member = (m: { address: string; id: string; k8sNode?: string; zone?: string }): MemberOutput => ({
        pod: podOf.get(m.address)?.name ?? m.address,
        id: m.id,
        address: m.address,
        ...(m.k8sNode ? { k8sNode: m.k8sNode } : {}),
        ...(m.zone ? { zone: m.zone } : {}),
    });
    const shards = report.shards.map((s) => ({
        master: member(s.master),
        slots: s.slots.map(([a, b]) => [a, b] as const),
        replicas: s.replicas.map(member),
    }));
    const ipOf = (pod: string) => pods.find((p) => p.name === pod)?.ip ?? pod;
    return {
        seeds: formationSeeds(
            shards.flatMap((s) => [s.master.pod, ...s.replicas.map((r) => r.pod)]),
            inputs,
            ipOf,
        ),
        shards,
        placementOk: report.placementWarnings.length === 0,
        placementWarnings: report.placementWarnings,
        clusterState: report.clusterState,
        drift: report.drift,
        converge: report.converge,
    };
}
