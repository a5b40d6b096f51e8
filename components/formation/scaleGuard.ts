/**
 * RedisScaleGuard: refuses scale-in BEFORE the StatefulSet shrinks.
 *
 * The formation resource runs after the StatefulSet (it needs the pods), so its own check
 * comes too late for a smaller `redis:masters` or `redis:replicasPerMaster`: by then the
 * StatefulSet would already have deleted its highest pods, which may hold masters and
 * their slots. This resource holds the shape, is registered before the Redis objects
 * (their Namespace depends on it), and its check compares the new shape with the last
 * applied one, so `pulumi preview`/`up` fail before anything changes.
 *
 * Serializable like every dynamic provider: pure functions only, nothing captured.
 */
import * as pulumi from "@pulumi/pulumi";

/** The shape the StatefulSet is sized from. */
export interface ScaleShape {
    readonly masters: number;
    readonly replicasPerMaster: number;
}

/** Scale-in problems between the applied shape and the new one, each naming the field. Pure. */
export function scaleInFailures(olds: Partial<ScaleShape> | undefined, news: Partial<ScaleShape>): pulumi.dynamic.CheckFailure[] {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
    if (!olds) return failures;
    if (isInt(olds.masters) && isInt(news.masters) && news.masters < olds.masters) {
        failures.push({
            property: "masters",
            reason: `masters: scaling in from ${olds.masters} to ${news.masters} masters is not supported (slots would have to be drained and nodes removed by hand); keep masters at ${olds.masters} or more`,
        });
    }
    // Fewer replicas shrinks the StatefulSet too, and the pods it deletes (the highest ordinals) may be masters.
    if (isInt(olds.replicasPerMaster) && isInt(news.replicasPerMaster) && news.replicasPerMaster < olds.replicasPerMaster) {
        failures.push({
            property: "replicasPerMaster",
            reason: `replicasPerMaster: reducing replicas from ${olds.replicasPerMaster} to ${news.replicasPerMaster} per master is not supported (the StatefulSet would delete pods that may be masters); keep replicasPerMaster at ${olds.replicasPerMaster} or more`,
        });
    }
    return failures;
}

/** Holds the shape; touches nothing outside Pulumi's state. */
export const scaleGuardProvider: pulumi.dynamic.ResourceProvider<ScaleShape, ScaleShape> = {
    async check(olds, news) {
        const failures = scaleInFailures(olds, news);
        return failures.length ? { failures } : { inputs: news };
    },
    async diff(_id, olds, news) {
        return {
            changes: olds.masters !== news.masters || olds.replicasPerMaster !== news.replicasPerMaster,
            replaces: [],
            deleteBeforeReplace: false,
        };
    },
    async create(inputs) {
        return { id: "redis-scale-guard", outs: inputs };
    },
    async update(_id, olds, news) {
        const failures = scaleInFailures(olds, news);
        if (failures.length) throw new Error(failures.map((f) => f.reason).join("; "));
        return { outs: news };
    },
};

export interface RedisScaleGuardArgs {
    /** `redis:masters` as validated stack config. */
    readonly masters: pulumi.Input<number>;
    readonly replicasPerMaster: pulumi.Input<number>;
}

/** Make the Redis objects depend on this resource so a refused scale-in stops them from changing. */
export class RedisScaleGuard extends pulumi.dynamic.Resource {
    declare public readonly masters: pulumi.Output<number>;
    declare public readonly replicasPerMaster: pulumi.Output<number>;

    constructor(name: string, args: RedisScaleGuardArgs, opts?: pulumi.CustomResourceOptions) {
        super(scaleGuardProvider, name, { ...args }, opts, "redis-cluster-gke", "RedisScaleGuard");
    }
}
