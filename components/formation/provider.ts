/**
 * RedisClusterFormation: a Pulumi dynamic resource that forms the Redis Cluster of a
 * StatefulSet by exec'ing redis-cli in its pods (components/formation/kubernetesTransport.ts),
 * with the same engine the local embedded cluster uses (form.ts).
 *
 *  - check:  validates inputs (field names and allowed values in every message).
 *  - diff:   masters/replicas/providerVersion/kubeconfig changes are updates, and so is drift the
 *            last refresh found and the next update can converge; a changed namespace, StatefulSet
 *            or container name is a replace. When there is an update, its plan is printed — at
 *            `pulumi preview` too — from the recorded state alone (preview.ts): no cluster contact.
 *  - create/update: list pods (IP, k8s node, zone), wait for pods a scale-in removed to be gone,
 *            form / converge / scale out / forget removed nodes, then read the live cluster.
 *  - read:   `pulumi refresh` and `RedisClusterFormation.get`: the live shards (roles as they are
 *            after failovers), placement re-evaluated, cluster state, drift and the converge plan.
 *  - delete: leaves Redis and its data alone (the StatefulSet's own deletion and PVC
 *            retention policy decide that); forgetting the formation is all it does.
 *
 * Serializable: the provider captures no clients or secrets; modules are required
 * inside methods, and the kubeconfig arrives as an input on each call.
 */
import * as pulumi from "@pulumi/pulumi";
import { formationProviderVersion } from "./codeVersion";
import { LiveOutputs, PodClusterInputs, ShardOutput, formInPods, readInPods } from "./podCluster";
import { previewPlan } from "./preview";
import * as shape from "../shape";

export type { MemberOutput, ShardOutput } from "./podCluster";
export { formationSeeds, podsPending } from "./podCluster";

/** Resolved inputs as the provider receives them. */
export interface FormationInputs extends PodClusterInputs {
    /** A hash of the providers' code (codeVersion.ts): new code is an update. */
    readonly providerVersion: string;
}

export interface FormationOutputs extends FormationInputs, LiveOutputs {}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Every problem with the inputs, each naming the field and what is allowed. Pure. */
export function checkFormationInputs(news: Partial<FormationInputs>): pulumi.dynamic.CheckFailure[] {
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
        fail("providerVersion", "providerVersion: required (formationProviderVersion(), a hash of the provider's code)");
    if (news.port !== undefined && (!isInt(news.port) || news.port < 1 || news.port > 65535))
        fail("port", `port: expected 1-65535, got ${JSON.stringify(news.port)}`);
    if (news.timeoutMs !== undefined && (!isInt(news.timeoutMs) || news.timeoutMs < 1000))
        fail("timeoutMs", `timeoutMs: expected an integer >= 1000, got ${JSON.stringify(news.timeoutMs)}`);
    if (news.surgeReplica !== undefined && known("surgeReplica") && typeof news.surgeReplica !== "boolean")
        fail("surgeReplica", `surgeReplica: expected true, false or nothing (false), got ${JSON.stringify(news.surgeReplica)}`);
    return failures;
}

/**
 * Shape changes are in-place updates; a different target is a new formation. Drift that the last
 * refresh found and an update can converge (its recorded `converge` plan) is an update too, so
 * `pulumi refresh` shows it and the next `pulumi up` runs it. Pure.
 */
export function diffFormation(olds: Partial<FormationOutputs>, news: Partial<FormationInputs>): pulumi.dynamic.DiffResult {
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
    const changed = [...replaces, ...updateKeys.filter((k) => olds[k] !== news[k]), ...(surgeChanged(olds, news) ? ["surgeReplica"] : [])];
    const drifted = Array.isArray(olds.converge) && olds.converge.length > 0;
    return { changes: changed.length > 0 || drifted, replaces, deleteBeforeReplace: false };
}

