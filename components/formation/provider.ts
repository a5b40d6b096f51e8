/**
 * RedisClusterFormation: a Pulumi dynamic resource that forms the Redis Cluster of a
 * StatefulSet by exec'ing redis-cli in its pods (components/formation/transport.ts),
 * with the same engine the local embedded cluster uses (form.ts).
 *
 *  - check:  validates inputs (field names and allowed values in every message);
 *            refuses scale-in against the previous inputs.
 *  - diff:   masters/replicas/providerVersion/kubeconfig changes are updates;
 *            a changed namespace, StatefulSet or container name is a replace.
 *  - create/update: list pods (IP, k8s node, zone), form / verify / scale out.
 *  - delete: leaves Redis and its data alone (the StatefulSet's own deletion and PVC
 *            retention policy decide that); forgetting the formation is all it does.
 *
 * Serializable: the provider captures no clients or secrets; modules are required
 * inside methods, and the kubeconfig arrives as an input on each call.
 */
import * as pulumi from "@pulumi/pulumi";
import * as formEngine from "./form";
import * as podTransport from "./kubernetesTransport";
import { FORMATION_DEFAULTS } from "./defaults";
import { scaleInFailures } from "./scaleGuard";
import * as shape from "../shape";
import { waitFor } from "./wait";

/** Bump when the provider's behaviour changes, so existing stacks run the new code (Pulumi does not diff code). */
export const FORMATION_PROVIDER_VERSION = "1.2.0";

/** Resolved inputs as the provider receives them. */
export interface FormationInputs {
    readonly kubeconfig: string;
    readonly namespace: string;
    readonly statefulSetName: string;
    readonly containerName: string;
    readonly masters: number;
    readonly replicasPerMaster: number;
    readonly providerVersion: string;
    /** Headless Service of the StatefulSet: seeds become stable pod DNS names instead of pod IPs. */
    readonly headlessServiceName?: string;
    readonly port?: number;
    /** How long to wait for the pods to be Ready, and for each formation step (ms). */
    readonly timeoutMs?: number;
}

/** A shard in the output map: the master and its replicas, with where they run. */
export interface ShardOutput {
    readonly master: MemberOutput;
    readonly slots: readonly (readonly [number, number])[];
    readonly replicas: readonly MemberOutput[];
}

export interface MemberOutput {
    readonly pod: string;
    readonly address: string;
    readonly k8sNode?: string;
    readonly zone?: string;
}

