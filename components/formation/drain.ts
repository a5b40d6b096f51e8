/**
 * RedisScaleInDrain: the step every Redis StatefulSet update waits for. When `redis:masters` or
 * `redis:replicasPerMaster` shrinks, the StatefulSet deletes its highest pods, which may hold masters,
 * slots and the only replica of a shard. This resource is registered before the StatefulSet, which
 * depends on it, so Pulumi runs its update first: it drains the pods about to go (scaleIn.ts: slots
 * with their keys to the masters that stay, handovers, re-pairing; refused when unsafe, nothing
 * changed). The StatefulSet then removes them, and the formation, which runs after the StatefulSet,
 * makes every node forget them.
 *
 * Which pods leave is read from the live StatefulSet (ordinals beyond the new shape), not from the
 * previous inputs, so a drain also happens when this resource is created in the update that shrinks.
 *
 * Serializable like every dynamic provider: modules required inside methods, nothing captured.
 */
import * as pulumi from "@pulumi/pulumi";
import { formationProviderVersion } from "./codeVersion";
import { PodClusterInputs, drainInPods } from "./podCluster";
import { checkFormationInputs, surgeChanged } from "./provider";

/** Inputs of the drain: where the pods are and the shape they shrink to. */
export interface DrainInputs extends Omit<PodClusterInputs, "headlessServiceName"> {
    /** A hash of the providers' code (codeVersion.ts): new code is an update. */
    readonly providerVersion: string;
}

export interface DrainOutputs extends DrainInputs {
    /** The pods the last update drained (none when nothing left). */
    readonly drained: string[];
}

/** Any change of the shape, target or code runs the drain (which does nothing unless pods leave). Pure. */
export function diffDrain(olds: Partial<DrainInputs>, news: Partial<DrainInputs>): pulumi.dynamic.DiffResult {
    const keys = [
        "masters",
        "replicasPerMaster",
        "providerVersion",
        "kubeconfig",
        "namespace",
        "statefulSetName",
        "containerName",
        "port",
        "timeoutMs",
    ] as const;
    return { changes: keys.some((k) => olds[k] !== news[k]) || surgeChanged(olds, news), replaces: [], deleteBeforeReplace: false };
}

function log(line: string): void {
    void pulumi.log.info(`redis scale-in: ${line}`);
}

/** Drains on create and update alike; never deletes anything. */
export const drainProvider: pulumi.dynamic.ResourceProvider<DrainInputs, DrainOutputs> = {
    async check(_olds, news) {
        const failures = checkFormationInputs(news);
        return failures.length ? { failures } : { inputs: news };
    },
    async diff(_id, olds, news) {
        return diffDrain(olds, news);
    },
    async create(inputs) {
        return { id: `${inputs.namespace}/${inputs.statefulSetName}`, outs: { ...inputs, drained: await drainInPods(inputs, log) } };
    },
    async update(_id, olds, news) {
        // The previous shape tells whether the pod at the new surge ordinal was a member (3x2 -> 4x1).
        return { outs: { ...news, drained: await drainInPods(news, log, olds) } };
    },
    async delete() {
        // Nothing: the drain holds no state outside Pulumi's.
    },
};

export interface RedisScaleInDrainArgs {
    /** kubeconfig (YAML) used to exec into the pods; kept secret in state. */
    readonly kubeconfig: pulumi.Input<string>;
    /** The namespace and StatefulSet as plain values: the drain runs before the StatefulSet changes. */
    readonly namespace: pulumi.Input<string>;
    readonly statefulSetName: pulumi.Input<string>;
    readonly containerName: pulumi.Input<string>;
    /** `redis:masters` and `redis:replicasPerMaster` as validated stack config. */
    readonly masters: pulumi.Input<number>;
    readonly replicasPerMaster: pulumi.Input<number>;
    /** The StatefulSet keeps the surge pod (shape.ts surgeOrdinal) beyond the shape: it is drained out of the cluster, never removed. */
    readonly surgeReplica?: pulumi.Input<boolean>;
    readonly port?: pulumi.Input<number>;
    readonly timeoutMs?: pulumi.Input<number>;
}

/** Make the Redis StatefulSet depend on this resource: its update then drains the pods a scale-in removes first. */
export class RedisScaleInDrain extends pulumi.dynamic.Resource {
    declare public readonly drained: pulumi.Output<string[]>;

    constructor(name: string, args: RedisScaleInDrainArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            drainProvider,
            name,
            { ...args, providerVersion: formationProviderVersion(), drained: undefined },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["kubeconfig"] }),
            "redis-cluster-gke",
            "RedisScaleInDrain",
        );
    }
}