/** Whether the surge pod comes or goes; absent is false, so a stack from before the surge sees no change. Pure. */
export function surgeChanged(olds: Pick<PodClusterInputs, "surgeReplica">, news: Pick<PodClusterInputs, "surgeReplica">): boolean {
    return (olds.surgeReplica ?? false) !== (news.surgeReplica ?? false);
}

/** `<namespace>/<statefulSet>?container=…&headless=…&port=…`: everything but the kubeconfig a read needs. Pure. */
export function formationId(
    inputs: Pick<FormationInputs, "namespace" | "statefulSetName" | "containerName" | "headlessServiceName" | "port">,
): string {
    const query = new URLSearchParams({ container: inputs.containerName });
    if (inputs.headlessServiceName) query.set("headless", inputs.headlessServiceName);
    if (inputs.port !== undefined) query.set("port", String(inputs.port));
    return `${inputs.namespace}/${inputs.statefulSetName}?${query.toString()}`;
}

/** The fields of an id (also the older `<namespace>/<statefulSet>`); a malformed id is an error saying the format. Pure. */
export function parseFormationId(id: string): Partial<FormationInputs> & Pick<FormationInputs, "namespace" | "statefulSetName"> {
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\?(.*))?$/.exec(id);
    if (!m)
        throw new Error(
            `id: expected <namespace>/<statefulSet>[?container=<name>&headless=<service>&port=<port>], got ${JSON.stringify(id)}`,
        );
    const query = new URLSearchParams(m[6] ?? "");
    const port = query.get("port");
    return {
        namespace: m[1],
        statefulSetName: m[3],
        ...(query.get("container") ? { containerName: query.get("container")! } : {}),
        ...(query.get("headless") ? { headlessServiceName: query.get("headless")! } : {}),
        ...(port ? { port: Number(port) } : {}),
    };
}

/**
 * What a read works with: the id's fields, then the recorded state or the props a `get` passes (the
 * kubeconfig, which an id must never carry, comes only from there). Without a shape the live cluster's
 * is taken. Pure.
 */
export function readInputs(id: string, props: Partial<FormationOutputs>): FormationInputs {
    const fromId = parseFormationId(id);
    const given = Object.fromEntries(Object.entries(props).filter(([, v]) => v !== undefined && v !== null));
    const merged = { containerName: "redis", ...fromId, ...given } as Partial<FormationOutputs>;
    if (typeof merged.kubeconfig !== "string" || merged.kubeconfig.trim() === "") {
        throw new Error(
            `read ${id}: no kubeconfig; RedisClusterFormation.get(name, id, { kubeconfig }) passes it (an id never carries it, as it is a secret)`,
        );
    }
    return { providerVersion: formationProviderVersion(), ...merged } as FormationInputs;
}

/** Where the providers' lines go: `pulumi preview` and `up` show them (the engine, else the plugin's stdout). */
function log(line: string): void {
    void pulumi.log.info(`redis formation: ${line}`);
}