export interface FormationOutputs extends FormationInputs {
    readonly seeds: string[];
    readonly shards: ShardOutput[];
    readonly placementOk: boolean;
    readonly placementWarnings: string[];
    readonly clusterState: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Every problem with the inputs, each naming the field and what is allowed. Pure. */
export function checkFormationInputs(
    olds: Partial<FormationInputs> | undefined,
    news: Partial<FormationInputs>,
): pulumi.dynamic.CheckFailure[] {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const fail = (property: string, reason: string) => failures.push({ property, reason });
    const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
    // At preview, inputs computed from resources not created yet (a new cluster's kubeconfig, the
    // namespace) arrive as Pulumi's unknown sentinel; they are checked again once known.
    const known = (field: keyof FormationInputs) => news[field] !== pulumi.runtime.unknownValue;
    if (known("kubeconfig") && (typeof news.kubeconfig !== "string" || news.kubeconfig.trim() === ""))
        fail("kubeconfig", "kubeconfig: required, the kubeconfig (YAML) of the target cluster");
    for (const field of ["namespace", "statefulSetName", "containerName"] as const) {
        const v = news[field];
        if (known(field) && (typeof v !== "string" || v.length > 63 || !DNS_LABEL.test(v))) {
            fail(
                field,
                `${field}: expected a DNS label (lowercase letters, digits and '-', at most 63 characters), got ${JSON.stringify(v)}`,
            );
        }
    }
    if (
        news.headlessServiceName !== undefined &&
        known("headlessServiceName") &&
        (typeof news.headlessServiceName !== "string" || !DNS_LABEL.test(news.headlessServiceName))
    ) {
        fail(
            "headlessServiceName",
            `headlessServiceName: expected a DNS label or nothing, got ${JSON.stringify(news.headlessServiceName)}`,
        );
    }
    // An unknown count stands in as a valid one, so the known one is still checked.
    const problems = shape.shapeProblems({
        masters: known("masters") ? news.masters : shape.MIN_MASTERS,
        replicasPerMaster: known("replicasPerMaster") ? news.replicasPerMaster : 0,
    });
    for (const p of problems) fail(p.field, `${p.field}: ${p.reason}`);
    if (typeof news.providerVersion !== "string" || news.providerVersion === "")
        fail("providerVersion", "providerVersion: required (e.g. FORMATION_PROVIDER_VERSION)");
    if (news.port !== undefined && (!isInt(news.port) || news.port < 1 || news.port > 65535))
        fail("port", `port: expected 1-65535, got ${JSON.stringify(news.port)}`);
    if (news.timeoutMs !== undefined && (!isInt(news.timeoutMs) || news.timeoutMs < 1000))
        fail("timeoutMs", `timeoutMs: expected an integer >= 1000, got ${JSON.stringify(news.timeoutMs)}`);
    // Scale-in is refused here too (defence in depth); RedisScaleGuard refuses it before the StatefulSet shrinks.
    if (olds && olds.statefulSetName === news.statefulSetName && olds.namespace === news.namespace) {
        for (const f of scaleInFailures(olds, news)) fail(f.property, f.reason);
    }
    return failures;
}

/** Shape changes are in-place updates; a different target is a new formation. Pure. */
export function diffFormation(olds: Partial<FormationInputs>, news: Partial<FormationInputs>): pulumi.dynamic.DiffResult {
    const replaceKeys = ["namespace", "statefulSetName", "containerName"] as const;
    const updateKeys = [
        "masters",
        "replicasPerMaster",
        "providerVersion",
        "kubeconfig",
        "headlessServiceName",
        "port",
        "timeoutMs",
    ] as const;
    const replaces = replaceKeys.filter((k) => olds[k] !== news[k]);
    const changed = [...replaces, ...updateKeys.filter((k) => olds[k] !== news[k])];
    return { changes: changed.length > 0, replaces, deleteBeforeReplace: false };
}

/** Seed endpoints: stable pod DNS names when the headless Service is known, else pod IPs. Pure. */
export function formationSeeds(
    pods: readonly string[],
    inputs: Pick<FormationInputs, "namespace" | "statefulSetName" | "headlessServiceName" | "port">,
    ipOf: (pod: string) => string,
): string[] {
    const port = inputs.port ?? shape.CLIENT_PORT;
    if (!inputs.headlessServiceName) return pods.map((pod) => `${ipOf(pod)}:${port}`);
    const naming = { statefulSet: inputs.statefulSetName, headlessService: inputs.headlessServiceName, namespace: inputs.namespace };
    return shape.podEndpoints(naming, pods, port);
}

/** Reports which expected pods are not usable yet, or undefined when all are. Pure. */
export function podsPending(pods: readonly podTransport.RedisPod[], statefulSetName: string, expected: number): string | undefined {
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

/** The create/update body: wait for the pods, form, shape the outputs. */
async function formInPods(inputs: FormationInputs): Promise<FormationOutputs> {
    const port = inputs.port ?? shape.CLIENT_PORT;
    const timeoutMs = inputs.timeoutMs ?? FORMATION_DEFAULTS.providerTimeoutMs;
    const expected = shape.podCount(inputs);
    const transport = new podTransport.KubernetesTransport({
        kubeconfig: inputs.kubeconfig,
        namespace: inputs.namespace,
        container: inputs.containerName,
        port,
    });
    try {
        let pods: podTransport.RedisPod[] = [];
        await waitFor(
            `${expected} Ready pods of StatefulSet ${inputs.namespace}/${inputs.statefulSetName}`,
            async () => podsPending((pods = await transport.listPods(inputs.statefulSetName)), inputs.statefulSetName, expected),
            { timeoutMs, pollMs: FORMATION_DEFAULTS.podPollMs },
        );
        const used = pods.filter((p) => (shape.podOrdinal(inputs.statefulSetName, p.name) ?? Infinity) < expected);
        const result = await formEngine.form({
            nodes: used.map((p) => ({ address: `${p.ip}:${port}`, target: p.name, k8sNode: p.k8sNode, zone: p.zone })),
            masters: inputs.masters,
            replicasPerMaster: inputs.replicasPerMaster,
            transport,
            log: (line: string) => pulumi.log.info(`redis formation: ${line}`),
            timeoutMs: Math.min(timeoutMs, FORMATION_DEFAULTS.providerStepTimeoutMs),
            pollMs: FORMATION_DEFAULTS.execPollMs,
        });
        return formationOutputs(inputs, result, used);
    } finally {
        await transport.close();
    }
}

/** The provider's outputs from a formation result: shards named by pod, seeds as stable DNS names. Pure. */
export function formationOutputs(
    inputs: FormationInputs,
    result: formEngine.FormResult,
    pods: readonly podTransport.RedisPod[],
): FormationOutputs {
    const port = inputs.port ?? shape.CLIENT_PORT;
    const podOf = new Map(pods.map((p) => [`${p.ip}:${port}`, p]));
    const member = (m: formEngine.ShardMember): MemberOutput => ({
        pod: podOf.get(m.address)?.name ?? m.address,
        address: m.address,
        ...(m.k8sNode ? { k8sNode: m.k8sNode } : {}),
        ...(m.zone ? { zone: m.zone } : {}),
    });
    const shards = result.shards.map((s) => ({
        master: member(s.master),
        slots: s.slots.map(([a, b]) => [a, b] as const),
        replicas: s.replicas.map(member),
    }));
    const ipOf = (pod: string) => pods.find((p) => p.name === pod)?.ip ?? pod;
    return {
        ...inputs,
        seeds: formationSeeds(
            shards.flatMap((s) => [s.master.pod, ...s.replicas.map((r) => r.pod)]),
            inputs,
            ipOf,
        ),
        shards,
        placementOk: result.placementOk,
        placementWarnings: [...result.placementWarnings],
        clusterState: result.clusterState,
    };
}

/** The dynamic provider. A plain object of functions: Pulumi serializes it with its captured module functions. */
export const formationProvider: pulumi.dynamic.ResourceProvider<FormationInputs, FormationOutputs> = {
    async check(olds, news) {
        const failures = checkFormationInputs(olds, news);
        return failures.length ? { failures } : { inputs: news };
    },
    async diff(_id, olds, news) {
        return diffFormation(olds, news);
    },
    async create(inputs) {
        const outs = await formInPods(inputs);
        return { id: `${inputs.namespace}/${inputs.statefulSetName}`, outs };
    },
    async update(_id, olds, news) {
        // check() already refused scale-in; the engine refuses it again against the live cluster.
        const scaleIn = scaleInFailures(olds, news);
        if (scaleIn.length) throw new Error(scaleIn.map((f) => f.reason).join("; "));
        return { outs: await formInPods(news) };
    },
    async delete() {
        // Deliberately nothing: removing the formation must never touch Redis data.
    },
};

/** Inputs of RedisClusterFormation. */
export interface RedisClusterFormationArgs {
    /** kubeconfig (YAML) used to exec into the pods; kept secret in state. */
    readonly kubeconfig: pulumi.Input<string>;
    readonly namespace: pulumi.Input<string>;
    /** The Redis StatefulSet; its pods are `<name>-0 … <name>-(N-1)`. */
    readonly statefulSetName: pulumi.Input<string>;
    /** Container in each pod that has redis-cli and REDIS_PASSWORD in its env. */
    readonly containerName: pulumi.Input<string>;
    /** Masters, at least 3; growing it scales out, shrinking it is refused. */
    readonly masters: pulumi.Input<number>;
    readonly replicasPerMaster: pulumi.Input<number>;
    /** Headless Service name: seeds become stable pod DNS names. */
    readonly headlessServiceName?: pulumi.Input<string>;
    readonly port?: pulumi.Input<number>;
    /** Upper bound for waiting on pods and on each formation step, ms (default FORMATION_DEFAULTS.providerTimeoutMs). */
    readonly timeoutMs?: pulumi.Input<number>;
    /** Defaults to FORMATION_PROVIDER_VERSION; a new value makes existing stacks run the new provider code. */
    readonly providerVersion?: pulumi.Input<string>;
}

/** The formed Redis Cluster of a StatefulSet. */
export class RedisClusterFormation extends pulumi.dynamic.Resource {
    /** host:port seeds for clients (pod DNS names with a headless Service). */
    declare public readonly seeds: pulumi.Output<string[]>;
    /** master -> replicas, with pod, k8s node and zone of each. */
    declare public readonly shards: pulumi.Output<ShardOutput[]>;
    /** False when some replica shares a k8s node (or zone) with its master; see placementWarnings. */
    declare public readonly placementOk: pulumi.Output<boolean>;
    declare public readonly placementWarnings: pulumi.Output<string[]>;
    declare public readonly clusterState: pulumi.Output<string>;

    constructor(name: string, args: RedisClusterFormationArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            formationProvider,
            name,
            {
                ...args,
                providerVersion: args.providerVersion ?? FORMATION_PROVIDER_VERSION,
                seeds: undefined,
                shards: undefined,
                placementOk: undefined,
                placementWarnings: undefined,
                clusterState: undefined,
            },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["kubeconfig"] }),
            "redis-cluster-gke",
            "RedisClusterFormation",
        );
    }
}