/** The dynamic provider. A plain object of functions: Pulumi serializes it with its captured module functions. */
export const formationProvider: pulumi.dynamic.ResourceProvider<FormationInputs, FormationOutputs> = {
    async check(_olds, news) {
        const failures = checkFormationInputs(news);
        return failures.length ? { failures } : { inputs: news };
    },
    async diff(_id, olds, news) {
        const result = diffFormation(olds, news);
        // Runs at `pulumi preview` (and before an update): the plan from the recorded state, nothing sent.
        const plan = result.changes && !result.replaces?.length ? previewPlan(olds, news) : [];
        if (plan.length) for (const line of ["the update would run this plan (from the last recorded state):", ...plan]) log(line);
        return result;
    },
    async create(inputs) {
        const outs = await formInPods(inputs, log);
        return { id: formationId(inputs), outs: { ...inputs, ...outs } };
    },
    async update(_id, _olds, news) {
        return { outs: { ...news, ...(await formInPods(news, log)) } };
    },
    async read(id, props) {
        const inputs = readInputs(id, props ?? {});
        const outs = await readInPods(inputs);
        for (const d of outs.drift) log(`drift: ${d.message}`);
        return { id: formationId(inputs), props: { ...inputs, ...outs } };
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
    /** Masters, at least 3; growing it scales out, shrinking it scales in (the drain resource empties the pods that go first). */
    readonly masters: pulumi.Input<number>;
    readonly replicasPerMaster: pulumi.Input<number>;
    /** Headless Service name: seeds become stable pod DNS names. */
    readonly headlessServiceName?: pulumi.Input<string>;
    readonly port?: pulumi.Input<number>;
    /** Upper bound for waiting on pods and on each formation step, ms (default FORMATION_DEFAULTS.providerTimeoutMs). */
    readonly timeoutMs?: pulumi.Input<number>;
    /** The StatefulSet runs the surge pod (shape.ts surgeOrdinal): the formation leaves it out (default false). */
    readonly surgeReplica?: pulumi.Input<boolean>;
    /** Defaults to formationProviderVersion(), a hash of the provider's code: changed code makes existing stacks run it. */
    readonly providerVersion?: pulumi.Input<string>;
}

/** What `RedisClusterFormation.get` needs besides the id: the kubeconfig (secret), and the shape if known. */
export interface RedisClusterFormationGetArgs {
    readonly kubeconfig: pulumi.Input<string>;
    /** The requested shape drift is judged by; without it the live cluster's own. */
    readonly masters?: pulumi.Input<number>;
    readonly replicasPerMaster?: pulumi.Input<number>;
    /** Whether the StatefulSet runs the surge pod, whose node the read leaves out (default false). */
    readonly surgeReplica?: pulumi.Input<boolean>;
}

/** The formed Redis Cluster of a StatefulSet. */
export class RedisClusterFormation extends pulumi.dynamic.Resource {
    /** host:port seeds for clients (pod DNS names with a headless Service). */
    declare public readonly seeds: pulumi.Output<string[]>;
    /** master -> replicas, with pod, node id, k8s node and zone of each, as the nodes say now. */
    declare public readonly shards: pulumi.Output<ShardOutput[]>;
    /** False when some replica shares a k8s node (or zone) with its master; see placementWarnings. */
    declare public readonly placementOk: pulumi.Output<boolean>;
    declare public readonly placementWarnings: pulumi.Output<string[]>;
    declare public readonly clusterState: pulumi.Output<string>;
    /** What differs from the requested shape or a healthy cluster, as of the last update or refresh. */
    declare public readonly drift: pulumi.Output<LiveOutputs["drift"]>;
    /** The plan the next update would run to converge that drift (empty: nothing to do). */
    declare public readonly converge: pulumi.Output<string[]>;

    constructor(name: string, args: RedisClusterFormationArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            formationProvider,
            name,
            {
                ...args,
                providerVersion: args.providerVersion ?? formationProviderVersion(),
                seeds: undefined,
                shards: undefined,
                placementOk: undefined,
                placementWarnings: undefined,
                clusterState: undefined,
                drift: undefined,
                converge: undefined,
            },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["kubeconfig"] }),
            "redis-cluster-gke",
            "RedisClusterFormation",
        );
    }

    /**
     * Reads an existing cluster by id (`formationId`: namespace, StatefulSet, container, headless Service
     * and port) without managing it: the engine calls the provider's read with these props, which carry
     * the kubeconfig. (`pulumi import` cannot reach a dynamic provider's read: the engine sends it no
     * props, so it cannot even load the provider; see README, "Refresh, drift and adoption".)
     */
    static get(
        name: string,
        id: pulumi.Input<pulumi.ID>,
        args: RedisClusterFormationGetArgs,
        opts?: pulumi.CustomResourceOptions,
    ): RedisClusterFormation {
        return new RedisClusterFormation(name, args as RedisClusterFormationArgs, { ...opts, id });
    }
}
